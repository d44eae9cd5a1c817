"""send_keyed against the real broker: the partitions, order and headers of producer.send."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict

import pytest
from aiokafka.admin import NewTopic

from streams import kafka
from streams.kafka.batches import send_keyed
from streams.settings import Settings
from tests.kafkatools import read_topic

pytestmark = pytest.mark.integration

PARTITIONS = 6
HEADERS = [("content-type", b"application/cloudevents+json")]


async def test_batches_land_where_send_puts_each_key_in_order(settings: Settings) -> None:
    batched, single = (f"test.batches.{uuid.uuid4().hex[:10]}.{n}" for n in ("a", "b"))
    async with kafka.connect(settings, kafka.admin(settings)) as admin:
        await admin.create_topics([NewTopic(t, PARTITIONS, 1) for t in (batched, single)])
    # 300 records over 40 keys; batches of 2 KiB fill up, so full batches are queued midway
    records = [(f"key-{i % 40}".encode(), f"value-{i:04d}".encode() * 20) for i in range(300)]
    producer = kafka.producer(settings, max_batch_size=2048, linger_ms=1)
    async with kafka.connect(settings, producer):
        futures = await send_keyed(producer, batched, records, headers=HEADERS)
        assert len(futures) > PARTITIONS  # some partitions took more than one batch
        await asyncio.gather(*futures)
        for key, value in records:
            await producer.send(single, value, key=key, headers=HEADERS)
        await producer.flush()

    got_batched = await read_topic(settings, batched, expect=len(records))
    got_single = await read_topic(settings, single, expect=len(records))
    assert len(got_batched) == len(records)

    partition_of = {r.key: r.partition for r in got_single}
    assert {r.key: r.partition for r in got_batched} == partition_of
    assert len(set(partition_of.values())) > 1

    by_partition: dict[int, list[bytes]] = defaultdict(list)
    for r in sorted(got_batched, key=lambda r: (r.partition, r.offset)):
        by_partition[r.partition].append(r.value)
    for partition, values in by_partition.items():
        sent = [v for k, v in records if partition_of[k] == partition]
        assert values == sent, f"partition {partition}: not in the order sent"
    assert all(list(r.headers) == HEADERS for r in got_batched)
