"""The fence against zombie members: may this worker still act for a partition?

A group member paused past its session timeout (SIGSTOP, a frozen VM, an
event loop blocked for too long) is removed by the group coordinator, and
its partitions go to another member. It does not know that yet when it
resumes: answers to calls that arrived while it was paused, and the records
still in its queues, would go on to produce Results, DLQ records and ledger
markers -- and call the provider -- for partitions another member now runs.

:class:`Membership` is a lease on the member's group session, checked
before every write and before each attempt of every provider call
(:meth:`Membership.check`):

- the partition must belong to the current generation: it is stamped with
  the generation it was assigned in, and a heartbeat answered
  ``ILLEGAL_GENERATION`` / ``UNKNOWN_MEMBER_ID`` resets the consumer's
  generation (a rejoin makes a new one) -> :class:`WorkLost`;
- the coordinator must have confirmed the session recently: a heartbeat
  sent at ``t`` and answered OK (also "rebalancing": the member stays in
  the group for the rebalance) means the coordinator cannot expire the
  member before ``t + session timeout``. The lease runs to that, less two
  heartbeat intervals; past it, the check waits for the next heartbeat's
  answer: confirmed -> go on, refused -> :class:`WorkLost`.

Why a lease and not Kafka transactions: fencing by ``transactional.id``
needs a producer per owned partition and a transaction commit per ledger
marker (a marker must be visible to a new owner before the call it
announces), which costs the sink most of its throughput, and no
transaction can fence a call to a provider. The lease fences both. Its one
hole is a pause longer than the margin that falls between a passed check and
the bytes leaving the socket (no ``await`` lies between them on the way out
except the producer's linger, ``linger_ms=1``).

The heartbeat's answers are read by wrapping the aiokafka group
coordinator's ``_do_heartbeat`` (aiokafka 0.14; a unit test keeps the
names honest on upgrade).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer

__all__ = ["Membership", "WorkLost"]

#: aiokafka's generation before the first join and after a reset
NO_GENERATION = -1


class WorkLost(Exception):
    """This member no longer owns the partition the work belongs to: drop it,
    unanswered and unsent (its new owner runs it)."""


class _Stamped(Protocol):
    generation: int


class Membership:
    """The group-session lease of one consumer (see the module docstring)."""

    def __init__(self, session_timeout_s: float, heartbeat_interval_s: float) -> None:
        self._interval = heartbeat_interval_s
        self._window = session_timeout_s - 2 * heartbeat_interval_s
        self._confirmed_at = float("-inf")
        self._coordinator: Any = None
        self._heard = asyncio.Event()

    def attach(self, consumer: AIOKafkaConsumer) -> None:
        """Follow ``consumer``'s heartbeats (call once it is started)."""
        coordinator = consumer._coordinator
        heartbeat = coordinator._do_heartbeat

        async def observed() -> bool:
            sent_at, generation = time.monotonic(), coordinator.generation
            try:
                ok = bool(await heartbeat())
                if ok and coordinator.generation == generation:
                    self._confirmed_at = max(self._confirmed_at, sent_at)
                return ok
            finally:
                self._wake()

        coordinator._do_heartbeat = observed
        self._coordinator = coordinator

    def detach(self) -> None:
        self._coordinator = None
        self._wake()

    def joined(self) -> None:
        """The group just assigned partitions: the session is confirmed now."""
        self._confirmed_at = time.monotonic()

    def generation(self) -> int:
        """The consumer's current generation (stamp new partitions with it)."""
        coordinator = self._coordinator
        return NO_GENERATION if coordinator is None else int(coordinator.generation)

    async def check(self, part: _Stamped) -> None:
        """Return once the member may act for ``part``; raise :class:`WorkLost` if it may not."""
        while True:
            if not self._current(part):
                raise WorkLost(
                    f"partition of generation {part.generation} is no longer this member's "
                    f"(generation now {self.generation()})"
                )
            if time.monotonic() < self._confirmed_at + self._window:
                return
            # The coordinator may have expired us: wait for a heartbeat's answer.
            heard = self._heard
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(heard.wait(), self._interval)

    def _current(self, part: _Stamped) -> bool:
        generation = self.generation()
        return generation != NO_GENERATION and part.generation == generation

    def _wake(self) -> None:
        heard, self._heard = self._heard, asyncio.Event()
        heard.set()
