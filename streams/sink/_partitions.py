"""Assigned partitions and per-key queues: what the sink holds per record.

A :class:`PartitionState` tracks the offsets fetched from one commands
partition and which of them are finished, so the offset committed is the
first one not finished (a crash redelivers only what is past it). It is the
sink's :class:`~streams.partitions.OwnedPartition`: its ``ready`` event is
set once its ledger is loaded; records fetched before that wait in their
queues.

:class:`KeyQueues` runs records with the same Kafka key strictly one after
the other (one queue and one task per key) and different keys concurrently.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..partitions import OwnedPartition
from ._ledger import Ledger

__all__ = ["KeyQueues", "PartitionState", "SinkRecord"]


class SinkRecord:
    """A consumed command record (the fields the sink keeps)."""

    __slots__ = ("headers", "key", "offset", "partition", "timestamp", "topic", "value")

    def __init__(self, message: Any) -> None:
        self.topic: str = message.topic
        self.partition: int = message.partition
        self.offset: int = message.offset
        self.key: bytes | None = message.key
        self.value: bytes | None = message.value
        self.headers: list[tuple[str, bytes]] = list(message.headers or [])
        self.timestamp: int | None = message.timestamp

    def fallback_id(self) -> str:
        """The id to answer a record that is not a valid Command with: its own if readable."""
        with contextlib.suppress(Exception):
            value = orjson.loads(self.value or b"")
            if isinstance(value, dict) and isinstance(value.get("id"), str) and value["id"]:
                return str(value["id"])[:255]
        return f"{self.topic}/{self.partition}/{self.offset}"


@dataclass
class PartitionState(OwnedPartition):
    """One assigned commands partition: its ledger, offsets and running tasks."""

    ledger: Ledger = field(default_factory=Ledger)  # loaded before ``ready`` is set
    order: deque[int] = field(default_factory=deque)  # offsets fetched, in order
    finished: set[int] = field(default_factory=set)
    next_offset: int | None = None  # one past the highest fetched
    committed: int | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    #: set when released: no record starts any more (see :mod:`streams.sink._drain`)
    closing: asyncio.Event = field(default_factory=asyncio.Event)

    def track(self, offset: int) -> None:
        self.order.append(offset)
        self.next_offset = offset + 1

    def finish(self, offset: int) -> None:
        self.finished.add(offset)
        while self.order and self.order[0] in self.finished:
            self.finished.discard(self.order.popleft())

    @property
    def buffered(self) -> int:
        return len(self.order)

    def commit_position(self) -> int | None:
        """First offset not finished (what to commit), None if nothing fetched."""
        if self.order:
            return self.order[0]
        return self.next_offset


#: runs one record to its end; False stops its key's queue (the record stays unfinished)
Handle = Callable[[PartitionState, SinkRecord], Awaitable[bool]]


class KeyQueues:
    """One FIFO queue per (partition, key), each drained by its own task.

    ``handle(part, record)`` runs a record; when it returns True the record
    is finished (its offset may be committed) and the next one of its key
    runs, unless the partition is closing (released): then the queue stops
    and what is left runs at the partition's next owner. A record without a
    key is its own key.
    """

    def __init__(self, name: str, handle: Handle) -> None:
        self._name = name
        self._handle = handle
        self._queues: dict[tuple[int, bytes], deque[SinkRecord]] = {}

    def enqueue(self, part: PartitionState, record: SinkRecord) -> None:
        part.track(record.offset)
        key = (part.tp.partition, record.key if record.key is not None else b"%d" % record.offset)
        queue = self._queues.get(key)
        if queue is not None:
            queue.append(record)
            return
        self._queues[key] = deque([record])
        task = asyncio.create_task(self._drain(part, key), name=f"sink-{self._name}-{key!r}")
        part.tasks.add(task)
        task.add_done_callback(part.tasks.discard)

    def drop(self, partitions: Iterable[int]) -> None:
        """Forget the queues of ``partitions`` (revoked, or the sink stops)."""
        gone = set(partitions)
        for key in [k for k in self._queues if k[0] in gone]:
            del self._queues[key]

    async def _drain(self, part: PartitionState, key: tuple[int, bytes]) -> None:
        queue = self._queues[key]
        await _first(part.ready, part.closing)
        while queue and not part.closing.is_set():
            record = queue[0]
            if not await self._handle(part, record):
                return
            queue.popleft()
            part.finish(record.offset)
        if self._queues.get(key) is queue:
            del self._queues[key]


async def _first(*events: asyncio.Event) -> None:
    """Until one of ``events`` is set."""
    waits = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
