"""Serving a dataset under every pagination scheme the client supports.

Routes (``{name}`` is a dataset registered with :meth:`Datasets.set`)::

    GET  {prefix}/{name}/page?page=1&per_page=10      body: data, page, per_page,
                                                         total, total_pages, next_page
    GET  {prefix}/{name}/offset?offset=0&limit=10     body: data, offset, limit, total,
                                                         has_more, next_offset
    GET  {prefix}/{name}/cursor?cursor=&limit=10      body: data, next_cursor, has_more
    GET  {prefix}/{name}/link?page=1&per_page=10      body: the records (a JSON list);
                                                         Link: <...>; rel="next", rel="last"
    GET  {prefix}/{name}/next-url?Page=0&PageSize=10  body: data, page, page_size,
                                                         next_page_uri (relative, Twilio)
    POST {prefix}/{name}/graphql                      variables {first, after} ->
         data.items {nodes, pageInfo {hasNextPage, endCursor}}

With ``repeat_cursor`` switched on, a request that carried a token gets that
same token back as the next one: the bug real providers have, which a
paginator must turn into an error rather than an endless loop.
The helpers are public so a provider sandbox can serve its own shapes.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from aiohttp import web

__all__ = ["Datasets", "decode_cursor", "encode_cursor", "install"]

Record = dict[str, Any]


def encode_cursor(offset: int) -> str:
    """An opaque cursor for ``offset`` (base64url of ``"o:<offset>"``)."""
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The offset inside ``cursor``; raises ValueError if it is not one of ours."""
    padded = cursor + "=" * (-len(cursor) % 4)
    try:
        text = base64.urlsafe_b64decode(padded.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        raise ValueError(f"invalid cursor {cursor!r}") from None
    if not text.startswith("o:") or not text[2:].isdigit():
        raise ValueError(f"invalid cursor {cursor!r}")
    return int(text[2:])


def http_error(
    cls: type[web.HTTPBadRequest] | type[web.HTTPNotFound], kind: str, message: str
) -> web.HTTPException:
    """A demo-provider error (raise it): ``{"error": {"type", "message"}}`` as JSON."""
    body = orjson.dumps({"error": {"type": kind, "message": message}}).decode()
    return cls(text=body, content_type="application/json")


class Datasets:
    """Named record lists plus the ``repeat_cursor`` switch (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: dict[str, list[Record]] = {}
        self.repeat_cursor = False

    def set(self, name: str, records: Sequence[Record]) -> None:
        with self._lock:
            self._data[name] = list(records)

    def get(self, name: str) -> list[Record]:
        with self._lock:
            if name not in self._data:
                raise http_error(web.HTTPNotFound, "not_found", f"no dataset {name!r}")
            return self._data[name]


def _int(request: web.Request, name: str, default: int, minimum: int = 0) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise http_error(
            web.HTTPBadRequest, "invalid_request", f"{name} must be an integer"
        ) from None
    if value < minimum:
        raise http_error(web.HTTPBadRequest, "invalid_request", f"{name} must be >= {minimum}")
    return value


def _json(data: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(data), content_type="application/json", headers=headers)


def install(router: web.UrlDispatcher, datasets: Datasets, prefix: str = "/datasets") -> None:
    def records(request: web.Request) -> list[Record]:
        return datasets.get(request.match_info["name"])

    async def page_number(request: web.Request) -> web.Response:
        data = records(request)
        page = _int(request, "page", 1, 1)
        per_page = _int(request, "per_page", 10, 1)
        total_pages = max(1, -(-len(data) // per_page))
        start = (page - 1) * per_page
        next_page: int | None = page + 1 if page < total_pages else None
        if datasets.repeat_cursor and "page" in request.query:
            next_page = page
        return _json(
            {
                "data": data[start : start + per_page],
                "page": page,
                "per_page": per_page,
                "total": len(data),
                "total_pages": total_pages,
                "next_page": next_page,
            }
        )

    async def offset_limit(request: web.Request) -> web.Response:
        data = records(request)
        offset = _int(request, "offset", 0)
        limit = _int(request, "limit", 10, 1)
        chunk = data[offset : offset + limit]
        has_more = offset + len(chunk) < len(data)
        next_offset: int | None = offset + len(chunk) if has_more else None
        if datasets.repeat_cursor and "offset" in request.query:
            next_offset = offset
        return _json(
            {
                "data": chunk,
                "offset": offset,
                "limit": limit,
                "total": len(data),
                "has_more": has_more,
                "next_offset": next_offset,
            }
        )

    async def cursor(request: web.Request) -> web.Response:
        data = records(request)
        token = request.query.get("cursor") or None
        try:
            offset = decode_cursor(token) if token else 0
        except ValueError as exc:
            raise http_error(web.HTTPBadRequest, "invalid_request", str(exc)) from None
        limit = _int(request, "limit", 10, 1)
        chunk = data[offset : offset + limit]
        has_more = offset + len(chunk) < len(data)
        next_cursor = encode_cursor(offset + len(chunk)) if has_more else None
        if datasets.repeat_cursor and token:
            next_cursor = token
        return _json({"data": chunk, "next_cursor": next_cursor, "has_more": has_more})

    async def link(request: web.Request) -> web.Response:
        data = records(request)
        page = _int(request, "page", 1, 1)
        per_page = _int(request, "per_page", 10, 1)
        last = max(1, -(-len(data) // per_page))
        start = (page - 1) * per_page
        links = []

        def url(p: int) -> str:
            return str(request.url.update_query(page=p, per_page=per_page))

        if datasets.repeat_cursor and "page" in request.query:
            links.append(f'<{request.url}>; rel="next"')
        elif page < last:
            links.append(f'<{url(page + 1)}>; rel="next"')
        links.append(f'<{url(last)}>; rel="last"')
        if page > 1:
            links.insert(0, f'<{url(1)}>; rel="first"')
        return _json(data[start : start + per_page], headers={"Link": ", ".join(links)})

    async def next_url(request: web.Request) -> web.Response:
        data = records(request)
        page = _int(request, "Page", 0)
        size = _int(request, "PageSize", 50, 1)
        start = page * size
        chunk = data[start : start + size]
        next_uri: str | None = None
        if datasets.repeat_cursor and "Page" in request.query:
            next_uri = str(request.rel_url)
        elif start + len(chunk) < len(data):
            token = encode_cursor(start + len(chunk))
            next_uri = str(
                request.rel_url.with_query({"Page": page + 1, "PageSize": size, "PageToken": token})
            )
        return _json({"data": chunk, "page": page, "page_size": size, "next_page_uri": next_uri})

    async def graphql(request: web.Request) -> web.Response:
        data = records(request)
        try:
            body = orjson.loads(await request.read())
            variables = body.get("variables") or {}
            first = int(variables.get("first", 10))
            after = variables.get("after")
            offset = decode_cursor(after) if after else 0
        except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError) as exc:
            return _json({"errors": [{"message": f"bad request: {exc}"}]})
        chunk = data[offset : offset + first]
        has_next = offset + len(chunk) < len(data)
        end_cursor = encode_cursor(offset + len(chunk)) if chunk else after
        if datasets.repeat_cursor and after:
            end_cursor, has_next = after, True
        return _json(
            {
                "data": {
                    "items": {
                        "nodes": chunk,
                        "pageInfo": {"hasNextPage": has_next, "endCursor": end_cursor},
                    }
                }
            }
        )

    handlers: dict[str, Callable[[web.Request], Any]] = {
        "page": page_number,
        "offset": offset_limit,
        "cursor": cursor,
        "link": link,
        "next-url": next_url,
    }
    for suffix, handler in handlers.items():
        router.add_get(f"{prefix}/{{name}}/{suffix}", handler)
    router.add_post(f"{prefix}/{{name}}/graphql", graphql)
