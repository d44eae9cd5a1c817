"""Standard Webhooks v1a (ed25519) through the real ingest server and broker:
a delivery signed with the configured key's private half is on
``generic.ingest`` before the 200; a wrong key, a tampered body or a replay
under a new id is a 401 and produces nothing."""

from __future__ import annotations

import uuid

import httpx
import orjson
import pytest

import connectors
from core.envelopes import Event
from core.testing import signing
from streams.ingest import build_routes
from streams.kafka.topics import TopicNames, connector_topics, ensure_topics
from streams.settings import load_settings
from streams.worker.http_server import WorkerHttpServer
from tests.integration.ingest_support import ingest_settings
from tests.kafkatools import end_offsets, read_topic

pytestmark = pytest.mark.integration


async def test_v1a_delivery_is_acked_and_wrong_signatures_are_401(
    kafka_bootstrap: str, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    private_key, public_key = signing.generate_standard_webhooks_key()
    other_private, _ = signing.generate_standard_webhooks_key()
    ingest_settings(monkeypatch, kafka_bootstrap, topic_prefix)
    monkeypatch.setenv(
        "SWITCHBOARD_GENERIC__WEBHOOK_PUBLIC_KEYS", orjson.dumps([public_key]).decode()
    )
    settings = load_settings(sections=connectors.settings_sections())
    await ensure_topics(settings, connector_topics(settings, "generic"))
    ingest = TopicNames.from_settings(settings).ingest("generic")
    server = WorkerHttpServer(settings, build_routes(settings, ["generic"]))
    await server.start(host="127.0.0.1", port=0)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as http:
            body = orjson.dumps({"type": "invoice.paid", "data": {"id": "in_1"}})
            msg_id = f"msg_{uuid.uuid4().hex}"
            good = signing.sign_standard_webhooks(body, private_key, msg_id=msg_id)
            forged = signing.sign_standard_webhooks(body, other_private, msg_id=msg_id)
            before = await end_offsets(settings, ingest)
            refused = [
                (body, forged),
                (body + b" ", good),
                (body, dict(good, **{"webhook-id": msg_id + "_new"})),
                (body, {k: v for k, v in good.items() if k != "webhook-signature"}),
            ]
            for content, headers in refused:
                response = await http.post("/webhooks/generic", content=content, headers=headers)
                assert response.status_code == 401
            assert await end_offsets(settings, ingest) == before
            response = await http.post("/webhooks/generic", content=body, headers=good)
            assert response.status_code == 200
    finally:
        await server.stop()
    (record,) = await read_topic(settings, ingest)
    assert Event.from_json(record.value).id == msg_id
