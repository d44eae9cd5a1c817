"""`CommandClient.send_and_wait` with the real sink and the stripe sandbox:
a success and a provider 404, end to end."""

from __future__ import annotations

import asyncio

import pytest

import connectors
from streams.commands import (
    CommandClient,
)
from streams.kafka.topics import connector_topics, ensure_topics
from streams.settings import load_settings
from tests.integration.send_wait_support import CREATE, integration
from tests.integration.sink_support import sink_ready
from tests.waiting import eventually


@integration
async def test_with_the_real_sink_and_the_stripe_sandbox(
    kafka_bootstrap: str, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from streams.sink import Sink

    stripe = connectors.get("stripe")
    assert stripe.sandbox is not None
    assert stripe.api is not None
    async with stripe.sandbox() as sandbox:
        for name, value in {
            "KAFKA__BOOTSTRAP_SERVERS": kafka_bootstrap,
            "KAFKA__TOPIC_PREFIX": topic_prefix,
            "STRIPE__BASE_URL": sandbox.url,
            "STRIPE__API_KEY": "sk_test_sandbox",
        }.items():
            monkeypatch.setenv(f"SWITCHBOARD_{name}", value)
        settings = load_settings(sections=connectors.settings_sections())
        await ensure_topics(settings, connector_topics(settings, "stripe"))
        sink = Sink(settings, stripe, stripe.api(settings.section("stripe")))
        sink_task = asyncio.create_task(sink.run())
        try:
            await eventually(lambda: sink_ready(sink, sink_task), 30)
            async with CommandClient(settings) as client:
                created, missing = await asyncio.gather(
                    client.send_and_wait(CREATE, {"email": "ada@example.com"}, timeout=60),
                    client.send_and_wait(
                        "stripe.customers.update",
                        {"customer": "cus_nobody"},
                        key="cus_nobody",
                        timeout=60,
                    ),
                )
        finally:
            sink.stop()
            await sink_task
    assert (created.status, created.http_status) == ("succeeded", 200)
    assert created.response["email"] == "ada@example.com"
    assert (missing.status, missing.http_status) == ("failed", 404)
    assert missing.error is not None
    assert missing.error.code == "fatal_request"
