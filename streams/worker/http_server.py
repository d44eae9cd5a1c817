"""The worker's HTTP server: webhooks, ``/healthz``, ``/readyz``, ``/metrics``.

- ``POST /webhooks/<c>``: the ingest role (:class:`streams.ingest.WebhookIngest`),
  for the connectors in its routes;
- ``GET /healthz``: 200 while every part of the worker can do its job;
- ``GET /readyz``: 200 once Kafka answers (:func:`streams.kafka.kafka_ready`)
  and every part is ready;
- ``GET /metrics``: Prometheus.

``/healthz``, ``/readyz`` and ``/metrics`` can be moved to their own
address (``worker.ops_host``/``ops_port``) and require a bearer token
(``worker.ops_token``). Slow and idle connections are bounded, and parser
errors answered with fixed texts (see :mod:`streams.worker.connections`).
"""

from __future__ import annotations

import asyncio
import hmac
import os
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web
from aiokafka import AIOKafkaProducer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from core.redaction import register_secret

from ..ingest import Route, WebhookIngest
from ..kafka import kafka_ready
from ..settings import Settings
from .connections import (
    ConnectionLimits,
    LimitedRunner,
    connection_counts,
    default_max_connections,
    track_requests,
)

__all__ = ["Checks", "WorkerHttpServer"]

Handler = Callable[[web.Request], Awaitable[web.Response]]
Checks = Callable[[], Mapping[str, tuple[bool, str]]]
"""Named parts and, for each, (ok, detail)."""


class WorkerHttpServer:
    """The worker's HTTP server. Webhook routes exist only for the
    connectors in ``routes``; health endpoints always."""

    def __init__(
        self,
        settings: Settings,
        routes: Mapping[str, Route],
        *,
        producer: AIOKafkaProducer | None = None,
        health: Checks | None = None,
        readiness: Checks | None = None,
    ) -> None:
        self.settings = settings
        self.health = health
        self.readiness = readiness
        self.ingest = WebhookIngest(settings, routes, producer=producer)
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

    @property
    def routes(self) -> dict[str, Route]:
        return self.ingest.routes

    # lifecycle -----------------------------------------------------------
    async def start(self, host: str | None = None, port: int | None = None) -> int:
        """Start the producer and listen; returns the bound port."""
        await self.ingest.start()
        w = self.settings.worker
        limits = ConnectionLimits(
            w.header_timeout_s, w.max_connections or default_max_connections()
        )
        self._runner = LimitedRunner(
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
        await self.ingest.stop()

    # handlers --------------------------------------------------------------
    async def handle_webhook(self, request: web.Request) -> web.Response:
        if self._on_ops_port(request):
            return self.ingest.not_found()
        return await self.ingest.handle(request)

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
        kafka = await asyncio.to_thread(kafka_ready, self.settings)
        parts = dict(self.readiness()) if self.readiness is not None else {}
        reasons = [] if kafka else ["kafka: not reachable"]
        reasons += [f"{name}: {detail}" for name, (ok, detail) in parts.items() if not ok]
        body = {"ready": not reasons, "kafka": kafka, "reasons": reasons}
        return web.json_response(body, status=503 if reasons else 200)

    async def metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})
