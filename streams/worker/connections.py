"""The worker HTTP server's plumbing: connection limits and fixed error pages.

aiohttp keeps a connection that never finishes its headers for its
keep-alive timeout (3,630 s by default) and has no connection cap; its
parser error pages repeat the offending request bytes, and every
malformed request logs a traceback. Measured before this module: 100
slowloris connections stayed open past 100 s; under ``ulimit -n 256``, 300
idle sockets made a valid delivery time out. Here:

- **header timeout**: a connection that has not sent a complete request
  within ``worker.header_timeout_s`` of opening is closed; a kept-alive one
  is closed ``worker.keepalive_timeout_s`` after its last response unless a
  complete request arrived (aiohttp's keep-alive timer);
- **connection cap** (``worker.max_connections``): at the cap a new
  connection closes the oldest one with no request in progress (an idle or
  slow-header client); if every connection is busy, it is answered 503 with
  ``Retry-After`` and closed. Metrics: ``switchboard_ingest_connections_open``,
  ``switchboard_ingest_requests_in_progress``,
  ``switchboard_ingest_connections_refused_total``,
  ``switchboard_ingest_connections_closed_total{reason}``;
- **error pages**: a fixed short text per status, nothing of the request;
  one log line per malformed request, without traceback.

aiohttp offers no public hook for these, so this module subclasses its
public ``web.RequestHandler`` and ``web.Server`` and overrides
``AppRunner._make_server`` (the one private name used: the factory of the
``Server``), all in aiohttp 3.14.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import weakref
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from prometheus_client import Counter, Gauge

__all__ = ["ConnectionLimits", "LimitedRunner", "connection_counts", "track_requests"]

log = logging.getLogger("streams.ingest")

OPEN = Gauge("switchboard_ingest_connections_open", "HTTP connections open on the worker")
IN_PROGRESS = Gauge(
    "switchboard_ingest_requests_in_progress", "HTTP requests the worker is handling now"
)
REFUSED = Counter(
    "switchboard_ingest_connections_refused_total",
    "Connections answered 503 because max_connections were open and busy",
)
CLOSED = Counter(
    "switchboard_ingest_connections_closed_total",
    "Connections closed by the server: header_timeout, idle_evicted (at the cap)",
    ["reason"],
)

_ERROR_TEXT = {
    400: b"malformed request",
    413: b"request too large",
    431: b"request headers too large",
    500: b"internal error",
}
_REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Type: text/plain\r\n"
    b"Content-Length: 20\r\nConnection: close\r\n\r\ntoo many connections"
)


def default_max_connections() -> int:
    """A quarter of the open-files limit, at most 1,024: a burst of accepts
    (up to the backlog) lands before the evicted sockets are closed, and
    Kafka and the process need theirs (at half, 300 held sockets under a
    limit of 256 still hit EMFILE about one run in eight)."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1024
    return max(16, min(1024, soft // 4))


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout_s: float
    max_connections: int

    @property
    def accept_backlog(self) -> int:
        """The listen backlog, which is also how many connections asyncio
        accepts in one go before any is refused or evicted: kept to half the
        cap, so that a burst stays below the open-files limit (EMFILE)."""
        return max(8, min(128, self.max_connections // 2))


class _Tracker:
    """Which connections are in a request now and which have had one."""

    def __init__(self) -> None:
        self.busy: weakref.WeakSet[web.RequestHandler] = weakref.WeakSet()
        self.started: weakref.WeakSet[web.RequestHandler] = weakref.WeakSet()


_TRACKER = web.AppKey("ingest_tracker", _Tracker)


def track_requests(app: web.Application) -> None:
    """Install the middleware marking connections busy while a request runs."""
    tracker = _Tracker()
    app[_TRACKER] = tracker

    @web.middleware
    async def mark_busy(request: web.Request, handler: Any) -> web.StreamResponse:
        protocol = request.protocol
        tracker.busy.add(protocol)
        tracker.started.add(protocol)
        IN_PROGRESS.inc()
        try:
            response: web.StreamResponse = await handler(request)
            return response
        finally:
            IN_PROGRESS.dec()
            tracker.busy.discard(protocol)

    app.middlewares.append(mark_busy)


class _Handler(web.RequestHandler):
    __slots__ = ("__weakref__", "_refused")

    def __init__(self, manager: web.Server, *, refused: bool = False, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._refused = refused

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._refused:
            assert isinstance(transport, asyncio.WriteTransport)
            transport.write(_REFUSAL)
            transport.close()
            return
        super().connection_made(transport)

    def connection_lost(self, exc: BaseException | None) -> None:
        if not self._refused:
            super().connection_lost(exc)

    def handle_error(
        self,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """A fixed text; one log line (a traceback only for a 500: a bug)."""
        kind = type(exc).__name__ if exc is not None else "-"
        if status >= 500:
            log.error("HTTP %d handling a request (%s)", status, kind, exc_info=exc)
        else:
            log.warning("refused a malformed request: HTTP %d (%s)", status, kind)
        if request.writer.output_size > 0:
            raise ConnectionError("response already started")
        response = web.Response(
            status=status, body=_ERROR_TEXT.get(status, b"error"), content_type="text/plain"
        )
        response.force_close()
        return response


class _Server(web.Server):
    def __init__(self, *args: Any, limits: ConnectionLimits, tracker: _Tracker, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._limits = limits
        self._tracker = tracker
        self._accepting: weakref.WeakSet[web.RequestHandler] = weakref.WeakSet()
        self._closing: weakref.WeakSet[web.RequestHandler] = weakref.WeakSet()

    def __call__(self) -> web.RequestHandler:
        live = [h for h in self._connections if h not in self._closing]
        if len(live) + len(self._accepting) >= self._limits.max_connections:
            idle = next((h for h in live if h not in self._tracker.busy), None)
            if idle is None:
                REFUSED.inc()
                return _Handler(self, loop=self._loop, refused=True, **self._kwargs)
            CLOSED.labels("idle_evicted").inc()
            self._close(idle)
        handler = _Handler(self, loop=self._loop, **self._kwargs)
        self._accepting.add(handler)
        return handler

    @property
    def open_connections(self) -> int:
        """Connections open now, not counting those being closed."""
        return len([h for h in self._connections if h not in self._closing])

    @property
    def requests_in_progress(self) -> int:
        return len(self._tracker.busy)

    def _close(self, handler: web.RequestHandler) -> None:
        self._closing.add(handler)
        handler.force_close()

    def connection_made(self, handler: web.RequestHandler, transport: asyncio.Transport) -> None:
        super().connection_made(handler, transport)
        self._accepting.discard(handler)
        OPEN.inc()
        self._loop.call_later(
            self._limits.header_timeout_s, self._check_started, weakref.ref(handler)
        )

    def connection_lost(
        self, handler: web.RequestHandler, exc: BaseException | None = None
    ) -> None:
        if handler in self._connections:
            OPEN.dec()
        super().connection_lost(handler, exc)

    def _check_started(self, ref: weakref.ref[web.RequestHandler]) -> None:
        handler = ref()
        if handler is None or handler not in self._connections or handler in self._closing:
            return
        if handler not in self._tracker.started:
            CLOSED.labels("header_timeout").inc()
            self._close(handler)


def connection_counts(runner: web.BaseRunner | None) -> tuple[int, int]:
    """(open connections, requests in progress) of one server."""
    server = runner.server if runner is not None else None
    if not isinstance(server, _Server):
        return 0, 0
    return server.open_connections, server.requests_in_progress


class LimitedRunner(web.AppRunner):
    """An ``AppRunner`` whose server applies :class:`ConnectionLimits` and
    answers parser errors with fixed texts."""

    def __init__(self, app: web.Application, limits: ConnectionLimits, **kwargs: Any) -> None:
        super().__init__(app, access_log=None, handle_signals=False, **kwargs)
        self._limits = limits
        self._handler_kwargs = dict(kwargs, access_log=None)

    async def _make_server(self) -> web.Server:
        made = await super()._make_server()  # runs the app's startup and freezes it
        return _Server(
            made.request_handler,
            request_factory=made.request_factory,
            limits=self._limits,
            tracker=self.app[_TRACKER],
            **self._handler_kwargs,
        )
