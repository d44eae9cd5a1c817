"""Replayed deliveries end to end: signed POSTs to a running ingest server, the
real broker, a dedup worker: a replay under a new id yields no second event.

Reproductions of issue #9 point 3 (and 9c, Twilio's caps). Standard Webhooks
and Twilio deliveries are signed by the official libraries; GitHub and
Shopify by a direct :mod:`hmac` computation (they publish no Python verifier);
the signers are ``tests/unit/test_webhooks_replay.py``'s.
"""

from __future__ import annotations

import hashlib
import time
import uuid

import httpx
import orjson
import pytest

import connectors
from core.envelopes import Event
from streams.ingest import build_routes
from streams.kafka.topics import TopicNames
from streams.settings import Settings, load_settings
from streams.worker.http_server import WorkerHttpServer
from tests.integration.test_dedup import dedup_settings, dedup_worker
from tests.integration.test_dedup_failover import wait_until_consumed
from tests.kafkatools import end_offsets, read_topic
from tests.unit.test_webhooks_replay import (
    HMAC_SECRET,
    PUBLIC,
    STD_SECRET,
    github,
    shopify,
    std_headers,
    twilio,
)

pytestmark = pytest.mark.integration

__all__ = ["dedup_settings"]  # the fixture, imported for pytest

CONNECTORS = ["github", "generic", "shopify", "twilio"]


@pytest.fixture
def replay_settings(dedup_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    secrets = orjson.dumps([HMAC_SECRET]).decode()
    monkeypatch.setenv("SWITCHBOARD_GITHUB__WEBHOOK_SECRETS", secrets)
    monkeypatch.setenv("SWITCHBOARD_SHOPIFY__WEBHOOK_SECRETS", secrets)
    monkeypatch.setenv("SWITCHBOARD_TWILIO__AUTH_TOKENS", secrets)
    monkeypatch.setenv("SWITCHBOARD_TWILIO__PUBLIC_URL", PUBLIC)
    monkeypatch.setenv("SWITCHBOARD_GENERIC__WEBHOOK_SECRETS", orjson.dumps([STD_SECRET]).decode())
    return load_settings(sections=connectors.settings_sections())


async def test_replays_under_new_ids_or_types_yield_no_second_event(
    replay_settings: Settings,
) -> None:
    settings = replay_settings
    names = TopicNames.from_settings(settings)
    run = uuid.uuid4().hex[:8]
    issue = orjson.dumps(
        {
            "action": "opened",
            "issue": {"number": 7, "updated_at": "2026-11-23T10:00:00Z", "title": run},
            "repository": {"full_name": "octo/hello"},
        }
    )
    other = issue.replace(b'"number":7', b'"number":8')
    order = orjson.dumps({"id": 1, "admin_graphql_api_id": f"gid://o/{run}"})
    status, first_token = twilio([("MessageSid", f"SM{run}"), ("MessageStatus", "sent")], "t-1")
    _, second_token = twilio([("MessageSid", f"SM{run}"), ("MessageStatus", "sent")], "t-2")
    std_body = orjson.dumps({"type": "thing.created", "data": {"id": run}})
    captured = std_headers(f"msg_{run}", std_body, int(time.time()))
    deliveries: list[tuple[str, bytes, list[tuple[str, str]], int]] = [
        ("github", issue, github(issue, "issues", f"{run}-1"), 200),
        ("github", issue, github(issue, "issues", f"{run}-2"), 200),  # replay, new id
        ("github", issue, github(issue, "watch", f"{run}-3"), 200),  # re-typed replay
        ("github", issue, github(issue, "deployment", f"{run}-4"), 400),  # shape says no
        ("github", other, github(other, "issues", f"{run}-5"), 200),  # a new event
        ("shopify", order, shopify("orders/create", f"{run}-a", order), 200),
        ("shopify", order, shopify("orders/paid", f"{run}-b", order), 200),  # new id and topic
        ("twilio", status, first_token, 200),
        ("twilio", status, second_token, 200),  # new idempotency token
        ("generic", std_body, captured, 200),
        ("generic", std_body, [("webhook-id", f"msg_{run}_new"), *captured], 401),
    ]
    server = WorkerHttpServer(settings, build_routes(settings, CONNECTORS))
    port = await server.start(host="127.0.0.1", port=0)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            answers = [
                (await http.post(f"/webhooks/{name}", content=body, headers=headers)).status_code
                for name, body, headers, _ in deliveries
            ]
    finally:
        await server.stop()
    assert answers == [status for *_, status in deliveries]
    # every copy of one body went to the same key, hence partition, as the original
    issue_key = ("sha256:" + hashlib.sha256(issue).hexdigest()).encode()
    copies = [r for r in await read_topic(settings, names.ingest("github")) if r.key == issue_key]
    assert len(copies) == 3
    assert len({r.partition for r in copies}) == 1

    app_id = f"dedup-replay-{run}"
    async with dedup_worker(settings, app_id):
        for name in CONNECTORS:
            await wait_until_consumed(settings, names.ingest(name), f"{names.prefix}{app_id}")
        events = {
            name: [Event.from_json(r.value) for r in await read_topic(settings, names.events(name))]
            for name in CONNECTORS
        }
    assert sorted((e.id, e.type) for e in events["github"]) == [
        (f"{run}-1", "github.issues.opened"),
        (f"{run}-5", "github.issues.opened"),
    ]
    assert [(e.id, e.type) for e in events["shopify"]] == [(f"{run}-a", "shopify.orders.create")]
    assert [e.id for e in events["twilio"]] == ["t-1"]
    assert [e.id for e in events["generic"]] == [f"msg_{run}"]


async def test_twilio_bodies_over_64_kib_or_1000_params_are_refused_unparsed(
    replay_settings: Settings,
) -> None:
    settings = replay_settings
    at_cap = [(f"P{i}", "v") for i in range(1000)]
    fine, fine_headers = twilio(at_cap)
    many, many_headers = twilio([*at_cap, ("One", "more")])
    large, large_headers = twilio([("Body", "x" * (64 * 1024))])
    server = WorkerHttpServer(settings, build_routes(settings, ["twilio"]))
    port = await server.start(host="127.0.0.1", port=0)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            answers = [
                (await http.post("/webhooks/twilio", content=body, headers=headers)).status_code
                for body, headers in [
                    (many, many_headers),
                    (large, large_headers),
                    (fine, fine_headers),
                ]
            ]
    finally:
        await server.stop()
    assert answers == [400, 413, 200]
    assert await end_offsets(settings, TopicNames.from_settings(settings).ingest("twilio")) == 1
