"""How the GitHub sandbox serves its lists: pages, ``Link`` headers, ETags.

GitHub pages its REST lists with ``?page=N&per_page=M`` (default 30,
capped at 100) and announces the neighbours in a ``Link`` header of
absolute URLs (``rel="prev"``, ``"next"``, ``"last"``, ``"first"``) that
keep the request's other parameters. Every list answer carries a strong
``ETag`` computed from its content; a request whose ``If-None-Match`` names
it gets ``304 Not Modified`` with no body -- which GitHub does not charge
to the rate limit (:class:`FreeNotModifiedBucket`).

With ``repeat`` on (the sandbox's ``repeat_cursor`` switch), a request that
asked for a page gets its own URL back as ``rel="next"``: the provider bug
a paginator must stop on rather than loop.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from core.testing import ServerTokenBucket

__all__ = ["FreeNotModifiedBucket", "iso", "list_response", "parse_since"]

DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100


def iso(moment: datetime) -> str:
    """GitHub's time format: ``2011-04-22T13:33:48Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_since(raw: str) -> datetime | None:
    """An ISO 8601 time (``Z`` or an offset; naive = UTC), or None if unreadable."""
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _positive(query: Mapping[str, str], name: str, default: int) -> int:
    try:
        value = int(query.get(name, default))
    except ValueError:
        return default  # GitHub ignores a value it cannot read
    return value if value >= 1 else default


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:40] + '"'


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


def list_response(
    request: web.Request,
    items: Sequence[Any],
    *,
    repeat: bool = False,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """One page of ``items`` as GitHub serves it (see the module docstring)."""
    page = _positive(request.query, "page", 1)
    per_page = min(MAX_PER_PAGE, _positive(request.query, "per_page", DEFAULT_PER_PAGE))
    last = max(1, math.ceil(len(items) / per_page))
    body = orjson.dumps(list(items[(page - 1) * per_page : page * per_page]))

    def url(n: int) -> str:
        return str(request.url.update_query(page=n))

    links = []
    if page > 1:
        links.append(f'<{url(min(page - 1, last))}>; rel="prev"')
    if repeat and "page" in request.query:
        links.append(f'<{request.url}>; rel="next"')
    elif page < last:
        links.append(f'<{url(page + 1)}>; rel="next"')
    if last > 1:
        links += [f'<{url(last)}>; rel="last"', f'<{url(1)}>; rel="first"']
    etag = _etag(body)
    out = {"ETag": etag, **(headers or {})}
    if links:
        out["Link"] = ", ".join(links)
    if _matches(request.headers.get("If-None-Match"), etag):
        return web.Response(status=304, headers=out)
    return web.Response(body=body, content_type="application/json", headers=out)


class FreeNotModifiedBucket(ServerTokenBucket):
    """The enforced rate as GitHub counts it: a ``304`` answer to a
    conditional request is given its token back (``allowed`` counts only
    the requests charged; ``not_modified`` the free ones)."""

    not_modified = 0

    def refund(self) -> dict[str, str]:
        """Return a 304's token; the rate headers as they now stand."""
        with self._lock:
            self._tokens = min(self.capacity, self._tokens + 1)
            self.allowed -= 1
            self.not_modified += 1
            tokens = self._tokens
        return self._headers(tokens) if self.announce else {}
