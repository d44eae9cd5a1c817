"""Shared by the ingest server's integration tests: settings for a test's
own topic namespace, a running server, and signed deliveries."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import orjson
import pytest
from prometheus_client import REGISTRY

import connectors
from streams.ingest import Route, build_routes
from streams.kafka.topics import connector_topics, ensure_topics
from streams.settings import Settings, load_settings
from streams.worker.http_server import WorkerHttpServer

STRIPE_SECRET = "whsec_test_" + "h" * 24
GITHUB_SECRET = "It's a Secret to Everybody"
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


def ingest_settings(
    monkeypatch: pytest.MonkeyPatch,
    kafka_bootstrap: str,
    topic_prefix: str,
    **worker: object,
) -> Settings:
    """Settings with stripe, github and slack secrets; ``worker`` items become
    ``SWITCHBOARD_WORKER__<NAME>`` variables."""
    for key in list(os.environ):
        if key.startswith("SWITCHBOARD_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS", kafka_bootstrap)
    monkeypatch.setenv("SWITCHBOARD_KAFKA__TOPIC_PREFIX", topic_prefix)
    monkeypatch.setenv(
        "SWITCHBOARD_STRIPE__WEBHOOK_SECRETS", orjson.dumps([STRIPE_SECRET]).decode()
    )
    monkeypatch.setenv(
        "SWITCHBOARD_GITHUB__WEBHOOK_SECRETS", orjson.dumps([GITHUB_SECRET]).decode()
    )
    monkeypatch.setenv("SWITCHBOARD_SLACK__SIGNING_SECRETS", orjson.dumps([SLACK_SECRET]).decode())
    for name, value in worker.items():
        monkeypatch.setenv(f"SWITCHBOARD_WORKER__{name.upper()}", str(value))
    return load_settings(sections=connectors.settings_sections())


@asynccontextmanager
async def running_server(
    settings: Settings, routes: Mapping[str, Route] | None = None
) -> AsyncIterator[WorkerHttpServer]:
    """The ingest server for stripe and github on a free loopback port."""
    specs = connector_topics(settings, "stripe") + connector_topics(settings, "github")
    await ensure_topics(settings, specs)
    server = WorkerHttpServer(
        settings, build_routes(settings, ["stripe", "github"]) if routes is None else routes
    )
    await server.start(host="127.0.0.1", port=0)
    try:
        yield server
    finally:
        await server.stop()


def stripe_event(event_id: str | None = None, pad: int = 0) -> bytes:
    """A Stripe event, ``pad`` bytes of description making it as large as needed."""
    return orjson.dumps(
        {
            "id": event_id or f"evt_{uuid.uuid4().hex[:16]}",
            "object": "event",
            "type": "payment_intent.succeeded",
            "created": 1_763_900_000,
            "data": {
                "object": {"id": "pi_1", "object": "payment_intent", "description": "x" * pad}
            },
        }
    )


def metric(name: str, **labels: str) -> float:
    """A sample of this process's Prometheus registry (0 when absent)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0
