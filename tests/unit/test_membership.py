"""The zombie fence's decisions (streams.membership), against a stand-in for
aiokafka's group coordinator (the boundary: its heartbeat and generation)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import cast

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.consumer.group_coordinator import GroupCoordinator

from core._attempt_guard import AttemptRefused, check_attempt, guard_attempts
from streams.membership import NO_GENERATION, Membership, WorkLost


@dataclass
class Part:
    generation: int


class Coordinator:
    """Answers heartbeats as told: True (ok), False (refused, generation reset)."""

    def __init__(self) -> None:
        self.generation = 5
        self.answers: asyncio.Queue[bool] = asyncio.Queue()

    async def _do_heartbeat(self) -> bool:
        ok = await self.answers.get()
        if not ok:
            self.generation = NO_GENERATION
        return ok


class Consumer:
    def __init__(self) -> None:
        self._coordinator = Coordinator()


def attached(session_s: float = 6.0, interval_s: float = 0.05) -> tuple[Membership, Coordinator]:
    consumer = Consumer()
    membership = Membership(session_s, interval_s)
    membership.attach(cast(AIOKafkaConsumer, consumer))
    return membership, consumer._coordinator


def test_aiokafka_still_has_what_the_fence_wraps() -> None:
    # the integration test (tests/integration/test_sink_zombie.py) uses the real one
    assert callable(GroupCoordinator._do_heartbeat)
    assert callable(GroupCoordinator.reset_generation)


async def test_a_partition_of_the_current_generation_passes_while_the_lease_runs() -> None:
    membership, coordinator = attached()
    membership.joined()
    await membership.check(Part(coordinator.generation))


async def test_a_partition_of_an_older_generation_is_lost_at_once() -> None:
    membership, coordinator = attached()
    membership.joined()
    with pytest.raises(WorkLost, match="generation 4"):
        await membership.check(Part(coordinator.generation - 1))


async def test_before_any_join_nothing_passes() -> None:
    membership, coordinator = attached()
    with pytest.raises(WorkLost):
        await membership.check(Part(NO_GENERATION))
    membership.detach()
    with pytest.raises(WorkLost):
        await membership.check(Part(coordinator.generation))


async def test_past_the_lease_it_waits_for_a_heartbeat_and_goes_on_when_confirmed() -> None:
    # a session shorter than the margin: the lease has always run out
    membership, coordinator = attached(session_s=0.1, interval_s=0.05)
    membership.joined()
    check = asyncio.create_task(membership.check(Part(coordinator.generation)))
    heartbeat = asyncio.create_task(coordinator._do_heartbeat())  # the wrapped one
    await asyncio.sleep(0)  # allowed: one turn of the loop, no time waited
    assert not check.done()
    # a confirmed heartbeat renews it (only just: the window is negative, so it
    # waits again; a refusal after that ends it)
    await coordinator.answers.put(True)
    assert await heartbeat is True
    assert not check.done()
    heartbeat = asyncio.create_task(coordinator._do_heartbeat())
    await coordinator.answers.put(False)
    assert await heartbeat is False
    with pytest.raises(WorkLost):
        await check


async def test_a_heartbeat_renews_the_lease_from_when_it_was_sent() -> None:
    membership, coordinator = attached(session_s=6.0, interval_s=0.05)
    assert membership._confirmed_at == float("-inf")
    heartbeat = asyncio.create_task(coordinator._do_heartbeat())
    await asyncio.sleep(0)  # allowed: one turn, the heartbeat is sent
    await coordinator.answers.put(True)
    await heartbeat
    await membership.check(Part(coordinator.generation))  # passes without waiting


async def test_attempt_guard_is_the_context_s_and_undone_after() -> None:
    calls: list[str] = []

    async def check() -> None:
        calls.append("checked")
        if len(calls) > 2:
            raise WorkLost("gone")

    await check_attempt()  # no guard: nothing to check
    with guard_attempts(check):
        await check_attempt()
        await asyncio.create_task(check_attempt())  # a task started inside has it too
        with pytest.raises(AttemptRefused) as refused:
            await check_attempt()
        assert isinstance(refused.value.reason, WorkLost)
    await check_attempt()
    assert calls == ["checked"] * 3
