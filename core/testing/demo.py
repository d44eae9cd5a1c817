"""A generic demo provider: what tests of core use, and what ``switchboard sandbox demo`` serves.

Routes, on top of :class:`~core.testing.sandbox.Sandbox`'s pipeline::

    GET|POST|PUT|PATCH|DELETE /echo    the request as JSON (method, path, query, headers, body)
    GET  /status/{code}                answers that status with a small JSON error body
    POST /v1/things                    creates a thing (201, one side effect);
                                       honours Idempotency-Key
    GET  /v1/things/{id}               reads it back (404 if unknown)
    /datasets/{name}/...               every pagination scheme (see _private/paging.py);
                                       dataset ``items`` holds 95 records by default
    /oauth/...                         a fake OAuth2 server (see _private/oauth.py)
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from core.testing._private import paging
from core.testing._private.oauth import OAuthServer
from core.testing.sandbox import Sandbox

__all__ = ["DemoSandbox"]


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


class DemoSandbox(Sandbox):
    """The demo provider; ``datasets``, ``oauth`` and ``things`` are its state."""

    name = "demo"
    switches = frozenset({"latency", "repeat_cursor"})

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.monotonic,
        items: int = 95,
    ) -> None:
        super().__init__(host=host, port=port, clock=clock)
        self.datasets = paging.Datasets()
        self.datasets.set("items", [{"id": i, "name": f"item-{i}"} for i in range(1, items + 1)])
        self.oauth = OAuthServer(clock=clock)
        self.things: dict[str, dict[str, Any]] = {}
        #: cleared, ``POST /v1/things`` waits (in flight) until it is set again
        self.create_gate = threading.Event()
        self.create_gate.set()
        self._things_lock = threading.Lock()
        self._ids = itertools.count(1)

    @property
    def repeat_cursor(self) -> bool:
        """When on, a page requested with a token returns that same token as the next one."""
        return self.datasets.repeat_cursor

    @repeat_cursor.setter
    def repeat_cursor(self, value: bool) -> None:
        self.datasets.repeat_cursor = bool(value)

    def accepts(self) -> str:
        client = "sandbox-client"
        return (
            f"any request; its OAuth server (/oauth/token) knows the client {client} "
            f"with secret {self.oauth.clients[client]}"
        )

    def settings_for(self, url: str) -> dict[str, str]:
        # the generic connector is the one that talks to a provider like this
        return {"generic.base_url": url}

    def reset(self) -> None:
        super().reset()
        self.create_gate.set()
        self.datasets.repeat_cursor = False
        with self._things_lock:
            self.things.clear()

    def routes(self, router: web.UrlDispatcher) -> None:
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            router.add_route(method, "/echo", self._echo)
        router.add_get("/status/{code}", self._status)
        router.add_post("/v1/things", self._create_thing)
        router.add_get("/v1/things/{id}", self._get_thing)
        paging.install(router, self.datasets, "/datasets")
        self.oauth.install(router, "/oauth")

    async def _echo(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            parsed: Any = orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            parsed = None
        return _json(
            {
                "method": request.method,
                "path": request.path,
                "query": {str(k): v for k, v in request.query.items()},
                "headers": {str(k): v for k, v in request.headers.items()},
                "body": body.decode("utf-8", "replace"),
                "json": parsed,
            }
        )

    async def _status(self, request: web.Request) -> web.Response:
        raw = request.match_info["code"]
        code = int(raw) if raw.isdigit() else 0
        if not 200 <= code <= 599:
            return _json({"error": {"type": "not_found", "message": f"no status {raw!r}"}}, 404)
        return _json({"error": {"type": "status", "message": f"status {code}"}}, status=code)

    async def _create_thing(self, request: web.Request) -> web.Response:
        # A threading.Event, so a test in any thread or loop can hold and release it.
        while not self.create_gate.is_set():  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        try:
            params = orjson.loads(await request.read() or b"{}")
        except orjson.JSONDecodeError:
            return _json({"error": {"type": "invalid_request", "message": "not JSON"}}, 400)
        if not isinstance(params, dict):
            return _json({"error": {"type": "invalid_request", "message": "not an object"}}, 400)
        thing = {"id": f"thing_{next(self._ids)}", "object": "thing", **params}
        with self._things_lock:
            self.things[thing["id"]] = thing
        self.count_effect(request)
        return _json(thing, status=201)

    async def _get_thing(self, request: web.Request) -> web.Response:
        with self._things_lock:
            thing = self.things.get(request.match_info["id"])
        if thing is None:
            return _json({"error": {"type": "not_found", "message": "no such thing"}}, 404)
        return _json(thing)
