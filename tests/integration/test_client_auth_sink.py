"""A query API key through the sink: never in the Result, the DLQ headers or
the health detail (/healthz), though the provider echoes it."""

from __future__ import annotations

import asyncio
import logging

import orjson
import pytest

import connectors
from streams import kafka
from streams.commands import build_command
from streams.kafka.topics import TopicNames, connector_topics, ensure_topics
from streams.settings import load_settings
from streams.sink import Sink
from tests.integration import client_auth_support as support
from tests.integration.client_auth_support import LeakySandbox
from tests.kafkatools import read_topic
from tests.waiting import eventually

sandbox = support.sandbox  # the shared fixture, bound here so pytest finds it

SINK_QUERY_KEY = "sink-appid-Qv9Xe2Hn"


async def test_query_api_key_never_reaches_result_dlq_or_health_through_the_sink(
    sandbox: LeakySandbox,
    kafka_bootstrap: str,
    topic_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue #9.6 as reported: an API key in the query (``appid``), a provider
    that echoes it (400) and then refuses it (401)."""
    caplog.set_level(logging.DEBUG)
    auth = {"type": "api_key", "key": SINK_QUERY_KEY, "location": "query", "name": "appid"}
    templates = {
        "leak": {"method": "GET", "url": "/leak/400"},
        "deny": {"method": "GET", "url": "/status/401"},
    }
    env = {
        "KAFKA__BOOTSTRAP_SERVERS": kafka_bootstrap,
        "KAFKA__TOPIC_PREFIX": topic_prefix,
        "SINK__COMMIT_INTERVAL_S": "0.2",
        "GENERIC__BASE_URL": sandbox.url,
        "GENERIC__AUTH": orjson.dumps(auth).decode(),
        "GENERIC__TEMPLATES": orjson.dumps(templates).decode(),
    }
    for name, value in env.items():
        monkeypatch.setenv(f"SWITCHBOARD_{name}", value)
    settings = load_settings(sections=connectors.settings_sections())
    await ensure_topics(settings, connector_topics(settings, "generic"))
    names = TopicNames.from_settings(settings)
    commands = names.commands("generic")
    connector = connectors.get("generic")
    assert connector.api is not None
    sink = Sink(settings, connector, connector.api(settings.section("generic")))
    task = asyncio.create_task(sink.run())
    leak = build_command("generic.request", {"template": "leak"})
    deny = build_command("generic.request", {"template": "deny"})
    try:
        async with kafka.connect(settings, kafka.producer(settings)) as producer:
            await producer.send_and_wait(commands, leak.to_json(), key=b"a")
            (result,) = await read_topic(settings, names.results("generic"), expect=1)
            (dead,) = await read_topic(settings, names.dlq(commands), expect=1)
            await producer.send_and_wait(commands, deny.to_json(), key=b"b")
            # The 401 stops the sink and says why.
            await eventually(lambda: not sink.health.ok)
    finally:
        sink.stop()
        await task
    assert sandbox.requests_to("/leak/400")[0].query_param("appid") == SINK_QUERY_KEY
    assert "401" in sink.health.detail
    dumped = "\n".join(
        [
            result.value.decode(),
            repr(dead.headers),
            sink.health.detail,
            caplog.text,
            repr([r.__dict__ for r in caplog.records]),
        ]
    )
    assert "appid=[REDACTED]" in sink.health.detail
    assert SINK_QUERY_KEY not in dumped
