"""A local Slack Web API for the Slack commands and poll streams.

Routes (JSON or form bodies, ``Authorization: Bearer xoxb-...``)::

    POST /chat.postMessage            {"ok": true, "channel", "ts", "message"}
    POST /chat.update                 {"ok": true, "channel", "ts", "text"}
    GET  /conversations.history       {"ok": true, "messages", "has_more",
         ?channel&limit&oldest&latest  "response_metadata": {"next_cursor"}}
          &inclusive&cursor&include_all_metadata

Failures are HTTP 200 ``{"ok": false, "error": code}`` as at Slack:
``not_authed``/``invalid_auth``, ``unknown_method`` (no such route),
``channel_not_found``, ``no_text``, ``message_not_found``, ``invalid_json``,
``invalid_cursor``, ``invalid_limit``, ``invalid_ts_oldest``/``invalid_ts_latest``.
``ratelimit_channel(channel, n)`` makes the next ``n`` posts there answer
429 ``ratelimited`` with ``Retry-After: 1``. No idempotency key: side
effects are counted per command id.

History, as at Slack: one channel's messages newest first, ``oldest`` and
``latest`` exclusive unless ``inclusive`` is true, ``limit`` 1..999
(default 100), thread replies left out (except broadcasts). The cursor is
a position (the ``ts`` the next page starts below), so messages posted
during a run do not shift its pages; the sandbox always pages from the
newest message back. Messages posted with chat.postMessage appear there,
with the ``metadata`` they were posted with when ``include_all_metadata``
is true; a posted message's ``ts`` is the wall clock (``wall_clock``), and
``ts`` values only ever grow (at least one microsecond apart).

Test API: ``seed_messages(channel, count, ...)`` adds many messages at once
and returns them; ``history(channel)`` lists a channel's messages, newest
first; with ``repeat_cursor`` on (a switch: also ``PUT
/_sandbox/switches {"repeat_cursor": true}``) a page requested with a cursor
hands that same cursor back as ``next_cursor`` -- the provider bug a
paginator must stop on.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from connectors._sandbox import ProviderSandbox, json_response

__all__ = ["SlackSandbox"]

_USER = "U0SANDBOX"
_START_TS = Decimal("1700000000.000000")
_MICRO = Decimal("0.000001")
_CURSOR_PREFIX = "next_ts:"


def _text(ts: Decimal) -> str:
    return str(ts.quantize(_MICRO))


def _top_level(message: dict[str, Any]) -> bool:
    # conversations.history leaves thread replies out, except broadcasts.
    thread = message.get("thread_ts")
    return not thread or thread == message["ts"] or message.get("subtype") == "thread_broadcast"


def _encode_cursor(ts: Decimal) -> str:
    # Slack's history cursors are base64 of "next_ts:<digits>"; so are these.
    return base64.b64encode(f"{_CURSOR_PREFIX}{_text(ts)}".encode()).decode()


def _decode_cursor(cursor: str) -> Decimal | None:
    try:
        text = base64.b64decode(cursor.encode(), validate=True).decode()
        return (
            Decimal(text.removeprefix(_CURSOR_PREFIX)) if text.startswith(_CURSOR_PREFIX) else None
        )
    except (binascii.Error, UnicodeDecodeError, InvalidOperation):
        return None


def _bound(raw: str | None) -> Decimal | None:
    if raw is None or raw == "":
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _fail(code: str, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return json_response({"ok": False, "error": code}, status=status, headers=headers)


class SlackSandbox(ProviderSandbox):
    """Slack channels and messages in memory; ``channels`` lists the ones that exist.

    ``messages`` maps ``(channel, ts)`` to the message.
    """

    name = "slack"
    switches = frozenset({"latency", "record", "repeat_cursor"})

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-sandbox",  # noqa: S107
        channels: tuple[str, ...] = ("C0SANDBOX", "C0GENERAL"),
        wall_clock: Callable[[], float] = time.time,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.wall_clock = wall_clock
        self.bot_token = bot_token
        self.channels = set(channels)
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        #: a page requested with a cursor hands the same cursor back
        self.repeat_cursor = False
        self._ratelimited: dict[str, int] = {}
        self._last_ts = _START_TS

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.messages.clear()
            self._ratelimited.clear()
            self._last_ts = _START_TS
            self.repeat_cursor = False

    def seed_messages(
        self,
        channel: str,
        count: int,
        *,
        start: float | None = None,
        step_s: float = 1.0,
        text: str = "message {i}",
        subtype: str | None = None,
        **fields: Any,
    ) -> list[dict[str, Any]]:
        """Add ``count`` messages to ``channel`` (created if unknown), oldest
        first, ``step_s`` apart from ``start`` (Unix seconds; default: just
        after the newest message so far). ``text`` may use ``{i}`` (0-based);
        ``fields`` are added to every message. Returns them."""
        step = Decimal(str(step_s))
        if step <= 0:
            raise ValueError("step_s: must be > 0")
        with self.lock:
            self.channels.add(channel)
            at = self._last_ts + step if start is None else Decimal(str(start))
            made = []
            for i in range(count):
                ts = _text(at + step * i)
                message = {"type": "message", "ts": ts, "text": text.format(i=i), "user": _USER}
                if subtype is not None:
                    message["subtype"] = subtype
                message.update(fields)
                self.messages[(channel, ts)] = message
                self._last_ts = max(self._last_ts, Decimal(ts))
                made.append(message)
        return made

    def history(self, channel: str) -> list[dict[str, Any]]:
        """``channel``'s top-level messages, newest first."""
        with self.lock:
            return [m for _, m in self._listed(channel)]

    def _listed(self, channel: str) -> list[tuple[Decimal, dict[str, Any]]]:
        found = [
            (Decimal(ts), message)
            for (where, ts), message in self.messages.items()
            if where == channel and _top_level(message)
        ]
        found.sort(key=lambda pair: pair[0], reverse=True)
        return found

    def _next_ts(self) -> str:
        now = Decimal(f"{self.wall_clock():.6f}")
        self._last_ts = max(self._last_ts + _MICRO, now)
        return _text(self._last_ts)

    def ratelimit_channel(self, channel: str, n: int = 1) -> None:
        with self.lock:
            self._ratelimited[channel] = n

    def accepts(self) -> str:
        channels = ", ".join(sorted(self.channels))
        return f"the bot token {self.bot_token} (Authorization: Bearer); channels: {channels}"

    def settings_for(self, url: str) -> dict[str, str]:
        return {"slack.base_url": url, "slack.bot_token": self.bot_token}

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/chat.postMessage", self._post)
        router.add_post("/chat.update", self._update)
        router.add_get("/conversations.history", self._history)

    def unknown_route(self, request: web.Request) -> web.Response:
        # Slack answers an unknown method with HTTP 200, as every other failure
        method = request.path.rsplit("/", 1)[-1]
        return json_response({"ok": False, "error": "unknown_method", "req_method": method})

    async def _args(self, request: web.Request) -> dict[str, Any] | web.Response:
        token = self.bearer(request)
        if token is None:
            return _fail("not_authed")
        if token != self.bot_token:
            return _fail("invalid_auth")
        raw = await request.read()
        if request.content_type == "application/json":
            body = await self.json_body(request)
            return body if isinstance(body, dict) else _fail("invalid_json")
        return dict(parse_qsl(raw.decode("utf-8", "replace")))

    def _check(self, args: dict[str, Any]) -> web.Response | None:
        channel = args.get("channel")
        if not channel:
            return _fail("channel_not_found")
        if channel not in self.channels:
            return _fail("channel_not_found")
        if not (args.get("text") or args.get("blocks") or args.get("attachments")):
            return _fail("no_text")
        left = self._ratelimited.get(channel, 0)
        if left:
            self._ratelimited[channel] = left - 1
            return _fail("ratelimited", 429, {"Retry-After": "1"})
        return None

    async def _post(self, request: web.Request) -> web.Response:
        args = await self._args(request)
        if isinstance(args, web.Response):
            return args
        with self.lock:
            failed = self._check(args)
            if failed is not None:
                return failed
            ts = self._next_ts()
            message = {
                "type": "message",
                "ts": ts,
                "text": args.get("text") or "",
                "user": _USER,
                "thread_ts": args.get("thread_ts"),
            }
            if args.get("reply_broadcast") and args.get("thread_ts"):
                message["subtype"] = "thread_broadcast"
            if isinstance(args.get("metadata"), dict):
                message["metadata"] = args["metadata"]
            self.messages[(args["channel"], ts)] = message
        self.count_effect(request)
        return json_response({"ok": True, "channel": args["channel"], "ts": ts, "message": message})

    async def _update(self, request: web.Request) -> web.Response:
        args = await self._args(request)
        if isinstance(args, web.Response):
            return args
        with self.lock:
            failed = self._check(args)
            if failed is not None:
                return failed
            message = self.messages.get((args["channel"], str(args.get("ts"))))
            if message is None:
                return _fail("message_not_found")
            message["text"] = args.get("text") or ""
            message["edited"] = {"user": _USER}
        self.count_effect(request)
        return json_response(
            {"ok": True, "channel": args["channel"], "ts": args["ts"], "text": message["text"]}
        )

    async def _history(self, request: web.Request) -> web.Response:
        token = self.bearer(request)
        if token is None:
            return _fail("not_authed")
        if token != self.bot_token:
            return _fail("invalid_auth")
        args = request.query
        channel = args.get("channel")
        if not channel or channel not in self.channels:
            return _fail("channel_not_found")
        try:
            limit = int(args.get("limit") or 100)
        except ValueError:
            return _fail("invalid_limit")
        limit = min(max(limit, 1), 999)
        inclusive = args.get("inclusive", "").lower() in ("1", "true")
        oldest, latest = _bound(args.get("oldest")), _bound(args.get("latest"))
        for name, parsed in (("oldest", oldest), ("latest", latest)):
            if args.get(name) and parsed is None:
                return _fail(f"invalid_ts_{name}")
        cursor = args.get("cursor") or None
        below = _decode_cursor(cursor) if cursor else None
        if cursor and below is None:
            return _fail("invalid_cursor")
        with self.lock:
            listed = self._listed(channel)
            repeat = self.repeat_cursor
        chosen = [
            message
            for ts, message in listed
            if (below is None or ts < below)
            and (oldest is None or ts > oldest or (inclusive and ts == oldest))
            and (latest is None or ts < latest or (inclusive and ts == latest))
        ]
        if args.get("include_all_metadata", "").lower() not in ("1", "true"):
            chosen = [{k: v for k, v in m.items() if k != "metadata"} for m in chosen]
        page, more = chosen[:limit], len(chosen) > limit
        next_cursor = _encode_cursor(Decimal(page[-1]["ts"])) if more else ""
        if repeat and cursor:
            next_cursor, more = cursor, True
        return json_response(
            {
                "ok": True,
                "messages": page,
                "has_more": more,
                "pin_count": 0,
                "response_metadata": {"next_cursor": next_cursor},
            }
        )
