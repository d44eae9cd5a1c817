"""Committing the sink's offsets: each partition up to its first unfinished record.

A record is finished once its Result (and DLQ record, if any) is acked, so
a crash redelivers only records past the last commit. Commits are spaced
``sink.commit_interval_s`` apart, except when forced (revocation, stop).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError

from ._metrics import log
from ._partitions import PartitionState

__all__ = ["OffsetCommitter"]


class OffsetCommitter:
    """Commits the commit positions of a sink's partitions (see the module docstring)."""

    def __init__(self, name: str, interval_s: float) -> None:
        self._name = name
        self._interval_s = interval_s
        self._last = 0.0

    async def commit(
        self,
        consumer: AIOKafkaConsumer | None,
        parts: Iterable[PartitionState],
        *,
        force: bool = False,
    ) -> None:
        now = time.monotonic()
        if not force and now - self._last < self._interval_s:
            return
        self._last = now
        if consumer is None:
            return
        changed: dict[TopicPartition, tuple[PartitionState, int]] = {}
        for part in list(parts):
            position = part.commit_position()
            if position is not None and position != part.committed:
                changed[part.tp] = (part, position)
        if not changed:
            return
        try:
            await consumer.commit({tp: position for tp, (_part, position) in changed.items()})
        except (CommitFailedError, KafkaError) as exc:
            log.warning("sink %s: commit failed (%s); will retry", self._name, exc)
            return
        for part, position in changed.values():
            part.committed = position
