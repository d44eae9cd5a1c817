"""The ingest server: verified webhooks into ``<c>.ingest``.

Routes: ``POST /webhooks/<c>`` per configured connector, ``GET /healthz``,
``GET /readyz`` (Kafka answers), ``GET /metrics`` (Prometheus).

The contract with providers:

- 2xx only after Kafka acknowledged every record of the delivery (idempotent
  producer, ``acks=all``), keyed by the provider event id;
- 401 for a missing or bad signature or a stale timestamp, checked on the
  raw bytes before anything is parsed; 400 for a verified body that cannot
  be normalized; 413 above the connector's size limit; 404 for an unknown or
  unconfigured connector; 405 for other methods; 503 with ``Retry-After``
  when Kafka does not acknowledge within the connector's deadline (below the
  provider's own timeout). Error bodies are short fixed texts: nothing of the
  request is echoed.
- Nothing is produced for any 4xx. A 503 may still leave the record in
  Kafka once it recovers; the provider's retry then duplicates it and the
  dedup processor drops the duplicate (at-least-once into ``<c>.ingest``,
  exactly one event per id on ``<c>.events``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiokafka import AIOKafkaProducer
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

import connectors
from core.connector import Connector, MalformedPayload, Verifier
from core.envelopes import Event, utcnow
from core.settings import Settings
from core.webhooks import VerificationError

from . import kafka
from .topics import TopicNames

__all__ = ["IngestServer", "Route", "build_routes"]

log = logging.getLogger(__name__)

WEBHOOKS = Counter(
    "switchboard_webhooks_total",
    "Webhook deliveries by connector and outcome",
    ["connector", "outcome"],
)
WEBHOOK_SECONDS = Histogram(
    "switchboard_webhook_seconds",
    "Time from request to response for webhook deliveries",
    ["connector"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RETRY_AFTER_S = 5

_TEXT = {
    200: b"ok",
    400: b"malformed body",
    401: b"invalid signature",
    404: b"unknown connector",
    413: b"payload too large",
    503: b"kafka unavailable, retry later",
}


@dataclass(frozen=True)
class Route:
    connector: Connector
    verifier: Verifier
    topic: str
    max_body_bytes: int
    ack_deadline_s: float


def build_routes(settings: Settings, names: list[str] | None = None) -> dict[str, Route]:
    """A route for each connector with a webhook spec and a configured secret."""
    topics = TopicNames.from_settings(settings)
    routes: dict[str, Route] = {}
    for name, connector in connectors.registry().items():
        if names is not None and name not in names:
            continue
        spec = connector.webhook
        if spec is None:
            continue
        verifier = spec.verifier(settings.section(name))
        if verifier is None:
            log.info("webhooks for %s are off: no secret configured", name)
            continue
        routes[name] = Route(
            connector, verifier, topics.ingest(name), spec.max_body_bytes, spec.ack_deadline_s
        )
    return routes


def _reply(
    status: int, connector: str, outcome: str, started: float, **headers: str
) -> web.Response:
    WEBHOOKS.labels(connector, outcome).inc()
    WEBHOOK_SECONDS.labels(connector).observe(time.perf_counter() - started)
    return web.Response(status=status, body=_TEXT.get(status, b""), headers=headers or None)


class IngestServer:
    """The worker's HTTP server. Webhook routes exist only for the
    connectors in ``routes``; health endpoints always."""

    def __init__(
        self,
        settings: Settings,
        routes: Mapping[str, Route],
        *,
        producer: AIOKafkaProducer | None = None,
        health: Callable[[], Mapping[str, tuple[bool, str]]] | None = None,
    ) -> None:
        self.settings = settings
        self.health = health
        self.routes = dict(routes)
        self._producer = producer
        self._own_producer = producer is None
        self._runner: web.AppRunner | None = None
        self.port: int | None = None
        self.app = web.Application(
            client_max_size=max([r.max_body_bytes for r in self.routes.values()] or [1024 * 1024])
            + 1
        )
        self.app.router.add_post("/webhooks/{connector}", self.handle_webhook)
        self.app.router.add_get("/healthz", self.healthz)
        self.app.router.add_get("/readyz", self.readyz)
        self.app.router.add_get("/metrics", self.metrics)

    # lifecycle -----------------------------------------------------------
    async def start(self, host: str | None = None, port: int | None = None) -> int:
        """Start the producer and listen; returns the bound port."""
        if self._producer is None and self.routes:
            self._producer = kafka.producer(self.settings, linger_ms=2)
            await asyncio.wait_for(self._producer.start(), self.settings.kafka.connect_timeout_s)
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(
            self._runner,
            host or self.settings.worker.host,
            self.settings.worker.port if port is None else port,
            reuse_address=True,
            backlog=1024,
        )
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []
        self.port = int(sockets[0].getsockname()[1]) if sockets else port
        return int(self.port or 0)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._producer is not None and self._own_producer:
            await self._producer.stop()
            self._producer = None

    # handlers --------------------------------------------------------------
    async def healthz(self, request: web.Request) -> web.Response:
        """200 while every part of the worker can do its job; 503 (with the
        reason per part) once one cannot, e.g. a sink stopped on a 401."""
        parts = dict(self.health()) if self.health is not None else {}
        ok = all(good for good, _detail in parts.values())
        body = {
            "status": "ok" if ok else "unhealthy",
            "roles": self.settings.worker.roles,
            "pid": os.getpid(),
            "checks": {name: {"ok": good, "detail": d} for name, (good, d) in parts.items()},
        }
        return web.json_response(body, status=200 if ok else 503)

    async def readyz(self, request: web.Request) -> web.Response:
        from .worker import kafka_ready

        ok = await asyncio.to_thread(kafka_ready, self.settings)
        return web.json_response({"kafka": ok}, status=200 if ok else 503)

    async def metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def handle_webhook(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        name = request.match_info["connector"]
        route = self.routes.get(name)
        if route is None:
            return _reply(404, "-", "unknown_connector", started)
        if request.content_length is not None and request.content_length > route.max_body_bytes:
            return _reply(413, name, "too_large", started)
        body = await request.content.read(route.max_body_bytes + 1)
        if len(body) > route.max_body_bytes:
            return _reply(413, name, "too_large", started)
        headers = request.headers
        try:
            route.verifier.verify(body, headers, url=request.path_qs)
        except VerificationError as exc:
            return _reply(401, name, f"rejected_{getattr(exc, 'reason', 'signature')}", started)
        spec = route.connector.webhook
        assert spec is not None
        handshake = spec.handshake(body, headers)
        if handshake is not None:
            WEBHOOKS.labels(name, "handshake").inc()
            return web.Response(
                status=handshake.status, body=handshake.body, content_type=handshake.content_type
            )
        try:
            events = spec.normalize(body, headers, utcnow())
        except MalformedPayload:
            return _reply(400, name, "malformed", started)
        if not events:
            return _reply(200, name, "empty", started)
        if not await self._produce(route, events):
            return _reply(
                503, name, "kafka_unavailable", started, **{"Retry-After": str(RETRY_AFTER_S)}
            )
        return _reply(200, name, "accepted", started)

    async def _produce(self, route: Route, events: Sequence[Event]) -> bool:
        """True once Kafka acknowledged every event within the deadline.

        On a timeout the sends are not cancelled: the records may still
        reach Kafka, and the provider's retry then becomes a duplicate that
        dedup drops.
        """
        producer = self._producer
        if producer is None:
            return False
        headers = [("content-type", Event.CONTENT_TYPE.encode())]
        acks: list[asyncio.Future[Any]] = []
        try:
            async with asyncio.timeout(route.ack_deadline_s):
                for event in events:
                    acks.append(
                        await producer.send(
                            route.topic, event.to_json(), key=event.id.encode(), headers=headers
                        )
                    )
                for ack in acks:
                    await asyncio.shield(ack)
        except TimeoutError:
            for ack in acks:
                ack.add_done_callback(_consume_exception)
            return False
        except Exception as exc:
            log.warning("producing to %s failed: %s", route.topic, type(exc).__name__)
            return False
        return True


def _consume_exception(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()
