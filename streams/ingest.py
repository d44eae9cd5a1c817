"""The ingest server: verified webhooks into ``<c>.ingest``.

Routes: ``POST /webhooks/<c>`` per configured connector, ``GET /healthz``,
``GET /readyz`` (Kafka answers), ``GET /metrics`` (Prometheus).

The contract with providers:

- 2xx only after Kafka acknowledged every record of the delivery (idempotent
  producer, ``acks=all``), keyed by the Event's ``dedup_key`` (the provider
  event id, or the signed body's digest where the provider signs no id);
- the body is read whole (however it is split or chunked) up to the
  connector's size limit, within ``worker.body_timeout_s``;
- 401 for a missing or bad signature or a stale timestamp, checked on the
  raw bytes as received before anything is decoded or parsed; 400 for a
  verified body that cannot be decoded, normalized or encoded (e.g. JSON
  nested deeper than the envelope encoder's 255 levels); 408 for a body
  slower than the body timeout; 413 above the connector's size limit or
  above the largest Kafka record (``streams.kafka.MAX_RECORD_BYTES``); 415
  for a ``Content-Encoding`` the provider does not use; 404 for an unknown
  or unconfigured connector; 405 for other methods; 503 with
  ``Retry-After`` when Kafka does not acknowledge within the connector's
  deadline (below the provider's own timeout). Error bodies are short fixed
  texts: nothing of the request is echoed.
- slow and idle connections are bounded (see :mod:`streams._ingest_http`);
  ``/healthz``, ``/readyz`` and ``/metrics`` can be moved to their own
  address (``worker.ops_host``/``ops_port``) and require a bearer token
  (``worker.ops_token``).
- Nothing is produced for any 4xx. A 503 may still leave the record in
  Kafka once it recovers; the provider's retry then duplicates it and the
  dedup processor drops the duplicate (at-least-once into ``<c>.ingest``,
  exactly one event per id on ``<c>.events``).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web
from aiokafka import AIOKafkaProducer
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

import connectors
from core.connector import Connector, MalformedPayload
from core.envelopes import Event, utcnow
from core.redaction import register_secret
from core.settings import Settings
from core.webhooks import VerificationError, Verifier

from . import kafka
from ._ingest_body import DECODERS, BodyRefused, decode, read_body, refused_encodings
from ._ingest_http import (
    ConnectionLimits,
    IngestRunner,
    connection_counts,
    default_max_connections,
    track_requests,
)
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
Handler = Callable[[web.Request], Awaitable[web.Response]]

_TEXT = {
    200: b"ok",
    400: b"malformed body",
    401: b"invalid signature",
    404: b"unknown connector",
    408: b"request body timeout",
    413: b"payload too large",
    415: b"unsupported content encoding",
    503: b"kafka unavailable, retry later",
}


@dataclass(frozen=True)
class Route:
    connector: Connector
    verifier: Verifier
    topic: str
    max_body_bytes: int
    ack_deadline_s: float
    content_encodings: frozenset[str] = frozenset()


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
        unknown = spec.content_encodings - {*DECODERS, "deflate"}
        if unknown:
            raise ValueError(f"{name}: no decoder for content encodings {sorted(unknown)}")
        routes[name] = Route(
            connector,
            verifier,
            topics.ingest(name),
            spec.max_body_bytes,
            spec.ack_deadline_s,
            spec.content_encodings,
        )
    return routes


def _reply(
    status: int, connector: str, outcome: str, started: float, **headers: str
) -> web.Response:
    WEBHOOKS.labels(connector, outcome).inc()
    WEBHOOK_SECONDS.labels(connector).observe(time.perf_counter() - started)
    response = web.Response(status=status, body=_TEXT.get(status, b""), headers=headers or None)
    if status in (400, 408, 413, 415):
        response.force_close()  # the rest of the body may still be on its way
    return response


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
        readiness: Callable[[], Mapping[str, tuple[bool, str]]] | None = None,
    ) -> None:
        self.settings = settings
        self.health = health
        self.readiness = readiness
        self.routes = dict(routes)
        self._producer = producer
        self._own_producer = producer is None
        self._runner: web.AppRunner | None = None
        self.port: int | None = None
        self.ops_port: int | None = None
        if settings.worker.ops_token is not None:
            register_secret(settings.worker.ops_token.get_secret_value())
        self.app = web.Application()
        track_requests(self.app)
        self.app.router.add_post("/webhooks/{connector}", self.handle_webhook)
        for path, ops_handler in (
            ("/healthz", self.healthz),
            ("/readyz", self.readyz),
            ("/metrics", self.metrics),
        ):
            self.app.router.add_get(path, self._guarded(ops_handler))

    # lifecycle -----------------------------------------------------------
    async def start(self, host: str | None = None, port: int | None = None) -> int:
        """Start the producer and listen; returns the bound port."""
        if self._producer is None and self.routes:
            self._producer = kafka.producer(self.settings, linger_ms=2)
            await asyncio.wait_for(self._producer.start(), self.settings.kafka.connect_timeout_s)
        w = self.settings.worker
        limits = ConnectionLimits(
            w.header_timeout_s, w.max_connections or default_max_connections()
        )
        self._runner = IngestRunner(
            self.app, limits, keepalive_timeout=w.keepalive_timeout_s, auto_decompress=False
        )
        await self._runner.setup()
        self.port = await self._listen(limits, host or w.host, w.port if port is None else port)
        if w.ops_port is not None:
            self.ops_port = await self._listen(limits, w.ops_host, w.ops_port)
        return self.port

    async def _listen(self, limits: ConnectionLimits, host: str, port: int) -> int:
        assert self._runner is not None
        site = web.TCPSite(
            self._runner, host, port, reuse_address=True, backlog=limits.accept_backlog
        )
        await site.start()
        return site.port

    @property
    def open_connections(self) -> int:
        """Connections open on this server now (the metrics gauge sums all)."""
        return connection_counts(self._runner)[0]

    @property
    def requests_in_progress(self) -> int:
        return connection_counts(self._runner)[1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._producer is not None and self._own_producer:
            await self._producer.stop()
            self._producer = None

    # handlers --------------------------------------------------------------
    def _on_ops_port(self, request: web.Request) -> bool:
        if self.ops_port is None or request.transport is None:
            return False
        sockname = request.transport.get_extra_info("sockname")
        return isinstance(sockname, tuple) and sockname[1] == self.ops_port

    def _guarded(self, handler: Handler) -> Handler:
        """``handler`` answering only on the ops listener and with the ops token."""

        async def guarded(request: web.Request) -> web.Response:
            refusal = self._ops_refusal(request)
            return refusal if refusal is not None else await handler(request)

        return guarded

    def _ops_refusal(self, request: web.Request) -> web.Response | None:
        """404 off the ops listener (when there is one), 401 without the ops token."""
        if self.ops_port is not None and not self._on_ops_port(request):
            return web.Response(status=404, body=b"not found")
        token = self.settings.worker.ops_token
        if token is None:
            return None
        given = request.headers.get("Authorization", "").encode()
        if hmac.compare_digest(given, b"Bearer " + token.get_secret_value().encode()):
            return None
        return web.Response(
            status=401, body=b"bearer token required", headers={"WWW-Authenticate": "Bearer"}
        )

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
        """200 once Kafka answers and every part is ready (the dedup tables
        restored from their changelogs); 503 with one reason per part that
        is not, e.g. ``dedup: recovering tables``."""
        from .worker import kafka_ready

        kafka = await asyncio.to_thread(kafka_ready, self.settings)
        parts = dict(self.readiness()) if self.readiness is not None else {}
        reasons = [] if kafka else ["kafka: not reachable"]
        reasons += [f"{name}: {detail}" for name, (ok, detail) in parts.items() if not ok]
        body = {"ready": not reasons, "kafka": kafka, "reasons": reasons}
        return web.json_response(body, status=503 if reasons else 200)

    async def metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def handle_webhook(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        name = request.match_info["connector"]
        route = self.routes.get(name)
        if route is None or self._on_ops_port(request):
            return _reply(404, "-", "unknown_connector", started)
        headers = request.headers
        try:
            if refused_encodings(headers, route.content_encodings):
                raise BodyRefused(415, "unsupported_encoding")
            body = await read_body(
                request, route.max_body_bytes, self.settings.worker.body_timeout_s
            )
        except BodyRefused as refused:
            return _reply(refused.status, name, refused.outcome, started)
        try:
            verified = route.verifier.verify(body, headers, url=request.path_qs)
        except VerificationError as exc:
            # malformed_body: refused before any signature work (e.g. Twilio's parameter cap)
            status = 400 if exc.reason == "malformed_body" else 401
            return _reply(status, name, f"rejected_{exc.reason}", started)
        try:
            body = decode(body, headers, route.max_body_bytes)
        except BodyRefused as refused:
            return _reply(refused.status, name, refused.outcome, started)
        spec = route.connector.webhook
        assert spec is not None
        handshake = spec.handshake(body, headers)
        if handshake is not None:
            WEBHOOKS.labels(name, "handshake").inc()
            return web.Response(
                status=handshake.status, body=handshake.body, content_type=handshake.content_type
            )
        try:
            events = spec.normalize(body, headers, utcnow(), verified)
        except MalformedPayload:
            return _reply(400, name, "malformed", started)
        if not events:
            return _reply(200, name, "empty", started)
        try:
            records = [_record(event) for event in events]
        except orjson.JSONEncodeError:  # e.g. nested deeper than orjson's 255 levels
            return _reply(400, name, "unencodable", started)
        except BodyRefused as refused:
            return _reply(refused.status, name, refused.outcome, started)
        if not await self._produce(route, records):
            return _reply(
                503, name, "kafka_unavailable", started, **{"Retry-After": str(RETRY_AFTER_S)}
            )
        return _reply(200, name, "accepted", started)

    async def _produce(self, route: Route, records: Sequence[tuple[bytes, bytes]]) -> bool:
        """True once Kafka acknowledged every event within the deadline.

        On a timeout the sends are not cancelled: the records may still
        reach Kafka, and the provider's retry then becomes a duplicate that
        dedup drops.
        """
        producer = self._producer
        if producer is None:
            return False
        acks: list[asyncio.Future[Any]] = []
        try:
            async with asyncio.timeout(route.ack_deadline_s):
                for key, value in records:
                    acks.append(await producer.send(route.topic, value, key=key, headers=_HEADERS))
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


_HEADERS = [("content-type", Event.CONTENT_TYPE.encode())]


def _record(event: Event) -> tuple[bytes, bytes]:
    """(key, value) of an event's record; 413 if Kafka could not take it."""
    key, value = event.dedup_key.encode(), event.to_json()
    if len(key) + len(value) + 64 > kafka.MAX_RECORD_BYTES:  # 64: the header
        raise BodyRefused(413, "too_large")
    return key, value


def _consume_exception(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()
