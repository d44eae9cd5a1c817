"""The Stripe sandbox's event log and its ``GET /v1/events`` list.

Stripe's list endpoints answer newest first. ``starting_after=X`` gives the
``limit`` objects just *older* than X (the next page of the list);
``ending_before=X`` gives the ``limit`` objects just *newer* than X -- the
ones closest to X, still newest first -- with ``has_more`` when even newer
ones exist. ``created[gte|gt|lte|lt]`` (or ``created=<epoch>``) narrow the
list; an unknown cursor id is 400 ``resource_missing``; ``limit`` is 1..100,
default 10. ``type``/``types[]`` filters are not served.

The log keeps events in creation order with an id -> position index and the
creation times beside them, so a page costs a bisect plus ``limit`` items
whatever the log's size (a benchmark seeds 100,000 events). ``created``
must therefore never go back in time: :meth:`EventLog.add` refuses an
explicit ``created`` older than the newest event's.

``repeat=True`` reproduces a provider bug: a request with a cursor gets the
page that handed that cursor out again, ``has_more`` true, so the client
computes the same cursor a second time (a paginator must stop, not loop).
"""

from __future__ import annotations

import itertools
import threading
import time
from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web

from connectors._sandbox import json_response
from core.testing.signing import sign_stripe

__all__ = ["API_VERSION", "EventLog", "ListError", "StripeEvents"]

#: the API version the sandbox's events are rendered in
API_VERSION = "2024-06-20"
MAX_LIMIT = 100
DEFAULT_LIMIT = 10
_CREATED = {"created[gte]", "created[gt]", "created[lte]", "created[lt]", "created"}


class ListError(Exception):
    """A list request Stripe refuses (400 ``invalid_request_error``)."""

    def __init__(self, message: str, param: str, code: str = "parameter_invalid") -> None:
        super().__init__(message)
        self.param, self.code = param, code


