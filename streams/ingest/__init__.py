"""The ingest role: verified webhooks into ``<c>.ingest``.

:class:`WebhookIngest` answers ``POST /webhooks/<c>`` for every connector
in its routes (:func:`build_routes`); the worker's HTTP server
(:class:`streams.worker.http_server.WorkerHttpServer`) hosts it beside
``/healthz``, ``/readyz`` and ``/metrics``.

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
- slow and idle connections are bounded by the worker's HTTP server (see
  :mod:`streams.worker.connections`).
- Nothing is produced for any 4xx. A 503 may still leave the record in
  Kafka once it recovers; the provider's retry then duplicates it and the
  dedup processor drops the duplicate (at-least-once into ``<c>.ingest``,
  exactly one event per id on ``<c>.events``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web
from aiokafka import AIOKafkaProducer
from prometheus_client import Counter, Histogram

import connectors
from core.connector import Connector, MalformedPayload, WebhookSpec
from core.envelopes import Event, utcnow
from core.webhooks import VerificationError, Verifier

from .. import kafka
from ..kafka.topics import TopicNames
from ..settings import Settings, SettingsError
from .body import DECODERS, BodyRefused, decode, read_body, refused_encodings

__all__ = ["Route", "WebhookIngest", "build_routes"]

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
        verifier = _verifier(spec, settings, name)
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


def _verifier(spec: WebhookSpec[Any], settings: Settings, name: str) -> Verifier | None:
    """The route's verifier; a webhook setting that cannot verify (an empty
    secret, a key that does not load) is a :class:`SettingsError` naming the
    section, so the worker stops at start with one line, not a traceback."""
    try:
        verifier: Verifier | None = spec.verifier(settings.section(name))
    except ValueError as exc:  # pydantic's ValidationError is one
        errors = getattr(exc, "errors", None)
        reason = "; ".join(str(err["msg"]) for err in errors()) if errors else str(exc)
        variable = f"SWITCHBOARD_{name.upper()}"
        raise SettingsError(
            f"{name} webhooks cannot verify with these settings: {reason}"
            f" (fix {variable}__* or the {name} section of the config file;"
            " unset the secret to turn these webhooks off)"
        ) from None
    return verifier


def _reply(
    status: int, connector: str, outcome: str, started: float, **headers: str
) -> web.Response:
    WEBHOOKS.labels(connector, outcome).inc()
    WEBHOOK_SECONDS.labels(connector).observe(time.perf_counter() - started)
    response = web.Response(status=status, body=_TEXT.get(status, b""), headers=headers or None)
    if status in (400, 408, 413, 415):
        response.force_close()  # the rest of the body may still be on its way
    return response


class WebhookIngest:
    """``POST /webhooks/<c>`` for the connectors in ``routes``: the body read,
    verified, normalized and produced to ``<c>.ingest``, answered 2xx only
    once Kafka acknowledged it."""

    def __init__(
        self,
        settings: Settings,
        routes: Mapping[str, Route],
        *,
        producer: AIOKafkaProducer | None = None,
    ) -> None:
        self.settings = settings
        self.routes = dict(routes)
        self._producer = producer
        self._own_producer = producer is None

    async def start(self) -> None:
        """Start the producer (if there are routes and none was given)."""
        if self._producer is None and self.routes:
            self._producer = kafka.producer(self.settings, linger_ms=2)
            await asyncio.wait_for(self._producer.start(), self.settings.kafka.connect_timeout_s)

    async def stop(self) -> None:
        if self._producer is not None and self._own_producer:
            await self._producer.stop()
            self._producer = None

    @staticmethod
    def not_found() -> web.Response:
        """The answer for a webhook path that is not served (e.g. on the ops port)."""
        return _reply(404, "-", "unknown_connector", time.perf_counter())

    async def handle(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        name = request.match_info["connector"]
        route = self.routes.get(name)
        if route is None:
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
