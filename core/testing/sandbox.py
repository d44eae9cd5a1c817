"""The base of every local fake provider ("sandbox").

A :class:`Sandbox` is a real aiohttp HTTP server on 127.0.0.1 (ephemeral
port by default). Subclasses add the provider's routes in :meth:`routes`.
Every request that is not a control request (``/_sandbox/...``) passes one
pipeline, in this order::

    record -> latency -> enforced rate (429) -> one-shot fault (before handler)
           -> idempotency key (replay / 400 / 409) -> held? -> handler
           -> one-shot fault (after handler: reset or truncate) -> rate headers

Behaviours switch at runtime, from the test (methods below; safe to call
from any thread) or over HTTP (``/_sandbox/*``, see
:mod:`core.testing._private.control`). Running it: ``async with sandbox``
(in the test's loop), ``with sandbox.in_thread()`` (own loop in a thread),
:func:`core.testing.spawn_sandbox` (a separate process), or
:func:`core.testing.run_sandbox` (blocking, for the CLI).

The test API, the same on every sandbox
---------------------------------------

"Exactly once at the provider":

- ``side_effects(command_id) -> int``: how many side effects the command
  caused. A request honoured under an idempotency key counts under that key
  when it is first claimed (the sink sends the command id as the key), and
  a replay counts nothing; any other request counts under its
  ``X-Switchboard-Command-Id`` header (:data:`core.apicall.COMMAND_ID_HEADER`)
  when its handler really acts (:meth:`Sandbox.count_effect`). A request
  the provider refuses (auth, validation, a fault) counts nothing.
- ``total_side_effects() -> int``: every side effect so far, including
  requests that carried neither a key nor a command id.
- ``side_effect_counts() -> dict[str, int]``: by key / command id
  (``GET /_sandbox/side_effects`` gives ``{"total", "by_id"}``).

Faults (each returns the :class:`Fault`; ``remove_fault(fault)`` withdraws
one, ``clear_faults()`` all; ``path`` is a path prefix, None = every route):

- ``outage(status=503, *, seconds=None, path=None, retry_after=None)``:
  every request answers ``status`` without running, for ``seconds`` on the
  sandbox clock or until removed -- a provider that is down;
- ``refuse(*, seconds=None, path=None)``: every request's connection is
  reset before the handler (nothing happens at the provider);
- ``fail_next(n, status=503, ...)``, ``throttle_next(n, retry_after=...)``,
  ``hang_next``, ``reset_next(after_handler=True)`` (the side effect
  happens, the answer is lost), ``truncate_next``, ``oversize_next``,
  ``non_json_next``: the next ``n`` matching requests;
- ``enforce_rate(rate, burst)``: a real token bucket: 429 + ``Retry-After``
  and ``X-RateLimit-*`` / ``RateLimit`` headers on every answer;
- ``set_latency(seconds)``; ``hold()`` / ``release()``: requests wait just
  before their handler (after claiming their idempotency key) until
  released, to stage concurrent use of a key (409) or work in flight.

Over HTTP: ``POST /_sandbox/faults`` with a :class:`Fault` as JSON (an
outage: ``{"kind": "status", "status": 503, "count": null, "duration": 30}``),
``DELETE /_sandbox/faults``, ``GET /_sandbox/side_effects``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Self

from aiohttp import web
from aiohttp.web_urldispatcher import MatchInfoError

from core.apicall import COMMAND_ID_HEADER
from core.testing._private import control, running
from core.testing._private.faults import Fault, FaultPlan, ServerTokenBucket
from core.testing._private.records import (
    IdempotencyStore,
    RecordedRequest,
    RequestLog,
)
from core.testing._private.wire import ConnectionDropped, fault_response

__all__ = ["CONTROL_PREFIX", "Sandbox"]

CONTROL_PREFIX = "/_sandbox"
_MAX_REQUEST_BODY = 64 * 1024 * 1024


class Sandbox:
    """A fake provider: subclass it and register routes in :meth:`routes`.

    ``clock`` (monotonic seconds) drives the enforced rate and anything a
    subclass expires; inject one to make time-based behaviour deterministic.
    ``idempotency_header`` names the key header; only ``idempotent_methods``
    use it. See the module docstring for the test API.
    """

    name = "sandbox"
    idempotency_header = "Idempotency-Key"
    idempotent_methods: frozenset[str] = frozenset({"POST", "PATCH"})
    #: attributes ``PUT /_sandbox/switches`` may set (subclasses extend this)
    switches: frozenset[str] = frozenset({"latency", "record"})

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.host = host
        self.port = port
        self.clock = clock
        self.faults = FaultPlan(clock)
        self.log = RequestLog()
        self.idempotency = IdempotencyStore()
        self.latency = 0.0
        #: keep every request in ``requests`` (switch off for long benchmarks)
        self.record = True
        self.rate: ServerTokenBucket | None = None
        self._url: str | None = None
        self._runner: web.AppRunner | None = None
        self._closing: asyncio.Event | None = None
        self._thread_stop: Callable[[], None] | None = None
        # set = handlers run; cleared by hold()
        self._released = threading.Event()
        self._released.set()

    # --- for subclasses -------------------------------------------------

    def routes(self, router: web.UrlDispatcher) -> None:
        """Register the provider's routes. The base has none."""

    def accepts(self) -> str:
        """What this sandbox takes as credentials, for ``switchboard sandbox`` to print.

        Only the sandbox's own test values, never a user's secret. The base
        checks none.
        """
        return "any request (no credentials)"

    def settings_for(self, url: str) -> dict[str, str]:
        """The settings (dotted path -> value) that point Switchboard at this
        sandbox serving at ``url``, with the test credentials it accepts
        (``{"stripe.base_url": url, "stripe.api_key": "sk_test_..."}``).
        The base names none."""
        return {}

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

    # --- switches (thread-safe) -----------------------------------------

    def add_fault(self, fault: Fault) -> Fault:
        return self.faults.add(fault)

    def remove_fault(self, fault: Fault) -> bool:
        """Withdraw one fault (True if it was still pending)."""
        return self.faults.remove(fault)

    def outage(
        self,
        status: int = 503,
        *,
        seconds: float | None = None,
        path: str | None = None,
        retry_after: float | None = None,
    ) -> Fault:
        """Every matching request answers ``status`` without running, for
        ``seconds`` (sandbox clock) or until :meth:`remove_fault` / :meth:`clear_faults`."""
        return self.add_fault(
            Fault("status", None, path, status=status, retry_after=retry_after, duration=seconds)
        )

    def refuse(self, *, seconds: float | None = None, path: str | None = None) -> Fault:
        """Every matching request's connection is reset before its handler
        runs, for ``seconds`` or until removed: nothing happens at the provider."""
        return self.add_fault(Fault("reset", None, path, duration=seconds))

    def hold(self) -> None:
        """Requests wait just before their handler (key already claimed) until :meth:`release`."""
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    def fail_next(
        self,
        n: int = 1,
        status: int = 503,
        *,
        path: str | None = None,
        retry_after: float | None = None,
    ) -> Fault:
        """The next ``n`` matching requests answer ``status`` (a 5xx burst) without running."""
        return self.add_fault(Fault("status", n, path, status=status, retry_after=retry_after))

    def throttle_next(
        self,
        n: int = 1,
        *,
        retry_after: float = 1,
        http_date: bool = False,
        path: str | None = None,
    ) -> Fault:
        """The next ``n`` matching requests answer 429 with ``Retry-After``
        (seconds, or an HTTP-date with ``http_date``)."""
        return self.add_fault(
            Fault("rate_limit", n, path, retry_after=retry_after, http_date=http_date)
        )

    def hang_next(
        self, n: int = 1, *, seconds: float | None = None, path: str | None = None
    ) -> Fault:
        """The next ``n`` requests get no answer for ``seconds`` (forever if None), then a reset."""
        return self.add_fault(Fault("hang", n, path, seconds=seconds))

    def reset_next(
        self, n: int = 1, *, path: str | None = None, after_handler: bool = False
    ) -> Fault:
        """The next ``n`` requests see their connection reset (RST)."""
        return self.add_fault(Fault("reset", n, path, after_handler=after_handler))

    def truncate_next(
        self, n: int = 1, *, path: str | None = None, after_handler: bool = False
    ) -> Fault:
        """The next ``n`` responses announce a Content-Length and stop halfway."""
        return self.add_fault(Fault("truncate", n, path, after_handler=after_handler))

    def oversize_next(
        self,
        n: int = 1,
        *,
        size: int = 2 * 1024 * 1024,
        chunked: bool = False,
        path: str | None = None,
    ) -> Fault:
        """The next ``n`` responses are ``size`` bytes of JSON (chunked: no Content-Length)."""
        return self.add_fault(Fault("oversize", n, path, size=size, chunked=chunked))

    def non_json_next(
        self,
        n: int = 1,
        *,
        status: int = 200,
        content_type: str = "text/html",
        path: str | None = None,
    ) -> Fault:
        """The next ``n`` responses are an HTML page (labelled ``content_type``)."""
        return self.add_fault(Fault("non_json", n, path, status=status, content_type=content_type))

    def clear_faults(self) -> None:
        self.faults.clear()

    def set_latency(self, seconds: float) -> None:
        """Delay every following (non-control) request by ``seconds``."""
        if seconds < 0:
            raise ValueError("seconds: must be >= 0")
        self.latency = seconds

    def enforce_rate(
        self,
        rate: float,
        burst: float | None = None,
        *,
        announce: bool = True,
        fractional_retry_after: bool = False,
    ) -> ServerTokenBucket:
        """Enforce ``rate`` requests/s with a token bucket ``burst`` deep (default: ``rate``).

        Refused requests get 429 + ``Retry-After``; with ``announce`` every
        response carries ``X-RateLimit-*`` and IETF ``RateLimit`` headers.
        """
        self.rate = ServerTokenBucket(
            rate,
            burst,
            announce=announce,
            fractional_retry_after=fractional_retry_after,
            clock=self.clock,
        )
        return self.rate

    def clear_rate(self) -> None:
        self.rate = None

    def reset(self) -> None:
        """Back to a well-behaved, empty sandbox (routes' own state is the subclass's)."""
        self.clear_faults()
        self.clear_rate()
        self.latency = 0.0
        self.record = True
        self.release()
        self.log.clear()
        self.idempotency.clear()

    # --- assertions -------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every non-control request received so far, in arrival order."""
        return self.log.snapshot()

    def requests_to(self, path: str, method: str | None = None) -> list[RecordedRequest]:
        return [
            r
            for r in self.log.snapshot()
            if r.path == path and (method is None or r.method == method.upper())
        ]

    def side_effects(self, command_id: str) -> int:
        """How many side effects the command (or idempotency key) caused."""
        return self.idempotency.side_effects(command_id)

    def total_side_effects(self) -> int:
        """Every side effect so far, anonymous ones included."""
        return self.idempotency.total()

    def side_effect_counts(self) -> dict[str, int]:
        """Side effects by idempotency key / command id."""
        return self.idempotency.all_side_effects()

    def count_effect(self, request: web.Request) -> None:
        """Handlers call this where the provider really acts.

        A request honoured under an idempotency key was counted when its key
        was claimed, so this is a no-op for it; any other request counts
        under its command id header (or anonymously).
        """
        if self._keyed(request):
            return
        self.idempotency.count(request.headers.get(COMMAND_ID_HEADER) or None)

    def keeps_result(self, status: int) -> bool:
        """Whether an answer with ``status`` is stored under its idempotency key.

        False releases the key and its counted side effect (the provider did
        not act); the base keeps every answer. Override per provider.
        """
        return True

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

    # --- the pipeline ------------------------------------------------------

    def make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._pipeline], client_max_size=_MAX_REQUEST_BODY)
        control.install(app.router, self, CONTROL_PREFIX)
        self.routes(app.router)
        app.on_startup.append(self._on_startup)
        app.on_shutdown.append(self._on_shutdown)
        return app

    async def _on_startup(self, app: web.Application) -> None:
        self._closing = asyncio.Event()

    async def _on_shutdown(self, app: web.Application) -> None:
        if self._closing is not None:
            self._closing.set()

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

    # --- running -------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` once running; raises RuntimeError before."""
        if self._url is None:
            raise RuntimeError("the sandbox is not running")
        return self._url

    async def start(self) -> str:
        """Start serving in the running loop; returns the base URL."""
        self._runner, self._url = await running.start(self.make_app(), self.host, self.port)
        return self._url

    async def stop(self) -> None:
        runner, self._runner, self._url = self._runner, None, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @contextmanager
    def in_thread(self, *, timeout: float = 10.0) -> Iterator[Self]:
        """Serve from a background thread with its own event loop, for sync tests."""
        with running.in_thread(self.start, self.stop, timeout=timeout):
            yield self
