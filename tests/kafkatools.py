"""Reading topics back in tests, with an independent raw aiokafka consumer."""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition, errors

from streams import kafka
from streams.kafka.topics import partitions_of
from streams.settings import Settings
from tests.waiting import DeadlinePassed, eventually


async def read_topic(
    settings: Settings, topic: str, *, expect: int | None = None, timeout: float = 60.0
) -> list[Any]:
    """Every committed record of ``topic``.

    Without ``expect``: what is there now (up to the end offsets). With it:
    poll until at least ``expect`` records arrived or ``timeout`` passed, then
    return what is there (a test asserting an exact count sees extras too,
    because everything up to the current end is always read).
    """
    partitions = await partitions_of(settings, topic)
    assert partitions is not None, f"topic {topic} does not exist"
    consumer = AIOKafkaConsumer(
        **kafka.client_options(settings),
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        records: list[Any] = []

        async def read_to_end() -> list[Any]:
            end = await consumer.end_offsets(tps)
            while [tp for tp in tps if await consumer.position(tp) < end[tp]]:
                batch = await consumer.getmany(timeout_ms=500)
                for rs in batch.values():
                    records.extend(rs)
            return records

        if expect is None:
            return await read_to_end()
        try:
            return await eventually(
                read_to_end,
                timeout,
                until=lambda got: len(got) >= expect,
                what=f"{expect} records on {topic}",
                interval=0.1,
            )
        except DeadlinePassed:
            return records  # fewer: the caller's assertion shows which are missing
    finally:
        await consumer.stop()


async def end_offsets(settings: Settings, topic: str) -> int:
    """Total records ever written to ``topic`` (sum of end offsets)."""
    partitions = await partitions_of(settings, topic)
    assert partitions is not None
    consumer = AIOKafkaConsumer(**kafka.client_options(settings), enable_auto_commit=False)
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
        return sum(ends.values())
    finally:
        await consumer.stop()


async def committed_offsets(settings: Settings, topic: str, group: str) -> tuple[int, int]:
    """(sum of the group's committed offsets, sum of end offsets) for ``topic``."""
    partitions = await partitions_of(settings, topic)
    assert partitions is not None
    tps = [TopicPartition(topic, p) for p in partitions]
    async with kafka.connect(settings, kafka.admin(settings)) as admin:
        offsets = await admin.list_consumer_group_offsets(group, partitions=tps)
    committed = sum(
        meta.offset for meta in offsets.values() if meta is not None and meta.offset > 0
    )
    return committed, await end_offsets(settings, topic)


async def group_state(settings: Settings, group: str) -> tuple[str, int]:
    """The consumer group's state as its coordinator reports it ("Stable"
    once every member has its partitions; "Empty", "PreparingRebalance",
    "CompletingRebalance", "Dead") and how many members it has. A broker
    whose coordinator is not up yet (a fresh one creates ``__consumer_offsets``
    on the first lookup) gives "CoordinatorNotAvailable": a state to poll past."""
    async with kafka.connect(settings, kafka.admin(settings)) as admin:
        try:
            (response,) = await admin.describe_consumer_groups([group])
        except (
            errors.GroupCoordinatorNotAvailableError,
            errors.NotCoordinatorForGroupError,
            errors.GroupLoadInProgressError,
        ):
            return "CoordinatorNotAvailable", 0
    (described,) = response.groups  # error_code, group, state, protocol_type, protocol, members
    return str(described[2]), len(described[5])
