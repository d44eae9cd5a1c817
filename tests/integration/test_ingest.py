"""The ingest server against the real broker: verified deliveries are
acknowledged by Kafka before the 2xx; every 4xx produces nothing."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest

from core.envelopes import Event
from core.testing import signing
from streams.ingest import build_routes
from streams.kafka.topics import TopicNames, connector_topics, ensure_topics
from streams.settings import Settings
from streams.worker.http_server import WorkerHttpServer
from tests.integration.ingest_support import (
    GITHUB_SECRET,
    SLACK_SECRET,
    STRIPE_SECRET,
    ingest_settings,
)
from tests.kafkatools import end_offsets, read_topic

pytestmark = pytest.mark.integration


def stripe_event(event_id: str | None = None, type_: str = "payment_intent.succeeded") -> bytes:
    return orjson.dumps(
        {
            "id": event_id or f"evt_{uuid.uuid4().hex[:16]}",
            "object": "event",
            "type": type_,
            "created": 1_763_900_000,
            "data": {"object": {"id": "pi_123", "object": "payment_intent", "amount": 2000}},
        }
    )


@pytest.fixture
def webhook_settings(
    kafka_bootstrap: str, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    return ingest_settings(monkeypatch, kafka_bootstrap, topic_prefix)


@pytest.fixture
async def server(webhook_settings: Settings) -> AsyncIterator[WorkerHttpServer]:
    specs = []
    for name in ("stripe", "github", "slack", "shopify"):
        specs += connector_topics(webhook_settings, name)
    await ensure_topics(webhook_settings, specs)
    srv = WorkerHttpServer(webhook_settings, build_routes(webhook_settings))
    await srv.start(host="127.0.0.1", port=0)
    try:
        yield srv
    finally:
        await srv.stop()


@pytest.fixture
async def http(server: WorkerHttpServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}", timeout=30) as c:
        yield c


def topics(settings: Settings) -> TopicNames:
    return TopicNames.from_settings(settings)


async def test_signed_delivery_is_in_kafka_before_the_200(
    http: httpx.AsyncClient, webhook_settings: Settings
) -> None:
    body = stripe_event("evt_ack_1")
    response = await http.post(
        "/webhooks/stripe", content=body, headers=signing.sign_stripe(body, STRIPE_SECRET)
    )
    assert response.status_code == 200
    # No waiting: the record was acknowledged before the response was sent.
    records = await read_topic(webhook_settings, topics(webhook_settings).ingest("stripe"))
    assert len(records) == 1
    record = records[0]
    assert record.key == b"evt_ack_1"
    event = Event.from_json(record.value)
    assert event.type == "stripe.payment_intent.succeeded"
    assert event.subject == "pi_123"
    assert event.delivery == "webhook"
    assert event.data == orjson.loads(body)
    assert event.traceparent is not None


async def test_every_4xx_produces_nothing_and_echoes_nothing(
    http: httpx.AsyncClient, webhook_settings: Settings
) -> None:
    ingest = topics(webhook_settings).ingest("stripe")
    before = await end_offsets(webhook_settings, ingest)
    body = stripe_event("evt_secret_marker_123")
    good = signing.sign_stripe(body, STRIPE_SECRET)
    stale = signing.sign_stripe(body, STRIPE_SECRET, timestamp=int(time.time()) - 3600)
    wrong = signing.sign_stripe(body, "whsec_wrong")
    cases: list[tuple[str, str, bytes, dict[str, str], int]] = [
        ("POST", "/webhooks/stripe", body, wrong, 401),
        ("POST", "/webhooks/stripe", body, {}, 401),
        ("POST", "/webhooks/stripe", body, stale, 401),
        ("POST", "/webhooks/stripe", body + b" ", good, 401),  # tampered
        ("POST", "/webhooks/stripe", body, {"Stripe-Signature": "t=abc,v1=zz"}, 401),
        ("POST", "/webhooks/nope", body, good, 404),
        ("POST", "/webhooks/shopify", body, good, 404),  # installed but no secret configured
        ("GET", "/webhooks/stripe", b"", {}, 405),
        ("PUT", "/webhooks/stripe", body, good, 405),
    ]
    not_json = b"definitely not json"
    cases.append(
        ("POST", "/webhooks/stripe", not_json, signing.sign_stripe(not_json, STRIPE_SECRET), 400)
    )
    no_id = b'{"type": "x.y"}'
    cases.append(
        ("POST", "/webhooks/stripe", no_id, signing.sign_stripe(no_id, STRIPE_SECRET), 400)
    )
    big = b"{" + b" " * (1024 * 1024) + b"}"
    cases.append(("POST", "/webhooks/stripe", big, signing.sign_stripe(big, STRIPE_SECRET), 413))
    for method, path, content, headers, status in cases:
        response = await http.request(method, path, content=content, headers=headers)
        assert response.status_code == status, (method, path, headers)
        assert b"secret_marker" not in response.content
        assert STRIPE_SECRET.encode() not in response.content
    assert await end_offsets(webhook_settings, ingest) == before
    metrics = (await http.get("/metrics")).text
    assert (
        'switchboard_webhooks_total{connector="stripe",outcome="rejected_bad_signature"}' in metrics
    )


async def test_handshakes_answer_without_producing(
    http: httpx.AsyncClient, webhook_settings: Settings
) -> None:
    challenge = orjson.dumps(
        {
            "type": "url_verification",
            "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
            "token": "x",
        }
    )
    response = await http.post(
        "/webhooks/slack", content=challenge, headers=signing.sign_slack(challenge, SLACK_SECRET)
    )
    assert response.status_code == 200
    assert response.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}
    ping = orjson.dumps({"zen": "Keep it logically awesome.", "hook_id": 1})
    headers = {
        **signing.sign_github(ping, GITHUB_SECRET),
        "X-GitHub-Event": "ping",
        "X-GitHub-Delivery": str(uuid.uuid4()),
    }
    response = await http.post("/webhooks/github", content=ping, headers=headers)
    assert response.status_code == 200
    names = topics(webhook_settings)
    assert await end_offsets(webhook_settings, names.ingest("slack")) == 0
    assert await end_offsets(webhook_settings, names.ingest("github")) == 0


async def test_github_and_slack_normalization(
    http: httpx.AsyncClient, webhook_settings: Settings
) -> None:
    issue = orjson.dumps(
        {
            "action": "opened",
            "issue": {"number": 7, "updated_at": "2026-11-23T10:00:00Z"},
            "repository": {"full_name": "octo/hello"},
        }
    )
    delivery = str(uuid.uuid4())
    headers = {
        **signing.sign_github(issue, GITHUB_SECRET),
        "X-GitHub-Event": "issues",
        "X-GitHub-Delivery": delivery,
    }
    assert (await http.post("/webhooks/github", content=issue, headers=headers)).status_code == 200
    slack_body = orjson.dumps(
        {
            "type": "event_callback",
            "event_id": "Ev123",
            "event_time": 1_763_900_000,
            "event": {"type": "app_mention", "channel": "C1", "text": "hi"},
        }
    )
    response = await http.post(
        "/webhooks/slack", content=slack_body, headers=signing.sign_slack(slack_body, SLACK_SECRET)
    )
    assert response.status_code == 200
    names = topics(webhook_settings)
    (gh,) = await read_topic(webhook_settings, names.ingest("github"))
    event = Event.from_json(gh.value)
    # GitHub signs no id: the record is keyed by the signed body's digest (dedup's key)
    assert (gh.key.decode(), event.id, event.type, event.subject) == (
        "sha256:" + hashlib.sha256(issue).hexdigest(),
        delivery,
        "github.issues.opened",
        "octo/hello#7",
    )
    (sl,) = await read_topic(webhook_settings, names.ingest("slack"))
    event = Event.from_json(sl.value)
    assert (sl.key, event.type, event.subject) == (b"Ev123", "slack.app_mention", "C1")
