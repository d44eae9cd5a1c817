"""The worker process: the ingest HTTP server plus the faust app.

Before anything starts, the worker checks that Kafka answers (failing fast
with a clear message rather than retrying forever) and creates the topics of
every installed connector. Then one process runs, by role:

- ``ingest``: ``POST /webhooks/<c>`` (see :mod:`streams.ingest`);
- ``dedup``: one faust agent per connector (see :mod:`streams.dedup`);
- ``sink``: one command consumer per configured connector (see
  :mod:`streams.sink`); a sink stopped by a config error makes ``/healthz``
  answer 503;
- ``poll``: the poll streams this worker owns in the poll group (see
  :mod:`streams.poll`); a stream stopped by an error makes ``/healthz``
  answer 503;
- always: ``GET /healthz``, ``GET /readyz`` (Kafka answers and, with
  ``dedup``, the tables are restored: 503 ``dedup: recovering tables`` until
  faust's recovery of the assigned partitions ended), ``GET /metrics``.

Logs: one format for every logger, start-up noise cut (see
:mod:`streams._worker_log`).

Every worker of a deployment joins the same consumer groups, so starting
more workers spreads the partitions between them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

import connectors
from core.settings import Settings

from . import localkafka
from ._worker_log import configure_logging, logging_config
from .app import create_app
from .kafka import HOW_TO_START, MAX_MESSAGE_BYTES, KafkaUnavailable
from .poll import Poller, build_polls
from .sink import Sink, build_sinks
from .topics import connector_topics, ensure_topics, shared_topics

__all__ = ["build_faust_app", "kafka_ready", "run_worker"]

log = logging.getLogger(__name__)


def kafka_ready(settings: Settings) -> bool:
    """True if any bootstrap server answers a Kafka ApiVersions request."""
    servers = localkafka.parse_servers(settings.bootstrap_servers)
    return any(
        localkafka.probe(host, port, timeout=1.0) is localkafka.PortState.KAFKA
        for host, port in servers
    )


def build_faust_app(settings: Settings, app_id: str = "switchboard-worker") -> Any:
    """The faust app with the agents of this worker's roles."""
    from .dedup import register_dedup

    app = create_app(
        settings,
        app_id,
        store=settings.worker.store,
        processing_guarantee=settings.worker.processing_guarantee,
        # events as large as the ingest server accepts (streams.kafka)
        producer_max_request_size=MAX_MESSAGE_BYTES,
        consumer_max_fetch_size=MAX_MESSAGE_BYTES,
    )
    if "dedup" in settings.worker.roles:
        for name in connectors.names():
            register_dedup(app, settings, name)
    return app


def _sinks(settings: Settings) -> list[Sink]:
    return build_sinks(settings) if "sink" in settings.worker.roles else []


def _pollers(settings: Settings) -> list[Poller]:
    if "poll" not in settings.worker.roles:
        return []
    targets = build_polls(settings)
    return [Poller(settings, targets)] if targets else []


Readiness = Callable[[], Mapping[str, tuple[bool, str]]]


def _http_server(
    settings: Settings,
    sinks: list[Sink],
    pollers: list[Poller],
    readiness: Readiness | None = None,
) -> Any:
    from .ingest import IngestServer, build_routes

    routes = build_routes(settings) if "ingest" in settings.worker.roles else {}

    def health() -> dict[str, tuple[bool, str]]:
        checks = {f"sink:{s.name}": (s.health.ok, s.health.detail) for s in sinks}
        for poller in pollers:
            checks.update(poller.health())
        return checks

    return IngestServer(settings, routes, health=health, readiness=readiness)


def _worker_services(settings: Settings, app: Any) -> Any:
    """The HTTP server and the sinks as a mode service started and stopped with faust;
    ``/readyz`` waits for ``app``'s tables (:func:`streams.dedup.dedup_readiness`)."""
    from mode import Service

    from .dedup import dedup_readiness

    sinks = _sinks(settings)
    pollers = _pollers(settings)
    server = _http_server(settings, sinks, pollers, lambda: {"dedup": dedup_readiness(app)})

    class WorkerServices(Service):
        tasks: list[asyncio.Task[None]]

        async def on_start(self) -> None:
            port = await server.start()
            log.info(
                "HTTP on %s:%s; webhooks for %s", settings.worker.host, port, sorted(server.routes)
            )
            self.tasks = [asyncio.create_task(_run_sink(s)) for s in sinks]
            self.tasks += [asyncio.create_task(_run_poller(p)) for p in pollers]

        async def on_stop(self) -> None:
            for sink in sinks:
                sink.stop()
            for poller in pollers:
                poller.stop()
            await asyncio.gather(*self.tasks, return_exceptions=True)
            await server.stop()

    return WorkerServices()


async def _run_sink(sink: Sink) -> None:
    try:
        await sink.run()
    except Exception as exc:  # reported, not fatal to the other roles
        sink.health.ok, sink.health.detail = False, f"stopped: {exc}"
        log.error("sink %s stopped: %s", sink.name, exc)


async def _run_poller(poller: Poller) -> None:
    try:
        await poller.run()
    except Exception as exc:  # reported, not fatal to the other roles
        log.error("poller stopped: %s", exc)


def prepare(settings: Settings) -> None:
    """Check Kafka and create the topics; raises KafkaUnavailable."""
    if not kafka_ready(settings):
        raise KafkaUnavailable(
            f"cannot reach Kafka at {settings.bootstrap_servers}: {HOW_TO_START}"
        )
    specs = shared_topics(settings)
    for name in connectors.names():
        specs += connector_topics(settings, name)
    asyncio.run(ensure_topics(settings, specs))


FAUST_ROLES = {"dedup"}


async def _serve_without_faust(settings: Settings) -> None:
    """A worker without faust roles (ingest and/or sink): the HTTP server
    and the sinks, no faust app, until SIGTERM/SIGINT."""
    import signal

    sinks = _sinks(settings)
    pollers = _pollers(settings)
    server = _http_server(settings, sinks, pollers)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    port = await server.start()
    log.info("HTTP on %s:%s; webhooks for %s", settings.worker.host, port, sorted(server.routes))
    tasks = [asyncio.create_task(_run_sink(s)) for s in sinks]
    tasks += [asyncio.create_task(_run_poller(p)) for p in pollers]
    try:
        await stop.wait()
    finally:
        for sink in sinks:
            sink.stop()
        for poller in pollers:
            poller.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.stop()


def run_worker(settings: Settings) -> None:
    """Run until SIGTERM/SIGINT."""
    configure_logging(settings.log_level)
    prepare(settings)
    if not FAUST_ROLES & set(settings.worker.roles):
        asyncio.run(_serve_without_faust(settings))
        return
    import faust

    app = build_faust_app(settings)
    log.info("dedup processing guarantee: %s", settings.worker.processing_guarantee)
    worker = faust.Worker(
        app,
        _worker_services(settings, app),
        loglevel=settings.log_level.lower(),
        logging_config=logging_config(settings.log_level),
    )
    # faust's progress spinner (below INFO) adds a handler of its own to the
    # root logger, outside our format and our redaction filter.
    worker.spinner = None
    worker.execute_from_commandline()