def _integer(query: Mapping[str, str], name: str) -> int | None:
    raw = query.get(name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise ListError(f"Invalid integer: {raw}", name, "parameter_invalid_integer") from None


class EventLog:
    """Stripe event objects in creation order (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[dict[str, Any]] = []
        self._created: list[int] = []
        self._index: dict[str, int] = {}
        self._ids = itertools.count(1)

    def number_from(self, first: int) -> None:
        """Number the next event ids from ``first`` (ids unique across runs
        that share topics: dedup remembers ids for days)."""
        with self._lock:
            self._ids = itertools.count(first)

    def _append(self, event_type: str, obj: dict[str, Any], created: int | None) -> dict[str, Any]:
        newest = self._created[-1] if self._created else 0
        if created is None:
            created = max(int(time.time()), newest)
        elif created < newest:
            raise ValueError(
                f"created={created} is before the newest event's ({newest}): "
                "events are kept in creation order"
            )
        event: dict[str, Any] = {
            "id": f"evt_{next(self._ids):014d}",
            "object": "event",
            "api_version": API_VERSION,
            "created": created,
            "data": {"object": obj},
            "livemode": False,
            "pending_webhooks": 0,
            "request": {"id": None, "idempotency_key": None},
            "type": event_type,
        }
        self._index[event["id"]] = len(self._events)
        self._events.append(event)
        self._created.append(created)
        return event

    def add(
        self,
        event_type: str,
        obj: Mapping[str, Any],
        *,
        created: int | None = None,
        request: Mapping[str, str | None] | None = None,
        previous: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Record an event about a snapshot of ``obj`` (copied: later changes
        to the object do not show in the event); returns the event."""
        snapshot = orjson.loads(orjson.dumps(obj))
        with self._lock:
            event = self._append(event_type, snapshot, created)
            if request is not None:
                event["request"] = dict(request)
            if previous:
                event["data"]["previous_attributes"] = orjson.loads(orjson.dumps(previous))
            return event

    def add_many(
        self, n: int, event_type: str, *, created: int | None = None
    ) -> list[dict[str, Any]]:
        """``n`` events about fresh charge-like objects, quickly."""
        kind = event_type.rsplit(".", 1)[0]
        prefix = {"charge": "ch_", "customer": "cus_", "payment_intent": "pi_"}.get(kind, "obj_")
        with self._lock:
            start = len(self._events)
            out = []
            for i in range(start, start + n):
                obj = {"id": f"{prefix}bulk{i:010d}", "object": kind, "amount": 1000 + i % 997}
                out.append(self._append(event_type, obj, created))
            return out

    def all(self) -> list[dict[str, Any]]:
        """Every event, oldest first."""
        with self._lock:
            return list(self._events)

    def clear(self) -> None:
        with self._lock:
            self._events.clear()
            self._created.clear()
            self._index.clear()

    def page(self, query: Mapping[str, str], *, repeat: bool = False) -> dict[str, Any]:
        """The answer to ``GET /v1/events?<query>``; raises :class:`ListError`."""
        limit = _integer(query, "limit")
        limit = DEFAULT_LIMIT if limit is None else limit
        if not 1 <= limit <= MAX_LIMIT:
            relation = "greater than or equal to 1" if limit < 1 else "less than or equal to 100"
            raise ListError(f"This value must be {relation}.", "limit", "parameter_invalid_integer")
        after, before = query.get("starting_after"), query.get("ending_before")
        if after and before:
            raise ListError(
                "You may only specify one of these parameters: ending_before, starting_after.",
                "ending_before",
            )
        bounds = {name: _integer(query, name) for name in _CREATED & set(query)}
        with self._lock:
            lo, hi = self._range(bounds)
            cursor = after or before
            at = self._index.get(cursor) if cursor else None
            if cursor and at is None:
                param = "starting_after" if after else "ending_before"
                raise ListError(f"No such event: '{cursor}'", param, "resource_missing")
            if at is None:  # the newest first
                top = hi
                bottom, more = max(lo, top - limit), top - limit > lo
            elif after:  # older than the cursor
                top = min(hi, at) if not repeat else min(hi, at + limit)
                bottom = max(lo, top - limit) if not repeat else at
                more = repeat or bottom > lo
            else:  # newer than the cursor, the closest ones
                bottom = max(lo, at + 1) if not repeat else max(lo, at - limit + 1)
                top = min(hi, bottom + limit) if not repeat else at + 1
                more = repeat or top < hi
            data = self._events[bottom:top][::-1] if top > bottom else []
        return {"object": "list", "data": data, "has_more": more, "url": "/v1/events"}

    def _range(self, bounds: Mapping[str, int | None]) -> tuple[int, int]:
        lo, hi = 0, len(self._events)
        created = self._created
        for name, value in bounds.items():
            if value is None:
                continue
            if name in ("created[gte]", "created"):
                lo = max(lo, bisect_left(created, value))
            if name == "created[gt]":
                lo = max(lo, bisect_right(created, value))
            if name in ("created[lte]", "created"):
                hi = min(hi, bisect_right(created, value))
            if name == "created[lt]":
                hi = min(hi, bisect_left(created, value))
        return lo, hi


Pending = list[tuple[str, dict[str, Any], dict[str, Any] | None]]


class StripeEvents:
    """The events half of the Stripe sandbox (a mixin; the sandbox sets
    ``event_log``, ``repeat_cursor`` and ``_pending`` in its ``__init__``)."""

    event_log: EventLog
    #: a list request with a cursor gets the page that handed it out again
    repeat_cursor: bool
    _pending: Pending

    def add_event(
        self, event_type: str, obj: dict[str, Any], created: int | None = None
    ) -> dict[str, Any]:
        """Record a Stripe event about ``obj`` (a snapshot); ``created`` (epoch
        seconds) defaults to now and may not be older than the newest event."""
        return self.event_log.add(event_type, obj, created=created)

    def add_events(
        self, n: int, type: str = "charge.succeeded", *, created: int | None = None
    ) -> list[dict[str, Any]]:
        """``n`` events about fresh objects, oldest first, in O(n)."""
        return self.event_log.add_many(n, type, created=created)

    def events(self) -> list[dict[str, Any]]:
        """Every event recorded so far, oldest first."""
        return self.event_log.all()

    @staticmethod
    def event_webhook(event: dict[str, Any], secret: str) -> tuple[bytes, dict[str, str]]:
        """The body and headers (a valid ``Stripe-Signature``) with which
        Stripe would deliver ``event`` to an endpoint signed with ``secret``."""
        body = orjson.dumps(event)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            **sign_stripe(body, secret),
        }
        return body, headers

    def _emit(
        self, event_type: str, obj: dict[str, Any], before: dict[str, Any] | None = None
    ) -> None:
        """Queue the event of the call in progress (the caller holds the
        sandbox's lock); ``before``: the object before an update."""
        previous = None
        if before is not None:
            previous = {k: v for k, v in before.items() if obj.get(k) != v}
        self._pending.append((event_type, orjson.loads(orjson.dumps(obj)), previous))

    def _keep_events(self, call: Mapping[str, str | None]) -> None:
        """Record the events the call queued: it succeeded."""
        for event_type, snapshot, previous in self._pending:
            self.event_log.add(event_type, snapshot, request=call, previous=previous)
        self._pending.clear()

    async def list_events(self, request: web.Request) -> web.Response:
        """``GET /v1/events``."""
        try:
            page = self.event_log.page(request.query, repeat=self.repeat_cursor)
        except ListError as exc:
            error = {"type": "invalid_request_error", "message": str(exc)}
            error.update(code=exc.code, param=exc.param)
            return json_response({"error": error}, status=400)
        return json_response(page)
