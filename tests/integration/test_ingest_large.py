"""Events as large as providers send them: a 20 MiB signed GitHub delivery
goes ingest -> ``github.ingest`` -> dedup -> ``github.events`` on the real
broker, and the size limits of every stage agree."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from pathlib import Path

import httpx
import orjson
import pytest
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

import connectors
from core.envelopes import Event
from core.testing.signing import sign_github
from streams import kafka
from streams.kafka.topics import TopicNames, connector_topics
from streams.settings import Settings, load_settings
from streams.worker import build_faust_app
from tests.integration.ingest_support import GITHUB_SECRET, ingest_settings, running_server
from tests.kafkatools import read_topic

pytestmark = pytest.mark.integration

MiB = 1024 * 1024


@pytest.fixture
def settings_(
    monkeypatch: pytest.MonkeyPatch, kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> Settings:
    ingest_settings(monkeypatch, kafka_bootstrap, topic_prefix)
    monkeypatch.setenv("SWITCHBOARD_WORKER__DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SWITCHBOARD_WORKER__ROLES", '["ingest", "dedup"]')
    return load_settings(sections=connectors.settings_sections())


def github_issue(size: int) -> bytes:
    """An ``issues`` delivery of ``size`` bytes (a long issue body)."""
    skeleton = {
        "action": "edited",
        "issue": {"number": 42, "updated_at": "2026-12-01T10:00:00Z", "body": ""},
        "repository": {"full_name": "octo/big"},
    }
    pad = size - len(orjson.dumps(skeleton))
    skeleton["issue"]["body"] = "é" * (pad // 2) + "x" * (pad % 2)  # type: ignore[index]
    body = orjson.dumps(skeleton)
    assert len(body) == size
    return body


async def test_a_20_mib_signed_github_delivery_reaches_the_events_topic(
    settings_: Settings,
) -> None:
    body = github_issue(20 * MiB)
    delivery = str(uuid.uuid4())
    headers = {
        **sign_github(body, GITHUB_SECRET),
        "X-GitHub-Event": "issues",
        "X-GitHub-Delivery": delivery,
        "Content-Type": "application/json",
    }
    # the oracle: GitHub's documented check, HMAC-SHA256 of the raw body
    expected = "sha256=" + hmac.new(GITHUB_SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Hub-Signature-256"], expected)
    async with running_server(settings_) as server:
        async with httpx.AsyncClient(timeout=60) as http:
            response = await http.post(
                f"http://127.0.0.1:{server.port}/webhooks/github", content=body, headers=headers
            )
        assert response.status_code == 200, response.text
    names = TopicNames.from_settings(settings_)
    (record,) = await read_topic(settings_, names.ingest("github"))
    assert len(record.value) > 20 * MiB
    assert Event.from_json(record.value).data == orjson.loads(body)

    app = build_faust_app(settings_, f"large-{uuid.uuid4().hex[:8]}")
    await app.start()
    try:
        (out,) = await read_topic(settings_, names.events("github"), expect=1, timeout=120)
    finally:
        await app.stop()
    event = Event.from_json(out.value)
    assert (event.id, event.type, event.subject) == (
        delivery,
        "github.issues.edited",
        "octo/big#42",
    )
    assert event.data == orjson.loads(body)


async def test_the_size_limits_agree(settings_: Settings) -> None:
    largest = max(
        c.webhook.max_body_bytes for c in connectors.registry().values() if c.webhook is not None
    )
    assert largest == 25 * 1024 * 1024  # GitHub's cap
    # the envelope around the largest body still fits a record
    assert largest + 64 * 1024 < kafka.MAX_RECORD_BYTES < kafka.MAX_MESSAGE_BYTES
    names = TopicNames.from_settings(settings_)
    specs = {s.name: s for s in connector_topics(settings_, "github")}
    for topic in (names.ingest("github"), names.events("github"), names.ingest("github") + ".dlq"):
        assert specs[topic].config["max.message.bytes"] == str(kafka.MAX_MESSAGE_BYTES)
    # and the broker applied them to the topics it created
    async with (
        running_server(settings_),
        kafka.connect(settings_, kafka.admin(settings_)) as admin,
    ):
        described = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, names.events("github"))]
        )
    entries = {e[0]: e[1] for e in described[0].resources[0][4]}
    assert entries["max.message.bytes"] == str(kafka.MAX_MESSAGE_BYTES)
