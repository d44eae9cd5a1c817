"""The partition-owner base against the real broker: a small owner that records what it is told.

- the state of assigned partitions is loaded before they are ready, a load
  that fails is tried again, and records fetched meanwhile are handed over
  with their partition not ready;
- a second member joining takes partitions over: the first releases them
  (revocation) before the second loads them, and a member that stops
  releases everything and closes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from aiokafka import TopicPartition

from core.retry import RetryPolicy
from streams import kafka
from streams.partitions import OwnedPartition, PartitionOwner
from streams.settings import Settings
from tests.waiting import eventually

pytestmark = pytest.mark.integration

QUICK = RetryPolicy(initial_delay=0.05, max_delay=0.05, jitter="none")


@dataclass
class Part(OwnedPartition):
    loads: int = 0


class Recorder(PartitionOwner[Part]):
    """Writes down, in order, what the base asks of it."""

    load_retry = QUICK

    def __init__(self, settings: Settings, topic: str, group: str, *, failing_loads: int = 0):
        super().__init__(settings, topic=topic, group_id=group, role="test")
        self.failing_loads = failing_loads
        self.events: list[tuple[Any, ...]] = []
        self.closed = False

    def consumer_options(self) -> dict[str, Any]:
        return {"auto_offset_reset": "earliest"}

    def new_partition(self, tp: TopicPartition) -> Part:
        return Part(tp)

    async def load(self, parts: Sequence[Part]) -> None:
        if self.failing_loads:
            self.failing_loads -= 1
            self.events.append(("load failed", sorted(p.tp.partition for p in parts)))
            raise RuntimeError("the state topic is not there yet")
        for part in parts:
            part.loads += 1
        self.events.append(("loaded", sorted(p.tp.partition for p in parts)))

    def take(self, part: Part, messages: Sequence[Any]) -> None:
        for message in messages:
            self.events.append(("take", message.partition, message.offset, part.ready.is_set()))

    async def release(self, parts: Sequence[Part], *, stopping: bool) -> None:
        self.events.append(("release", sorted(p.tp.partition for p in parts), stopping))

    async def close(self) -> None:
        self.closed = True

    def taken(self) -> set[tuple[int, int]]:
        return {(e[1], e[2]) for e in self.events if e[0] == "take"}


@pytest.fixture
async def topic(topic_factory: Any, settings: Settings) -> str:
    name: str = await topic_factory("owned", partitions=2)
    producer = kafka.producer(settings)
    async with kafka.connect(settings, producer):
        for i in range(6):
            await producer.send_and_wait(name, b"%d" % i, partition=i % 2)
    return name


@pytest.fixture
async def run() -> AsyncIterator[Any]:
    """Start an owner in this event loop; every one is stopped after the test."""
    tasks: list[tuple[Recorder, asyncio.Task[None]]] = []

    async def start(owner: Recorder) -> Recorder:
        tasks.append((owner, asyncio.create_task(owner.run())))
        await asyncio.wait_for(owner.started.wait(), 30)
        return owner

    yield start
    for owner, task in tasks:
        owner.stop()
        await asyncio.wait_for(task, 30)


async def test_state_is_loaded_with_retries_before_partitions_are_ready(
    settings: Settings, topic: str, unique: str, run: Any
) -> None:
    owner = await run(Recorder(settings, topic, f"test-{unique}", failing_loads=2))
    await eventually(lambda: owner.owned_partitions() == [0, 1])
    producer = kafka.producer(settings)
    async with kafka.connect(settings, producer):
        await producer.send_and_wait(topic, b"later", partition=0)
    await eventually(lambda: owner.taken() == {(p, o) for p in (0, 1) for o in range(3)} | {(0, 3)})
    kinds = [e[0] for e in owner.events]
    assert kinds.count("load failed") == 2
    assert kinds.count("loaded") == 1
    loaded_at = kinds.index("loaded")
    for i, event in enumerate(owner.events):
        if event[0] == "take":
            # a record is handed over with its partition's true state: fetched
            # while the load was failing it is not ready, afterwards it is
            assert event[3] is (i > loaded_at), owner.events
    assert owner.events[-1] == ("take", 0, 3, True)


async def test_a_joining_member_takes_partitions_over_after_the_first_released_them(
    settings: Settings, topic: str, unique: str, run: Any
) -> None:
    group = f"test-{unique}"
    first = await run(Recorder(settings, topic, group))
    await eventually(lambda: first.owned_partitions() == [0, 1])
    second = await run(Recorder(settings, topic, group))
    await eventually(
        lambda: len(first.owned_partitions()) == 1 and len(second.owned_partitions()) == 1
    )
    assert sorted(first.owned_partitions() + second.owned_partitions()) == [0, 1]
    assert ("release", [0, 1], False) in first.events  # revoked before the group moved on

    mine = first.owned_partitions()
    first.stop()
    await eventually(lambda: first.closed)
    assert first.events[-1] == ("release", mine, True)
    assert first.owned_partitions() == []
    await eventually(lambda: second.owned_partitions() == [0, 1])
