"""The worker's roles in one place: built from settings, started and
stopped together, whether faust runs beside them or not.

- the HTTP server (:class:`~streams.worker.http_server.WorkerHttpServer`):
  webhooks for the ``ingest`` role, and ``/healthz``, ``/readyz``,
  ``/metrics`` always;
- ``sink``: one command consumer per configured connector; a sink stopped
  by an error (e.g. a 401) makes ``/healthz`` answer 503;
- ``poll``: the poll streams this worker owns in the poll group; a stream
  stopped by an error makes ``/healthz`` answer 503.

A role that stops on an error is reported, never fatal to the others,
except a stall its watchdog could not recover (:mod:`streams.watchdog`):
then ``on_fatal`` is called with the one-line reason and the worker exits
non-zero. Each consuming role's watchdog is a ``/healthz`` check
(``stall:<role>``), 503 while one of its partitions is stalled.
(``dedup`` is faust's: see :func:`streams.worker.run.build_faust_app`.)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from ..ingest import build_routes
from ..poll import Poller, build_polls
from ..settings import Settings
from ..sink import Sink, build_sinks
from ..watchdog import PartitionStalled, StallWatchdog
from .http_server import Checks, WorkerHttpServer

__all__ = ["WorkerRoles"]

log = logging.getLogger("streams.worker")


class WorkerRoles:
    """The HTTP server, the sinks and the pollers of one worker."""

    def __init__(
        self,
        settings: Settings,
        readiness: Checks | None = None,
        *,
        on_fatal: Callable[[str], None] | None = None,
        watchdogs: list[StallWatchdog] | None = None,
    ) -> None:
        roles = settings.worker.roles
        self.settings = settings
        self.sinks: list[Sink] = build_sinks(settings) if "sink" in roles else []
        targets = build_polls(settings) if "poll" in roles else []
        self.pollers = [Poller(settings, targets)] if targets else []
        routes = build_routes(settings) if "ingest" in roles else {}
        self.server = WorkerHttpServer(settings, routes, health=self.health, readiness=readiness)
        self._tasks: list[asyncio.Task[None]] = []
        self.on_fatal = on_fatal or (lambda reason: log.error("%s", reason))
        self.watchdogs = list(watchdogs or [])
        self.watchdogs += [s.watchdog for s in self.sinks] + [p.watchdog for p in self.pollers]

    def health(self) -> dict[str, tuple[bool, str]]:
        """Each sink's and poll stream's (ok, detail), for ``/healthz``."""
        checks = {f"sink:{s.name}": (s.health.ok, s.health.detail) for s in self.sinks}
        for poller in self.pollers:
            checks.update(poller.health())
        checks.update({f"stall:{w.role}": w.health() for w in self.watchdogs})
        return checks

    async def start(self) -> None:
        """Listen, then run every sink and poller in a task of its own."""
        port = await self.server.start()
        log.info(
            "HTTP on %s:%s; webhooks for %s",
            self.settings.worker.host,
            port,
            sorted(self.server.routes),
        )
        self._tasks = [asyncio.create_task(_run_sink(s, self.on_fatal)) for s in self.sinks]
        self._tasks += [asyncio.create_task(_run_poller(p, self.on_fatal)) for p in self.pollers]

    async def stop(self) -> None:
        """Stop the sinks and pollers, wait for them, then close the server."""
        for sink in self.sinks:
            sink.stop()
        for poller in self.pollers:
            poller.stop()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.server.stop()


async def _run_sink(sink: Sink, on_fatal: Callable[[str], None]) -> None:
    try:
        await sink.run()
    except PartitionStalled as exc:
        sink.health.ok, sink.health.detail = False, f"stopped: {exc}"
        on_fatal(str(exc))
    except Exception as exc:  # reported, not fatal to the other roles
        sink.health.ok, sink.health.detail = False, f"stopped: {exc}"
        log.error("sink %s stopped: %s", sink.name, exc)


async def _run_poller(poller: Poller, on_fatal: Callable[[str], None]) -> None:
    try:
        await poller.run()
    except PartitionStalled as exc:
        on_fatal(str(exc))
    except Exception as exc:  # reported, not fatal to the other roles
        log.error("poller stopped: %s", exc)
