"""The worker process: the faust app plus its HTTP endpoints.

Before faust starts, the worker checks that Kafka answers (failing fast
with a clear message rather than retrying forever) and creates the topics of
every installed connector. ``GET /healthz`` answers while the process runs;
``GET /readyz`` answers 200 only while Kafka answers.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import connectors
from core.settings import Settings

from . import localkafka
from .app import create_app
from .kafka import HOW_TO_START, KafkaUnavailable
from .topics import connector_topics, ensure_topics, shared_topics

__all__ = ["build_worker_app", "kafka_ready", "run_worker"]

log = logging.getLogger(__name__)


def kafka_ready(settings: Settings) -> bool:
    """True if any bootstrap server answers a Kafka ApiVersions request."""
    servers = localkafka.parse_servers(settings.bootstrap_servers)
    return any(
        localkafka.probe(host, port, timeout=1.0) is localkafka.PortState.KAFKA
        for host, port in servers
    )


def build_worker_app(settings: Settings) -> Any:
    import faust
    from faust.web import Request, Response, View

    app = create_app(settings, "switchboard-worker", web_port=settings.worker.port)

    @app.page("/healthz")
    class Health(View):
        async def get(self, request: Request) -> Response:
            return self.json({"status": "ok", "roles": settings.worker.roles})

    @app.page("/readyz")
    class Ready(View):
        async def get(self, request: Request) -> Response:
            ok = await asyncio.to_thread(kafka_ready, settings)
            return self.json({"kafka": ok}, status=200 if ok else 503)

    _ = faust  # imported for its side effects on the app's web driver
    return app


def run_worker(settings: Settings) -> None:
    """Run until interrupted. Raises KafkaUnavailable if Kafka never answered."""
    if not kafka_ready(settings):
        raise KafkaUnavailable(
            f"cannot reach Kafka at {settings.bootstrap_servers}: {HOW_TO_START}"
        )
    specs = shared_topics(settings)
    for name in connectors.names():
        specs += connector_topics(settings, name)
    asyncio.run(ensure_topics(settings, specs))

    import faust

    app = build_worker_app(settings)
    worker = faust.Worker(app, loglevel=settings.log_level.lower())
    worker.execute_from_commandline()
