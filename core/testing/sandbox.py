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
from typing import Self

from aiohttp import web

from core.apicall import COMMAND_ID_HEADER
from core.testing._private import control, running
from core.testing._private.fault_switches import FaultSwitches
from core.testing._private.faults import FaultPlan, ServerTokenBucket
from core.testing._private.pipeline import CONTROL_PREFIX, RequestPipeline
from core.testing._private.records import (
    IdempotencyStore,
    RecordedRequest,
    RequestLog,
)

__all__ = ["CONTROL_PREFIX", "Sandbox"]

_MAX_REQUEST_BODY = 64 * 1024 * 1024


class Sandbox(FaultSwitches, RequestPipeline):
    """A fake provider: subclass it and register routes in :meth:`routes`.

    ``clock`` (monotonic seconds) drives the enforced rate and anything a
    subclass expires; inject one to make time-based behaviour deterministic.
    ``idempotency_header`` names the key header; only ``idempotent_methods``
    use it. See the module docstring for the test API; the switches live in
    :class:`FaultSwitches`, the request pipeline in :class:`RequestPipeline`.
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

    # --- switches (thread-safe; the rest come from FaultSwitches) -------

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
