"""The faust app factory runs a real agent against the real broker."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiokafka.client import AIOKafkaClient
from aiokafka.protocol.produce import ProduceRequest
from aiokafka.protocol.transaction import InitProducerIdRequest

from streams import kafka
from streams.app import create_app
from streams.settings import Settings

pytestmark = pytest.mark.integration

ACKS_ALL = -1  # acks=all as the Produce request carries it


async def test_agent_consumes_and_produces(
    settings: Settings,
    topic_factory: Callable[..., Awaitable[str]],
    unique: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Every request any aiokafka client of this process sends, as sent.
    sent: list[tuple[AIOKafkaClient, Any]] = []
    send = AIOKafkaClient.send

    async def recording_send(client: AIOKafkaClient, node_id: int, request: Any, **kw: Any) -> Any:
        sent.append((client, request))
        return await send(client, node_id, request, **kw)

    monkeypatch.setattr(AIOKafkaClient, "send", recording_send)
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
        async with kafka.connect(settings, kafka.producer(settings)) as p:
            await p.send_and_wait(source, b"hello", key=b"k1")
            ours = p.client
        consumer = kafka.consumer(settings, sink, group_id=None)
        async with kafka.connect(settings, consumer):
            record = await asyncio.wait_for(consumer.getone(), 60)
        assert (record.key, record.value) == (b"k1", b"HELLO")
    finally:
        await app.stop()
    # Our transport makes faust's producer idempotent with acks=all: what
    # its client sent to the broker says so.
    producers = {c for c, r in sent if isinstance(r, ProduceRequest) and c is not ours}
    assert producers, "faust's producer sent no Produce request"
    faust_sent = [r for c, r in sent if c in producers]
    assert {r.required_acks for r in faust_sent if isinstance(r, ProduceRequest)} == {ACKS_ALL}
    assert any(isinstance(r, InitProducerIdRequest) for r in faust_sent)  # idempotence
