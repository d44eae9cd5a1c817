"""Running a worker: check Kafka, create the topics, then run the roles
until SIGTERM/SIGINT.

Before anything starts, the worker checks that Kafka answers (failing fast
with a clear message rather than retrying forever) and creates the topics of
every installed connector. With the ``dedup`` role, faust's worker runs
the app (one dedup agent per connector, :mod:`streams.dedup`) and starts
and stops the other roles (:class:`~streams.worker.roles.WorkerRoles`) as
one of its services, with ``/readyz`` waiting for the dedup tables; without
it, the roles run alone on an asyncio loop.

A stall a role's watchdog could not recover (:mod:`streams.watchdog`) ends
the worker with exit status 1 and its one-line reason on stderr: without
faust the roles are stopped first (calls in flight drain as on SIGTERM);
under faust, whose shutdown cannot be given an exit status, the process
exits at once after the line (no acknowledged record is lost either way:
offsets are committed only for finished work).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from typing import Any

import connectors

from ..app import create_app
from ..kafka import HOW_TO_START, MAX_MESSAGE_BYTES, KafkaUnavailable, kafka_ready
from ..kafka.topics import connector_topics, ensure_topics, resolve_replication, shared_topics
from ..settings import Settings
from ..watchdog import PartitionStalled, StallWatchdog
from .log import configure_logging, logging_config
from .roles import WorkerRoles

__all__ = ["FAUST_ROLES", "build_faust_app", "prepare", "run_worker"]

log = logging.getLogger("streams.worker")

FAUST_ROLES = {"dedup"}


def build_faust_app(settings: Settings, app_id: str = "switchboard-worker") -> Any:
    """The faust app with the agents of this worker's roles."""
    from ..dedup import register_dedup

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


def prepare(settings: Settings) -> Settings:
    """Check Kafka and create the topics; raises KafkaUnavailable. Returns
    ``settings`` with the replication factor the cluster decided
    (:func:`streams.kafka.topics.resolve_replication`)."""
    if not kafka_ready(settings):
        raise KafkaUnavailable(
            f"cannot reach Kafka at {settings.bootstrap_servers}: {HOW_TO_START}"
        )
    specs = shared_topics(settings)
    for name in connectors.names():
        specs += connector_topics(settings, name)

    async def resolve_and_create() -> Settings:
        resolved = await resolve_replication(settings)
        await ensure_topics(resolved, specs)
        return resolved

    return asyncio.run(resolve_and_create())


def _roles_service(settings: Settings, app: Any) -> Any:
    """The roles as a mode service started and stopped with faust;
    ``/readyz`` waits for ``app``'s tables (:func:`streams.dedup.dedup_readiness`)."""
    from mode import Service

    from ..dedup import DedupProbe, dedup_readiness

    def exit_now(reason: str) -> None:
        sys.stderr.write(f"error: {reason}\n")
        sys.stderr.flush()
        os._exit(1)

    dedup_watch = StallWatchdog("dedup", settings.worker.stall_timeout_s)
    watching = "dedup" in settings.worker.roles
    roles = WorkerRoles(
        settings,
        lambda: {"dedup": dedup_readiness(app)},
        on_fatal=exit_now,
        watchdogs=[dedup_watch] if watching else [],
    )

    async def watch_dedup() -> None:
        try:
            await dedup_watch.watch(DedupProbe(app))
        except PartitionStalled as exc:
            exit_now(str(exc))

    tasks: list[asyncio.Task[None]] = []

    class WorkerServices(Service):
        async def on_start(self) -> None:
            await roles.start()
            if watching:
                tasks.append(asyncio.create_task(watch_dedup()))

        async def on_stop(self) -> None:
            for task in tasks:
                task.cancel()
            await roles.stop()

    return WorkerServices()


async def _serve_without_faust(settings: Settings) -> None:
    """A worker without faust roles: the roles alone until SIGTERM/SIGINT."""
    stop = asyncio.Event()
    fatal: list[str] = []

    def on_fatal(reason: str) -> None:
        fatal.append(reason)
        stop.set()

    roles = WorkerRoles(settings, on_fatal=on_fatal)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await roles.start()
    try:
        await stop.wait()
    finally:
        await roles.stop()
    if fatal:
        raise SystemExit(f"error: {fatal[0]}")


def run_worker(settings: Settings) -> None:
    """Run until SIGTERM/SIGINT."""
    configure_logging(settings.log_level)
    settings = prepare(settings)
    if not FAUST_ROLES & set(settings.worker.roles):
        asyncio.run(_serve_without_faust(settings))
        return
    import faust

    app = build_faust_app(settings)
    log.info("dedup processing guarantee: %s", settings.worker.processing_guarantee)
    worker = faust.Worker(
        app,
        _roles_service(settings, app),
        loglevel=settings.log_level.lower(),
        logging_config=logging_config(settings.log_level),
    )
    # faust's progress spinner (below INFO) adds a handler of its own to the
    # root logger, outside our format and our redaction filter.
    worker.spinner = None
    worker.execute_from_commandline()
