"""The stall watchdog's decisions, on a stand-in consumer and a clock the test moves."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import Any, NamedTuple

import pytest

from streams.watchdog import PartitionStalled, StallWatchdog


class TP(NamedTuple):
    topic: str
    partition: int


class Consumer:
    """A consumer whose partition 0 has records waiting and never moves."""

    def __init__(self) -> None:
        self.tp = TP("t", 0)
        self.position, self.end = 3, 10
        self.held: set[Any] = set()
        self.recovered: list[tuple[Any, int]] = []

    def assigned(self) -> Collection[Any]:
        return {self.tp}

    def excused(self) -> Collection[Any]:
        return self.held

    async def positions(self, tps: Collection[Any]) -> dict[Any, int | None]:
        return {self.tp: self.position}

    async def end_offsets(self, tps: Collection[Any]) -> dict[Any, int]:
        return {self.tp: self.end}

    async def recover(self, tp: Any, position: int) -> None:
        self.recovered.append((tp, position))


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_a_stall_is_recovered_once_then_fatal() -> None:
    now = [0.0]
    dog = StallWatchdog("unit a", 60, clock=lambda: now[0])
    consumer = Consumer()
    run(dog.check(consumer))
    now[0] = 59
    run(dog.check(consumer))
    assert dog.health()[0]
    now[0] = 60
    run(dog.check(consumer))
    assert consumer.recovered == [(consumer.tp, 3)]
    assert not dog.health()[0]
    assert dog.stalled == ["t[0]"]
    now[0] = 120
    with pytest.raises(PartitionStalled, match=r"t\[0\] still stalled at offset 3"):
        run(dog.check(consumer))


def test_a_moving_position_or_nothing_waiting_or_a_pause_of_the_role_is_no_stall() -> None:
    now = [0.0]
    dog = StallWatchdog("unit b", 60, clock=lambda: now[0])
    consumer = Consumer()
    run(dog.check(consumer))
    consumer.held = {consumer.tp}  # the role paused it (backpressure)
    now[0] = 100
    run(dog.check(consumer))
    consumer.held = set()
    consumer.position = consumer.end  # nothing waiting
    now[0] = 200
    run(dog.check(consumer))
    consumer.end = 20
    now[0] = 259
    run(dog.check(consumer))
    assert dog.health()[0]
    assert consumer.recovered == []
