"""Releasing partitions: the calls in flight finish, nothing new starts.

When partitions are revoked (a member joins or leaves: with eager
rebalancing every member releases all of its partitions) or the worker
stops (SIGTERM), the sink must have answered every call that may have
reached the provider before the group moves the partitions on: the next
owner reads the ledger when it is assigned, and a ``started`` marker
without a Result then is answered ``outcome_unknown``.

So a release closes the partitions first (``PartitionState.closing``):
no key queue takes its next record, and a record still waiting for a call
slot gives up (:func:`slot` raises :class:`Yielded`) before anything is
sent. Only the calls in flight are waited for, at most
``sink.drain_timeout_s``; the records fetched but not started stay
unfinished (their offsets uncommitted) and run at the next owner.

Measured (tests/integration/test_sink_drain.py: 3 workers, GitHub at
150 ms, a SIGTERM and a replacement per wave of 120 commands, drain bound
1.5 s): waiting for the whole backlog instead, as the drain did before,
ran out of time and cancelled calls in flight at every restart, 22 of 600
commands answered ``outcome_unknown``; waiting for the calls in flight
only, 0.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

from ._partitions import PartitionState

__all__ = ["Yielded", "drain", "slot"]


class Yielded(asyncio.CancelledError):
    """A record's partition was released before its call was sent: the
    record is left unfinished for the next owner (a cancellation, so
    nothing answers it)."""


async def drain(parts: Sequence[PartitionState], timeout: float) -> int:
    """Close ``parts``, wait up to ``timeout`` for their calls in flight,
    then cancel what still runs; returns how many were cancelled."""
    for part in parts:
        part.closing.set()
    tasks = {t for p in parts for t in p.tasks}
    if not tasks:
        return 0
    _done, pending = await asyncio.wait(tasks, timeout=timeout)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending)
    return len(pending)


@contextlib.asynccontextmanager
async def slot(slots: asyncio.Semaphore, part: PartitionState) -> AsyncIterator[None]:
    """Hold one of ``slots`` for a call; :class:`Yielded` if ``part`` closes first."""
    if part.closing.is_set():
        raise Yielded
    acquire = asyncio.ensure_future(slots.acquire())
    closing = asyncio.ensure_future(part.closing.wait())
    try:
        await asyncio.wait({acquire, closing}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        _give_back(acquire, slots)
        raise
    finally:
        closing.cancel()
    if part.closing.is_set():  # closing wins even when a slot came at once: nothing is sent
        _give_back(acquire, slots)
        raise Yielded
    try:
        yield
    finally:
        slots.release()


def _give_back(acquire: asyncio.Future[Any], slots: asyncio.Semaphore) -> None:
    """The slot ``acquire`` got, or its wait, given up (a cancelled
    ``Semaphore.acquire`` passes a wake-up it got on)."""
    if not acquire.done():
        acquire.cancel()
    elif not acquire.cancelled() and acquire.exception() is None:
        slots.release()
