"""The generic connector's sandbox: the core demo provider plus an incremental feed.

Everything of :class:`~core.testing.DemoSandbox` (``/echo``, ``/v1/things``,
``/datasets/{name}/{page,offset,cursor,link,next-url,graphql}``, OAuth),
and::

    GET /v1/events?since=<ISO 8601>&cursor=<c>&limit=<n>
        {"data": [...], "has_more": bool, "next_cursor": str | null}

The feed is what a declared incremental poll reads: records ``{"id",
"kind", "subject", "updated_at", "payload"}`` sorted by ``updated_at`` then
``id``, ``since`` inclusive, ``limit`` 1..100 (default 10), the cursor a
position (the last key of the page), so records added during a run do not
shift its pages. ``repeat_cursor`` (the demo switch) makes it hand back the
cursor a page was fetched with, as the datasets do.

Test API: ``add_events(count, start=, step_s=, kind=)`` adds records and
returns them; ``events`` lists them in insertion order.
"""

from __future__ import annotations

import base64
import binascii
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from aiohttp import web

from core.testing import DemoSandbox

__all__ = ["GenericSandbox"]


def _time(raw: str) -> datetime:
    moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _key(record: dict[str, Any]) -> tuple[datetime, str]:
    return _time(record["updated_at"]), record["id"]


def _bad(message: str) -> web.Response:
    return web.Response(
        body=orjson.dumps({"error": {"type": "invalid_request", "message": message}}),
        status=400,
        content_type="application/json",
    )


class GenericSandbox(DemoSandbox):
    """The demo provider with an ``events`` feed (see the module docstring)."""

    name = "generic"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.events: list[dict[str, Any]] = []
        self._events_lock = threading.Lock()

    def reset(self) -> None:
        super().reset()
        with self._events_lock:
            self.events.clear()

    def add_events(
        self,
        count: int,
        *,
        start: datetime,
        step_s: float = 60.0,
        kind: str = "thing.updated",
    ) -> list[dict[str, Any]]:
        """Add ``count`` records ``step_s`` apart from ``start``; returns them."""
        with self._events_lock:
            base = len(self.events)
            made = [
                {
                    "id": f"evt_{base + i + 1:06d}",
                    "kind": kind,
                    "subject": f"thing_{(base + i) % 7 + 1}",
                    "updated_at": _iso(start + timedelta(seconds=step_s * i)),
                    "payload": {"n": base + i + 1},
                }
                for i in range(count)
            ]
            self.events.extend(made)
        return made

    def routes(self, router: web.UrlDispatcher) -> None:
        super().routes(router)
        router.add_get("/v1/events", self._feed)

    async def _feed(self, request: web.Request) -> web.Response:
        query = request.query
        try:
            since = _time(query["since"]) if query.get("since") else None
        except ValueError:
            return _bad("since: not an ISO 8601 time")
        try:
            limit = int(query.get("limit", 10))
        except ValueError:
            return _bad("limit: not an integer")
        if not 1 <= limit <= 100:
            return _bad("limit: from 1 to 100")
        token = query.get("cursor") or None
        after: tuple[datetime, str] | None = None
        if token:
            try:
                stamp, last_id = orjson.loads(
                    base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
                )
                after = (_time(stamp), last_id)
            except (binascii.Error, ValueError, TypeError):
                return _bad("cursor: not one of ours")
        with self._events_lock:
            listed = sorted(self.events, key=_key)
        chosen = [
            r
            for r in listed
            if (since is None or _time(r["updated_at"]) >= since)
            and (after is None or _key(r) > after)
        ]
        page, more = chosen[:limit], len(chosen) > limit
        next_cursor = None
        if more:
            last = page[-1]
            raw = orjson.dumps([last["updated_at"], last["id"]])
            next_cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        if self.repeat_cursor and token:
            next_cursor, more = token, True
        return web.Response(
            body=orjson.dumps({"data": page, "has_more": more, "next_cursor": next_cursor}),
            content_type="application/json",
        )
