"""The dedup processor against the real broker: one event per provider event id."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

import connectors
from core.envelopes import DlqHeaders, Event
from streams import kafka
from streams.kafka.topics import TopicNames, connector_topics, ensure_topics
from streams.settings import Settings, load_settings
from streams.worker import build_faust_app
from tests.kafkatools import read_topic

pytestmark = pytest.mark.integration


@pytest.fixture
async def dedup_settings(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    for key in list(os.environ):
        if key.startswith("SWITCHBOARD_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS", kafka_bootstrap)
    monkeypatch.setenv("SWITCHBOARD_KAFKA__TOPIC_PREFIX", topic_prefix)
    monkeypatch.setenv("SWITCHBOARD_WORKER__DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SWITCHBOARD_WORKER__ROLES", '["dedup"]')
    settings = load_settings(sections=connectors.settings_sections())
    specs = []
    for name in connectors.names():
        specs += connector_topics(settings, name)
    await ensure_topics(settings, specs)
    return settings


@asynccontextmanager
async def dedup_worker(settings: Settings, app_id: str) -> AsyncIterator[Any]:
    app = build_faust_app(settings, app_id)
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


def event(event_id: str, subject: str = "cus_1") -> Event:
    return Event(
        id=event_id,
        source="switchboard/stripe",
        type="stripe.customer.updated",
        subject=subject,
        provider="stripe",
        delivery="webhook",
        data={"id": event_id},
    )


async def produce(settings: Settings, topic: str, items: list[tuple[bytes, bytes]]) -> None:
    async with kafka.connect(settings, kafka.producer(settings)) as producer:
        for key, value in items:
            await producer.send_and_wait(topic, value, key=key)


async def test_five_copies_become_one_event_keyed_by_subject(dedup_settings: Settings) -> None:
    names = TopicNames.from_settings(dedup_settings)
    copy = event("evt_dup").to_json()
    async with dedup_worker(dedup_settings, f"dedup-{uuid.uuid4().hex[:8]}"):
        await produce(dedup_settings, names.ingest("stripe"), [(b"evt_dup", copy)] * 5)
        await produce(
            dedup_settings,
            names.ingest("stripe"),
            [(b"evt_other", event("evt_other", "cus_2").to_json())],
        )
        records = await read_topic(dedup_settings, names.events("stripe"), expect=2)
    assert sorted(r.key for r in records) == [b"cus_1", b"cus_2"]
    assert [Event.from_json(r.value).id for r in records if r.key == b"cus_1"] == ["evt_dup"]


async def test_a_restarted_worker_still_drops_duplicates(dedup_settings: Settings) -> None:
    names = TopicNames.from_settings(dedup_settings)
    app_id = f"dedup-{uuid.uuid4().hex[:8]}"
    first = event("evt_restart").to_json()
    async with dedup_worker(dedup_settings, app_id):
        await produce(dedup_settings, names.ingest("stripe"), [(b"evt_restart", first)])
        assert len(await read_topic(dedup_settings, names.events("stripe"), expect=1)) == 1
    # A new worker process of the same app restores the table from its changelog.
    async with dedup_worker(dedup_settings, app_id):
        await produce(
            dedup_settings,
            names.ingest("stripe"),
            [(b"evt_restart", first), (b"evt_after", event("evt_after", "cus_9").to_json())],
        )
        records = await read_topic(dedup_settings, names.events("stripe"), expect=2)
    assert sorted(Event.from_json(r.value).id for r in records) == ["evt_after", "evt_restart"]


async def test_a_poison_record_is_dead_lettered_and_processing_continues(
    dedup_settings: Settings,
) -> None:
    names = TopicNames.from_settings(dedup_settings)
    ingest = names.ingest("stripe")
    async with dedup_worker(dedup_settings, f"dedup-{uuid.uuid4().hex[:8]}"):
        await produce(
            dedup_settings,
            ingest,
            [(b"evt_poison", b"\x00not an event"), (b"evt_fine", event("evt_fine").to_json())],
        )
        records = await read_topic(dedup_settings, names.events("stripe"), expect=1)
        dead = await read_topic(dedup_settings, names.dlq(ingest), expect=1)
    assert [Event.from_json(r.value).id for r in records] == ["evt_fine"]
    (letter,) = dead
    assert (letter.key, letter.value) == (b"evt_poison", b"\x00not an event")
    headers = DlqHeaders.from_headers(letter.headers)
    assert headers.original_topic == ingest
    assert headers.stage == "dedup"
    assert headers.reason == "invalid_event"
    assert headers.connector == "stripe"


async def test_the_same_webhook_delivered_five_times_is_one_event(
    dedup_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """End to end: five signed POSTs of one delivery -> five ingest records
    (each acknowledged) -> one event."""
    import httpx
    import orjson

    from core.testing.signing import sign_stripe
    from streams.ingest import build_routes
    from streams.worker.http_server import WorkerHttpServer

    secret = "whsec_five_times_0123456789"
    monkeypatch.setenv("SWITCHBOARD_STRIPE__WEBHOOK_SECRETS", orjson.dumps([secret]).decode())
    settings = load_settings(sections=connectors.settings_sections())
    names = TopicNames.from_settings(settings)
    body = orjson.dumps(
        {"id": "evt_five", "type": "invoice.paid", "created": 1, "data": {"object": {"id": "in_5"}}}
    )
    server = WorkerHttpServer(settings, build_routes(settings, ["stripe"]))
    port = await server.start(host="127.0.0.1", port=0)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            for _ in range(5):  # the provider retrying, each time freshly signed
                response = await http.post(
                    "/webhooks/stripe", content=body, headers=sign_stripe(body, secret)
                )
                assert response.status_code == 200
    finally:
        await server.stop()
    assert len(await read_topic(settings, names.ingest("stripe"))) == 5
    from tests.integration.test_dedup_failover import wait_until_consumed

    app_id = f"dedup-five-{uuid.uuid4().hex[:8]}"
    async with dedup_worker(settings, app_id):
        # all five copies consumed (and committed) before we look
        await wait_until_consumed(settings, names.ingest("stripe"), f"{names.prefix}{app_id}")
        records = await read_topic(settings, names.events("stripe"))
    assert [Event.from_json(r.value).id for r in records] == ["evt_five"]
