"""What every provider sandbox shares: JSON answers, auth parsing, ids.

A provider without idempotency keys (``ClientSetup.idempotency == "ledger"``)
gets no replay from its sandbox -- the real one does not replay either -- but
its handlers call ``count_effect(request)`` where they act, counting under
the command id the call carries (``X-Switchboard-Command-Id``). The test API
(``side_effects(command_id)``, ``total_side_effects()``, ``outage()``,
``refuse()``...) is the core :class:`~core.testing.Sandbox`'s.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import threading
from typing import Any
from urllib.parse import parse_qsl

import orjson
from aiohttp import web

from core.testing import Sandbox

__all__ = ["ProviderSandbox", "is_not_json", "json_response"]


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=orjson.dumps(data), status=status, content_type="application/json", headers=headers
    )


class ProviderSandbox(Sandbox):
    """Base of the connector sandboxes (state under one lock, ids, auth)."""

    #: ledger providers: no idempotency-key replay in the pipeline
    idempotent_methods: frozenset[str] = frozenset()

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lock = threading.Lock()
        self._ids = itertools.count(1)

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):06d}"

    @staticmethod
    def bearer(request: web.Request) -> str | None:
        value = request.headers.get("Authorization", "")
        scheme, _, token = value.partition(" ")
        return token if scheme.lower() in ("bearer", "token") and token else None

    @staticmethod
    def basic(request: web.Request) -> tuple[str, str] | None:
        value = request.headers.get("Authorization", "")
        scheme, _, encoded = value.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, sep, password = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return (user, password) if sep else None

    @staticmethod
    async def form(request: web.Request) -> list[tuple[str, str]]:
        return parse_qsl((await request.read()).decode("utf-8", "replace"), keep_blank_values=True)

    @staticmethod
    async def json_body(request: web.Request) -> Any:
        raw = await request.read()
        try:
            return orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            return _NOT_JSON


_NOT_JSON = object()


def is_not_json(value: Any) -> bool:
    """True for what :meth:`ProviderSandbox.json_body` returns on a non-JSON body."""
    return value is _NOT_JSON
