"""Releasing a sink's partitions: calls in flight finish, nothing new starts
(:mod:`streams.sink._drain`), without Kafka."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import TopicPartition

from streams.sink._drain import Yielded, drain, slot
from streams.sink._partitions import PartitionState


def part() -> PartitionState:
    return PartitionState(TopicPartition("t", 0))


async def test_a_record_waiting_for_a_slot_yields_when_its_partition_closes() -> None:
    slots = asyncio.Semaphore(1)
    p = part()
    in_flight = asyncio.Event()
    finish = asyncio.Event()
    ran: list[str] = []

    async def call(name: str) -> None:
        async with slot(slots, p):
            ran.append(name)
            in_flight.set()
            await finish.wait()

    first = asyncio.create_task(call("first"))
    await in_flight.wait()
    waiting = asyncio.create_task(call("waiting"))
    await asyncio.sleep(0)  # allowed: lets the second call queue for the slot
    p.tasks.update({first, waiting})
    draining = asyncio.create_task(drain([p], timeout=5))
    await asyncio.sleep(0)  # allowed: lets the drain close the partition
    finish.set()
    assert await draining == 0  # nothing had to be cancelled
    assert ran == ["first"]
    with pytest.raises(Yielded):
        waiting.result()
    assert not slots.locked()  # every slot given back


async def test_a_closed_partition_starts_no_call() -> None:
    slots = asyncio.Semaphore(2)
    p = part()
    p.closing.set()
    with pytest.raises(asyncio.CancelledError):
        async with slot(slots, p):
            raise AssertionError("not reached")
    assert slots._value == 2


async def test_a_call_running_past_the_bound_is_cancelled() -> None:
    p = part()
    never = asyncio.Event()

    async def call() -> None:
        await never.wait()

    task = asyncio.create_task(call())
    p.tasks.add(task)
    assert await drain([p], timeout=0.01) == 1
    assert task.cancelled()
