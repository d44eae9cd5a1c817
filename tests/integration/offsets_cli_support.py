"""Shared by the `switchboard offsets` integration tests: each test has its
own topic prefix, so its own cursors topic and poll group; stored state is
seeded with a plain producer writing ``CursorRecord`` s the way a poller does."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from core.poll import Cursor
from streams import kafka
from streams.kafka.topics import TopicNames, ensure_topics, shared_topics
from streams.offsets.cursors import CursorRecord, partition_for
from streams.settings import Settings
from tests.kafkatools import read_topic

POLLED_AT = "2026-03-04T05:06:07+00:00"


@pytest.fixture
def env(cli_env: dict[str, str], topic_prefix: str) -> dict[str, str]:
    return {**cli_env, "SWITCHBOARD_KAFKA__TOPIC_PREFIX": topic_prefix}


@pytest.fixture
def settings(prefixed_settings: Settings) -> Settings:
    asyncio.run(ensure_topics(prefixed_settings, shared_topics(prefixed_settings)))
    return prefixed_settings


def cursors(settings: Settings) -> str:
    return TopicNames.from_settings(settings).cursors


async def produce(settings: Settings, *items: CursorRecord | tuple[str, bytes | None]) -> None:
    """Records as the poller writes them (or raw values: a tombstone, garbage)."""
    producer = AIOKafkaProducer(**kafka.client_options(settings), acks="all")
    await producer.start()
    try:
        for item in items:
            key, value = (item.stream, item.to_json()) if isinstance(item, CursorRecord) else item
            await producer.send_and_wait(
                cursors(settings), value, key=key.encode(), partition=partition_for(key, 3)
            )
    finally:
        await producer.stop()


def stored(settings: Settings, stream: str) -> list[Any]:
    """Every record of ``stream`` on the cursors topic, oldest first."""
    records = asyncio.run(read_topic(settings, cursors(settings)))
    return [r for r in records if r.key == stream.encode()]


def rows(table: str) -> dict[str, str]:
    """``offsets list`` rows by stream id."""
    return {line.split()[0]: line for line in table.splitlines()[1:] if line.strip()}


def seed(settings: Settings) -> None:
    asyncio.run(
        produce(
            settings,
            CursorRecord("stripe.events", Cursor("evt_1"), status="ok", polled_at=POLLED_AT),
            CursorRecord("stripe.events", Cursor("evt_2"), status="ok", polled_at=POLLED_AT),
            CursorRecord(
                "github.issues:octo/hello",
                Cursor(mark="2026-01-01T00:00:00Z"),
                status="failed",
                error="PaginationError: the provider repeated page token abc",
                polled_at=POLLED_AT,
            ),
            CursorRecord("gone.stream", Cursor(1)),
            ("gone.stream", None),  # a tombstone: the stream is forgotten
            ("junk", b"not json"),
        )
    )
