"""A local Slack Web API for the Slack commands.

Routes (JSON or form bodies, ``Authorization: Bearer xoxb-...``)::

    POST /chat.postMessage   {"ok": true, "channel", "ts", "message"}
    POST /chat.update        {"ok": true, "channel", "ts", "text"}

Failures are HTTP 200 ``{"ok": false, "error": code}`` as at Slack:
``not_authed``/``invalid_auth``, ``channel_not_found``, ``no_text``,
``message_not_found``, ``invalid_json``. ``ratelimit_channel(channel, n)``
makes the next ``n`` posts there answer 429 ``ratelimited`` with
``Retry-After: 1``. No idempotency key: side effects are counted per command id.
"""

from __future__ import annotations

import itertools
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from connectors._sandbox import ProviderSandbox, json_response

__all__ = ["SlackSandbox"]


def _fail(code: str, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return json_response({"ok": False, "error": code}, status=status, headers=headers)


class SlackSandbox(ProviderSandbox):
    """Slack channels and messages in memory; ``channels`` lists the ones that exist."""

    name = "slack"

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-sandbox",  # noqa: S107
        channels: tuple[str, ...] = ("C0SANDBOX", "C0GENERAL"),
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.bot_token = bot_token
        self.channels = set(channels)
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        self._ratelimited: dict[str, int] = {}
        self._ts = itertools.count(1)

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.messages.clear()
            self._ratelimited.clear()

    def ratelimit_channel(self, channel: str, n: int = 1) -> None:
        with self.lock:
            self._ratelimited[channel] = n

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/chat.postMessage", self._post)
        router.add_post("/chat.update", self._update)

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
            ts = f"1700000000.{next(self._ts):06d}"
            message = {
                "type": "message",
                "ts": ts,
                "text": args.get("text") or "",
                "user": "U0SANDBOX",
                "thread_ts": args.get("thread_ts"),
            }
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
            message["edited"] = {"user": "U0SANDBOX"}
        self.count_effect(request)
        return json_response(
            {"ok": True, "channel": args["channel"], "ts": args["ts"], "text": message["text"]}
        )
