"""Owning partitions of a topic in a consumer group: what the sink and the poller share.

A worker role that keeps state per partition (the sink: a command ledger
per commands partition; the poller: the cursor records, and so the poll
streams, of each cursors partition) joins a consumer group on its topic and
lives by the group's assignment. :class:`PartitionOwner` is that life, once:

- the consumer settings every owner uses (:func:`group_consumer`): the
  session timeout of ``worker.session_timeout_s`` (a dead worker's
  partitions move on after it), heartbeats ten times per session, five
  minutes between polls at most;
- start and stop (:meth:`PartitionOwner.run` until :meth:`PartitionOwner.stop`):
  an idempotent producer and the group consumer, connected within
  ``kafka.connect_timeout_s``;
- on assignment, the state of each new partition is loaded (the subclass's
  :meth:`~PartitionOwner.load`), retried with backoff (:class:`core.retry.Backoff`,
  :data:`LOAD_RETRY`) until it succeeds -- aiokafka would only log an error
  raised in its rebalance listener and carry on without the state;
- aiokafka starts fetching a new assignment before the listener has run, so
  records can arrive before their partition's state: each partition has a
  ``ready`` event, set once its state is loaded, and a record handed to
  :meth:`~PartitionOwner.take` before that carries an unready partition (the
  sink queues it and its key tasks wait for ``ready``; the poller leaves it,
  because its load re-positions the consumer after what it read);
- on revocation (and on stop) the subclass's :meth:`~PartitionOwner.release`
  finishes or stops what runs for those partitions before the group moves
  them on, and their state is dropped;
- each partition is stamped with the group generation it was assigned in,
  and :attr:`PartitionOwner.membership` (:class:`streams.membership.Membership`)
  tells whether the member may still act for it: the fence a subclass
  checks before every write and call, so a member that was paused out of
  the group answers nothing for partitions it lost.

:func:`seek_all` moves a consumer to given offsets, partition by partition.
"""

from __future__ import annotations

import asyncio
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition

from core.retry import Backoff, RetryPolicy
from streams.settings import Settings

from . import kafka
from .membership import NO_GENERATION, Membership
from .watchdog import StallWatchdog

__all__ = [
    "LOAD_RETRY",
    "OwnedPartition",
    "PartitionOwner",
    "RebalanceListener",
    "group_consumer",
    "seek_all",
]

log = logging.getLogger(__name__)

#: pauses between tries to load an assigned partition's state: 0.5 s, doubling up to 10 s
LOAD_RETRY = RetryPolicy(initial_delay=0.5, max_delay=10.0, jitter="none")
#: how long the stall watchdog waits for a partition's fetch position
POSITION_WAIT_S = 1.0
#: the longest a member may go between two polls of the group consumer
MAX_POLL_INTERVAL_MS = 300_000


def group_consumer(settings: Settings, *, group_id: str, **overrides: Any) -> AIOKafkaConsumer:
    """The consumer of a partition owner in group ``group_id`` (not started).

    ``overrides`` are the owner's own (the sink's batch size and rebalance
    timeout, the poller's start at the latest offset).
    """
    session_s = settings.worker.session_timeout_s
    options: dict[str, Any] = {
        "group_id": group_id,
        "session_timeout_ms": int(session_s * 1000),
        "heartbeat_interval_ms": int(heartbeat_interval_s(settings) * 1000),
        "max_poll_interval_ms": MAX_POLL_INTERVAL_MS,
        **overrides,
    }
    return kafka.consumer(settings, **options)


def heartbeat_interval_s(settings: Settings) -> float:
    """Ten heartbeats per session."""
    return settings.worker.session_timeout_s / 10


def seek_all(consumer: AIOKafkaConsumer, offsets: Mapping[TopicPartition, int]) -> None:
    """Make ``offsets`` the next offset ``consumer`` fetches of each partition."""
    for tp, offset in offsets.items():
        consumer.seek(tp, offset)


@dataclass
class OwnedPartition:
    """An assigned partition; subclasses add the state :meth:`PartitionOwner.load` fills."""

    tp: TopicPartition
    ready: asyncio.Event = field(default_factory=asyncio.Event)  # state loaded
    generation: int = NO_GENERATION  # the group generation it was assigned in


P = TypeVar("P", bound=OwnedPartition)


