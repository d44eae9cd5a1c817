"""The faust app factory runs a real agent against the real broker."""

from __future__ import annotations

import asyncio

import pytest

from streams import kafka
from streams.app import create_app
from streams.settings import Settings

pytestmark = pytest.mark.integration


async def test_agent_consumes_and_produces(settings: Settings, topic_factory, unique: str) -> None:
    source = await topic_factory("faust-src")
    sink = await topic_factory("faust-dst")
    app = create_app(settings, f"test-{unique}")
    src = app.topic(source, key_serializer="raw", value_serializer="raw")
    dst = app.topic(sink, key_serializer="raw", value_serializer="raw")

    @app.agent(src)
    async def forward(stream):  # type: ignore[no-untyped-def]
        async for key, value in stream.items():
            await dst.send(key=key, value=value.upper())

    await app.start()
    try:
        # Our transport makes faust's producer idempotent with acks=all.
        producer = app.producer._ensure_producer()
        assert producer._txn_manager is not None  # set only when idempotence is on
        assert producer.client._acks if hasattr(producer.client, "_acks") else True
        async with kafka.connect(settings, kafka.producer(settings)) as p:
            await p.send_and_wait(source, b"hello", key=b"k1")
        consumer = kafka.consumer(settings, sink, group_id=None)
        async with kafka.connect(settings, consumer):
            record = await asyncio.wait_for(consumer.getone(), 60)
        assert (record.key, record.value) == (b"k1", b"HELLO")
    finally:
        await app.stop()
