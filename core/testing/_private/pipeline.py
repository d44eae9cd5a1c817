"""The pipeline every non-control request to a sandbox passes.

In order: record -> latency -> enforced rate (429) -> one-shot fault (before
the handler) -> idempotency key (replay / 400 / 409) -> held? -> handler ->
one-shot fault (after the handler: reset or truncate) -> rate headers.
A mixin of :class:`~core.testing.Sandbox`, apart from the server's
lifecycle and the test switches, so the order reads in one module.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.web_urldispatcher import MatchInfoError

from core.testing._private import control
from core.testing._private.faults import FaultPlan, ServerTokenBucket
from core.testing._private.records import (
    IdempotencyStore,
    RecordedRequest,
    RequestLog,
)
from core.testing._private.wire import ConnectionDropped, fault_response

__all__ = ["CONTROL_PREFIX", "RequestPipeline"]

CONTROL_PREFIX = "/_sandbox"


class RequestPipeline:
    """Records, delays, throttles, faults and deduplicates requests around the handler."""

    idempotency_header: str
    idempotent_methods: frozenset[str]
    record: bool
    log: RequestLog
    idempotency: IdempotencyStore
    faults: FaultPlan
    latency: float
    rate: ServerTokenBucket | None
    _closing: asyncio.Event | None
    _released: threading.Event

    # --- hooks a provider sandbox overrides -------------------------------

    def unknown_route(self, request: web.Request) -> web.Response:
        """The answer to a request no route matches (a wrong path or method).

        It passes the whole pipeline first (recorded, faults, the provider's
        auth check where a subclass makes one), as at the provider. The base
        answers 404 in the demo provider's error shape; a provider sandbox
        overrides this with its provider's own "not found" answer.
        """
        return web.json_response(
            {
                "error": {
                    "type": "not_found",
                    "message": f"no route {request.method} {request.path}",
                }
            },
            status=404,
        )

    def keeps_result(self, status: int) -> bool:
        """Whether an answer with ``status`` is stored under its idempotency key.

        False releases the key and its counted side effect (the provider did
        not act); the base keeps every answer. Override per provider.
        """
        return True

    # --- the pipeline ------------------------------------------------------

    def _keyed(self, request: web.Request) -> bool:
        return (
            request.method in self.idempotent_methods
            and request.headers.get(self.idempotency_header) is not None
        )

    async def _run_handler(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        while not self._released.is_set():  # noqa: ASYNC110 - set from any thread
            await asyncio.sleep(0.005)
        if isinstance(request.match_info, MatchInfoError):
            return self.unknown_route(request)
        response: web.StreamResponse = await handler(request)
        return response

    @web.middleware
    async def _pipeline(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        if request.path.startswith(CONTROL_PREFIX + "/"):
            if isinstance(request.match_info, MatchInfoError):
                return control.unknown(request, CONTROL_PREFIX)
            response: web.StreamResponse = await handler(request)
            return response
        body = await request.read()
        seen: RecordedRequest | None = None
        if self.record:
            seen = self.log.append(
                RecordedRequest(
                    request.method,
                    request.path,
                    tuple((str(k), v) for k, v in request.query.items()),
                    tuple((str(k), v) for k, v in request.headers.items()),
                    body,
                    time.time(),
                )
            )
        try:
            return await self._run(request, handler, body, seen)
        except ConnectionDropped:
            # The connection is gone; aiohttp writes nothing to an aborted transport.
            return web.Response(status=499)

    async def _run(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Any],
        body: bytes,
        seen: RecordedRequest | None,
    ) -> web.StreamResponse:
        assert self._closing is not None
        if self.latency:
            await asyncio.sleep(self.latency)
        rate_headers: dict[str, str] = {}
        bucket = self.rate
        if bucket is not None:
            decision = bucket.take()
            rate_headers = decision.headers
            if not decision.allowed:
                self.log.set_outcome(seen, "throttled")
                payload = {"error": {"type": "rate_limit", "message": "rate limit exceeded"}}
                return web.json_response(payload, status=429, headers=rate_headers)
        fault = self.faults.take(request.method, request.path, after_handler=False)
        if fault is not None:
            self.log.set_outcome(seen, fault.kind)
            response = await fault_response(request, fault, self._closing)
            response.headers.update(rate_headers)
            return response
        response = await self._handle(request, handler, body, seen)
        after = self.faults.take(request.method, request.path, after_handler=True)
        if after is not None:
            self.log.set_outcome(seen, after.kind)
            raw = response.body if isinstance(response, web.Response) else None
            await fault_response(
                request, after, self._closing, raw if isinstance(raw, bytes) else None
            )
        response.headers.update(rate_headers)
        return response

    async def _handle(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Any],
        body: bytes,
        seen: RecordedRequest | None,
    ) -> web.StreamResponse:
        key = request.headers.get(self.idempotency_header)
        if key is None or request.method not in self.idempotent_methods:
            return await self._run_handler(request, handler)
        fingerprint = IdempotencyStore.fingerprint(
            request.method, request.path, request.query_string, body
        )
        claim = self.idempotency.begin(key, fingerprint)
        if claim == "mismatch":
            message = (
                "Keys for idempotent requests can only be used with the same parameters "
                "they were first used with."
            )
            return web.json_response(
                {"error": {"type": "idempotency_error", "message": message}}, status=400
            )
        if claim == "in_flight":
            message = "A request with this idempotency key is still being processed."
            return web.json_response(
                {"error": {"type": "idempotency_error", "message": message}}, status=409
            )
        if claim is not None and not isinstance(claim, str):
            self.log.set_outcome(seen, "replayed")
            replay = web.Response(status=claim.status, body=claim.body, headers=claim.headers)
            replay.headers["Idempotent-Replayed"] = "true"
            return replay
        try:
            response = await self._run_handler(request, handler)
        except web.HTTPException as exc:
            if not self.keeps_result(exc.status):
                self.idempotency.abandon(key)
                raise
            raw_exc = exc.body
            self.idempotency.finish(
                key,
                exc.status,
                exc.headers,
                bytes(raw_exc) if isinstance(raw_exc, (bytes, bytearray)) else b"",
            )
            raise
        except BaseException:
            self.idempotency.abandon(key)
            raise
        if not self.keeps_result(response.status):
            self.idempotency.abandon(key)
            return response
        raw = response.body if isinstance(response, web.Response) else b""
        self.idempotency.finish(
            key,
            response.status,
            response.headers,
            bytes(raw) if isinstance(raw, (bytes, bytearray)) else b"",
        )
        return response