class PartitionOwner(ABC, Generic[P]):
    """A consumer-group member that owns partitions of ``topic`` (see the module docstring).

    ``await owner.run()`` until :meth:`stop`. Subclasses give
    :meth:`new_partition`, :meth:`load`, :meth:`take` and :meth:`release`,
    and may hook :meth:`prepare`, :meth:`consumer_options`, :meth:`on_started`,
    :meth:`before_fetch`, :meth:`after_fetch`, :meth:`loaded`,
    :meth:`load_failed` and :meth:`close`.
    """

    #: how long one fetch waits for records, and how many it returns at most
    fetch_timeout_ms = 500
    max_records: int | None = None
    #: pauses between tries of :meth:`load`
    load_retry = LOAD_RETRY

    def __init__(self, settings: Settings, *, topic: str, group_id: str, role: str) -> None:
        self.settings = settings
        self.topic = topic
        self.group_id = group_id
        self.role = role  # names this owner in log lines: "poll", "sink stripe"
        self._parts: dict[int, P] = {}
        self._stopping = asyncio.Event()
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self.started = asyncio.Event()
        self.watchdog = StallWatchdog(role, settings.worker.stall_timeout_s)
        self.membership = Membership(
            settings.worker.session_timeout_s, heartbeat_interval_s(settings)
        )
        self.paused_all = False  # the subclass paused every partition on purpose

    # -- what subclasses give ------------------------------------------------------
    @abstractmethod
    def new_partition(self, tp: TopicPartition) -> P:
        """The (empty, not ready) state of a newly assigned partition."""

    @abstractmethod
    async def load(self, parts: Sequence[P]) -> None:
        """Fill the state of ``parts`` (none is ready yet); raise to be tried again."""

    @abstractmethod
    def take(self, part: P, messages: Sequence[Any]) -> None:
        """Records fetched from ``part``; ``part.ready`` may not be set yet."""

    @abstractmethod
    async def release(self, parts: Sequence[P], *, stopping: bool) -> None:
        """Finish or stop what runs for ``parts``: they are revoked (or the
        owner stops, ``stopping``) and their state is dropped after this."""

    # -- hooks -------------------------------------------------------------------------
    async def prepare(self) -> None:
        """Check what must exist before connecting (topics, partition counts)."""

    def consumer_options(self) -> dict[str, Any]:
        """This owner's overrides of :func:`group_consumer`'s options."""
        return {}

    def on_started(self) -> None:
        """Connected and subscribed, before the first fetch."""

    def before_fetch(self, consumer: AIOKafkaConsumer) -> None:
        """Before each fetch (the sink pauses or resumes its partitions here)."""

    async def after_fetch(self) -> None:
        """After each fetch's records were taken (the sink commits here)."""

    async def loaded(self, parts: Sequence[P], seconds: float) -> None:
        """``parts`` are ready (their state loaded in ``seconds``)."""

    def load_failed(self, exc: Exception) -> None:
        """A try of :meth:`load` failed; another follows after a pause."""
        log.warning("%s: reading the state of %s failed (%s); retrying", self.role, self.topic, exc)

    async def close(self) -> None:
        """The owner stopped and released every partition: close what it holds."""

    # -- lifecycle ---------------------------------------------------------------------
    async def run(self) -> None:
        """Own partitions until :meth:`stop`; raises KafkaUnavailable if Kafka is down at start."""
        settings = self.settings
        await self.prepare()
        producer = kafka.producer(settings, linger_ms=1)
        consumer = group_consumer(settings, group_id=self.group_id, **self.consumer_options())
        async with kafka.connect(settings, producer), kafka.connect(settings, consumer):
            self._producer, self._consumer = producer, consumer
            self.membership.attach(consumer)
            consumer.subscribe([self.topic], listener=RebalanceListener(self))
            self.on_started()
            self.started.set()
            watch = asyncio.create_task(self.watchdog.watch(_ConsumerProbe(self, consumer)))
            try:
                await self._consume(consumer, watch)
            finally:
                watch.cancel()
                await asyncio.gather(watch, return_exceptions=True)
                await self.release(list(self._parts.values()), stopping=True)
                self._parts.clear()
                await self.close()
                self.membership.detach()
                self._producer = self._consumer = None

    def stop(self) -> None:
        self._stopping.set()

    @property
    def consumer(self) -> AIOKafkaConsumer | None:
        """The group consumer while :meth:`run` runs."""
        return self._consumer

    def excused(self) -> set[TopicPartition]:
        """Partitions held on purpose, not stalls (see :mod:`streams.watchdog`):
        all while :attr:`paused_all`, else those whose state is loading."""
        if self.paused_all:
            return {part.tp for part in self._parts.values()}
        return {part.tp for part in self._parts.values() if not part.ready.is_set()}

    def owned_partitions(self) -> list[int]:
        """The partitions of :attr:`topic` this member owns with their state loaded."""
        return sorted(n for n, part in self._parts.items() if part.ready.is_set())

    async def _consume(self, consumer: AIOKafkaConsumer, watch: asyncio.Task[None]) -> None:
        while not self._stopping.is_set():
            if watch.done():
                watch.result()  # raises PartitionStalled: the worker exits
            self.before_fetch(consumer)
            batch = await consumer.getmany(
                timeout_ms=self.fetch_timeout_ms, max_records=self.max_records
            )
            for tp, messages in batch.items():
                part = self._partition(consumer, tp)
                if part is not None:  # None: revoked while the fetch was on its way
                    self.take(part, messages)
            await self.after_fetch()

    def _partition(self, consumer: AIOKafkaConsumer, tp: TopicPartition) -> P | None:
        """The state of an assigned partition, made (not ready) if records of
        a new assignment arrive before the rebalance listener ran."""
        part = self._parts.get(tp.partition)
        if part is None and tp in consumer.assignment():
            part = self._parts[tp.partition] = self._stamped(tp)
        return part

    def _stamped(self, tp: TopicPartition) -> P:
        part = self.new_partition(tp)
        part.generation = self.membership.generation()
        return part

    # -- the group's assignment --------------------------------------------------
    async def assigned(self, tps: Sequence[TopicPartition]) -> None:
        """Load the state of the newly assigned partitions, retrying until it is read."""
        self.membership.joined()
        new = [tp for tp in tps if tp.topic == self.topic]
        for tp in new:
            if tp.partition not in self._parts:
                self._parts[tp.partition] = self._stamped(tp)
        parts = [self._parts[tp.partition] for tp in new]
        parts = [p for p in parts if not p.ready.is_set()]
        if not parts:
            return
        started = time.monotonic()
        backoff = Backoff(self.load_retry)
        while True:
            try:
                await self.load(parts)
                break
            except Exception as exc:  # aiokafka would swallow it: keep trying, visibly
                self.load_failed(exc)
                await asyncio.sleep(backoff.failed())
        for part in parts:
            part.ready.set()
        await self.loaded(parts, time.monotonic() - started)

    async def revoked(self, tps: Sequence[TopicPartition]) -> None:
        """Release the revoked partitions, then forget them."""
        parts = [self._parts[tp.partition] for tp in tps if tp.partition in self._parts]
        await self.release(parts, stopping=False)
        for part in parts:
            self._parts.pop(part.tp.partition, None)


