"""Kafka stops under the ingest server: 503 with Retry-After, and the
provider's retry after Kafka is back lands exactly once on the events topic.

Uses a broker of its own (the session broker must stay up for other tests).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

import connectors
from core.envelopes import Event
from core.testing.signing import sign_stripe
from streams import localkafka
from streams.ingest import build_routes
from streams.kafka.topics import TopicNames, connector_topics, ensure_topics
from streams.settings import LocalKafkaSettings, Settings, load_settings
from streams.worker import build_faust_app
from streams.worker.http_server import WorkerHttpServer
from tests.conftest import free_port
from tests.kafkatools import read_topic

pytestmark = pytest.mark.integration

SECRET = "whsec_outage_" + "o" * 20


@pytest.fixture
def own_broker(kafka_bootstrap: str, tmp_path: Path) -> Iterator[LocalKafkaSettings]:
    home = load_settings().local_kafka.home  # jars already cached by the session broker
    cfg = LocalKafkaSettings(
        home=home, run_root=tmp_path / "run", port=free_port(), controller_port=free_port()
    )
    localkafka.start(cfg)
    try:
        yield cfg
    finally:
        localkafka.stop(cfg)
        shutil.rmtree(localkafka.run_dir(cfg), ignore_errors=True)


@pytest.fixture
def outage_settings(
    own_broker: LocalKafkaSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    for key in list(os.environ):
        if key.startswith("SWITCHBOARD_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS", f"127.0.0.1:{own_broker.port}")
    monkeypatch.setenv("SWITCHBOARD_STRIPE__WEBHOOK_SECRETS", orjson.dumps([SECRET]).decode())
    monkeypatch.setenv("SWITCHBOARD_WORKER__DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SWITCHBOARD_WORKER__ROLES", '["ingest", "dedup"]')
    return load_settings(sections=connectors.settings_sections())


def delivery(event_id: str) -> tuple[bytes, dict[str, str]]:
    body = orjson.dumps(
        {
            "id": event_id,
            "type": "charge.succeeded",
            "created": 1,
            "data": {"object": {"id": "ch_1"}},
        }
    )
    return body, sign_stripe(body, SECRET)


async def test_kafka_down_is_503_and_the_retry_lands_once(
    outage_settings: Settings, own_broker: LocalKafkaSettings
) -> None:
    await ensure_topics(outage_settings, connector_topics(outage_settings, "stripe"))
    routes = {
        name: dataclasses.replace(route, ack_deadline_s=2.0)
        for name, route in build_routes(outage_settings, ["stripe"]).items()
    }
    server = WorkerHttpServer(outage_settings, routes)
    port = await server.start(host="127.0.0.1", port=0)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            body, headers = delivery("evt_before")
            assert (
                await http.post("/webhooks/stripe", content=body, headers=headers)
            ).status_code == 200

            await asyncio.to_thread(localkafka.stop, own_broker)
            body, headers = delivery("evt_during")
            response = await http.post("/webhooks/stripe", content=body, headers=headers)
            assert response.status_code == 503
            assert response.headers["Retry-After"] == "5"
            assert (await http.get("/readyz")).status_code == 503

            await asyncio.to_thread(
                localkafka.start, own_broker
            )  # same data directory: what was acked is still there
            # The provider retries the same delivery (a fresh signature, same event id).
            body, headers = delivery("evt_during")
            response = await http.post("/webhooks/stripe", content=body, headers=headers)
            assert response.status_code == 200
    finally:
        await server.stop()

    names = TopicNames.from_settings(outage_settings)
    app = build_faust_app(outage_settings, f"outage-{uuid.uuid4().hex[:8]}")
    await app.start()
    try:
        records = await read_topic(outage_settings, names.events("stripe"), expect=2)
    finally:
        await app.stop()
    ids = sorted(Event.from_json(r.value).id for r in records)
    assert ids == ["evt_before", "evt_during"]
