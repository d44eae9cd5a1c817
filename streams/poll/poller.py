"""The poller: the poll group member that owns cursors partitions and polls their streams.

A stream belongs to the partition its id hashes to
(:func:`streams.offsets.cursors.partition_for`), so the group's assignment gives
each stream exactly one owner. The rebalance life (load on assignment,
release on revocation, start and stop) is :class:`streams.partitions.PartitionOwner`'s;
this module says what a cursors partition's state is, which streams start
when it is loaded, and how CLI changes reach them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Sequence
from typing import Any

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from core.client import ProviderClient
from core.retry import Backoff
from streams.settings import Settings

from .. import kafka
from ..kafka.topics import TopicNames, partitions_of
from ..offsets.cursors import CursorRecord, partition_for
from ..partitions import PartitionOwner, seek_all
from . import schedule
from .runner import StreamRunner
from .state import CursorPartition, CursorStates, OwnedStream
from .targets import PollTarget

__all__ = ["Poller"]

log = logging.getLogger(__package__)
_RANDOM = random.Random()  # noqa: S311 - schedule jitter, not cryptography


class Poller(PartitionOwner[CursorPartition]):
    """Runs the poll streams this worker owns. ``await poller.run()`` until :meth:`stop`.

    ``clock`` and ``rng`` drive the schedule (:mod:`streams.poll.schedule`);
    by default the event loop's clock and one process-wide random source.
    """

    def __init__(
        self,
        settings: Settings,
        targets: Sequence[PollTarget],
        *,
        group_id: str | None = None,
        clock: schedule.Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        names = TopicNames.from_settings(settings)
        super().__init__(
            settings,
            topic=names.cursors,
            group_id=group_id or f"{settings.kafka.topic_prefix}switchboard-poll",
            role="poll",
        )
        self.cfg = settings.poll
        self.targets = {t.id: t for t in targets}
        self.names = names
        self.cursors_topic = names.cursors
        self._clock = clock or schedule.LoopClock()
        self._rng = rng or _RANDOM
        self._clients: dict[str, ProviderClient] = {}
        self._streams: dict[str, OwnedStream] = {}
        self._partition_count = 0
        self._runner: StreamRunner | None = None

    # -- what others read -----------------------------------------------------
    def health(self) -> dict[str, tuple[bool, str]]:
        """``poll:<id>`` -> (ok, detail) for every owned stream (failed ones not ok)."""
        return {
            f"poll:{s.id}": (s.failed is None, s.failed or s.record.status)
            for s in self._streams.values()
        }

    def owned(self) -> list[str]:
        return sorted(self._streams)

    # -- the partition owner's part ----------------------------------------------
    async def prepare(self) -> None:
        self._partition_count = len(await partitions_of(self.settings, self.cursors_topic) or [])
        if not self._partition_count:
            raise kafka.KafkaUnavailable(f"topic {self.cursors_topic} does not exist")

    def consumer_options(self) -> dict[str, Any]:
        # Only records written while we own a partition: its past is read by load().
        return {"enable_auto_commit": False, "auto_offset_reset": "latest"}

    def on_started(self) -> None:
        assert self._producer is not None
        self._runner = StreamRunner(
            self._producer,
            self.cursors_topic,
            self.cfg,
            clock=self._clock,
            rng=self._rng,
            guard=self.membership.check,
        )
        log.info("poll: %d stream(s) configured, group %s", len(self.targets), self.group_id)

    def new_partition(self, tp: TopicPartition) -> CursorPartition:
        return CursorPartition(tp)

    async def load(self, parts: Sequence[CursorPartition]) -> None:
        """Read ``parts`` to their ends: the latest record of each stream is its state."""
        tps = [p.tp for p in parts]
        consumer = self._consumer
        # The group consumer reads on from these ends: a record written while
        # we load is seen twice at worst (a CLI change then echoes twice).
        ends = await consumer.end_offsets(tps) if consumer is not None else {}
        states = {p.tp.partition: CursorStates() for p in parts}
        for message in await kafka.read_since(self.settings, tps, 0):
            states[message.partition].add(message)
        if consumer is not None:
            seek_all(consumer, ends)
        for part in parts:
            part.states = states[part.tp.partition]

    async def loaded(self, parts: Sequence[CursorPartition], seconds: float) -> None:
        """Start the streams of the loaded partitions."""
        runner = self._runner
        assert runner is not None
        states = {p.tp.partition: p.states for p in parts}
        generations = {p.tp.partition: p.generation for p in parts}
        started = []
        for sid, target in self.targets.items():
            partition = partition_for(sid, self._partition_count)
            if partition not in states or sid in self._streams:
                continue
            found = states[partition]
            stream = OwnedStream(
                target=target,
                client=self._client(target),
                topic=self.names.ingest(target.connector.name),
                partition=partition,
                record=found.latest.get(sid) or CursorRecord(sid, status="new"),
                plan=schedule.plan_for(self.cfg, sid, target.stream),
                backoff=Backoff(schedule.retry_policy(self.cfg), rng=self._rng),
                generation=generations[partition],
                # A change the last owner never applied (it wrote a page's cursor
                # after the change landed, then lost the stream) still wins.
                pending=found.changes.get(sid),
            )
            self._streams[sid] = stream
            stream.task = asyncio.create_task(runner.run(stream), name=f"poll {sid}")
            started.append(sid)
        if started:
            log.info("poll: now polling %s", ", ".join(sorted(started)))

    def take(self, part: CursorPartition, messages: Sequence[Any]) -> None:
        """Cursor records written while we own the partition: apply CLI changes.

        Records fetched before the partition was loaded are left: the load
        read them, and moved the consumer back to where it started reading.
        """
        if not part.ready.is_set():
            return
        for message in messages:
            self._on_record(message.value)

    async def release(self, parts: Sequence[CursorPartition], *, stopping: bool) -> None:
        partitions = {p.tp.partition for p in parts}
        gone = [s for s in self._streams.values() if stopping or s.partition in partitions]
        await self._stop_streams(gone)
        if gone and not stopping:
            log.info("poll: stopped %s (moved to another worker)", ", ".join(s.id for s in gone))

    async def close(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._runner = None

    # -- streams -------------------------------------------------------------------
    async def _stop_streams(self, streams: list[OwnedStream]) -> None:
        for stream in streams:
            if stream.task is not None:
                stream.task.cancel()
        await asyncio.gather(*(s.task for s in streams if s.task), return_exceptions=True)
        for stream in streams:
            self._streams.pop(stream.id, None)
        if streams and self._producer is not None:
            # Nothing this worker wrote may land after the next owner loaded.
            with contextlib.suppress(KafkaError):
                await self._producer.flush()

    def _client(self, target: PollTarget) -> ProviderClient:
        name = target.connector.name
        client = self._clients.get(name)
        if client is None:
            client = self._clients[name] = target.setup.client(
                low_priority=self.cfg.priority == "low"
            )
        return client

    def _on_record(self, raw: bytes | None) -> None:
        if raw is None:
            return
        try:
            record = CursorRecord.from_json(raw)
        except ValueError:
            return
        stream = self._streams.get(record.stream)
        if stream is None or record.origin != "cli":
            return
        stream.pending = record
        stream.wake.set()