class RebalanceListener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Hands the group's rebalances to a :class:`PartitionOwner`."""

    def __init__(self, owner: PartitionOwner[Any]) -> None:
        self.owner = owner

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self.owner.revoked(list(revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        await self.owner.assigned(list(assigned))


class _ConsumerProbe:
    """A :class:`~streams.watchdog.StallProbe` of an owner's aiokafka consumer."""

    def __init__(self, owner: PartitionOwner[Any], consumer: AIOKafkaConsumer) -> None:
        self.owner = owner
        self.consumer = consumer

    def assigned(self) -> set[TopicPartition]:
        return {tp for tp in self.consumer.assignment() if tp.topic == self.owner.topic}

    def excused(self) -> set[TopicPartition]:
        return self.owner.excused()

    async def positions(self, tps: Any) -> dict[TopicPartition, int | None]:
        return {tp: await self._position(tp) for tp in tps if tp in self.consumer.assignment()}

    async def _position(self, tp: TopicPartition) -> int | None:
        """The fetch position; a partition paused before it had one (aiokafka's
        ``position`` would wait for it) is where it would start: its committed
        offset, else its first."""
        try:
            return int(await asyncio.wait_for(self.consumer.position(tp), POSITION_WAIT_S))
        except TimeoutError:
            committed = await self.consumer.committed(tp)
            if committed is not None:
                return int(committed)
            first: dict[TopicPartition, int] = await self.consumer.beginning_offsets([tp])
            return first.get(tp)

    async def end_offsets(self, tps: Any) -> dict[TopicPartition, int]:
        ends: dict[TopicPartition, int] = await self.consumer.end_offsets(list(tps))
        return ends

    async def recover(self, tp: TopicPartition, position: int) -> None:
        if tp in self.consumer.paused():
            self.consumer.resume(tp)
        self.consumer.seek(tp, position)
