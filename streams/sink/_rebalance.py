"""The sink's rebalance listener: aiokafka's assignment calls, handed to the sink.

aiokafka calls it inside the rebalance, before the new assignment is
fetched from (assignment) or after the last records of the old one were
handed out (revocation); the sink loads the ledgers of what it got and
drains and commits what it loses (:meth:`Sink.assigned`,
:meth:`Sink.revoked`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from aiokafka import ConsumerRebalanceListener, TopicPartition

__all__ = ["PartitionOwner", "SinkRebalanceListener"]


class PartitionOwner(Protocol):
    """What takes partitions over and hands them back."""

    async def assigned(self, tps: Iterable[TopicPartition]) -> None: ...
    async def revoked(self, tps: Iterable[TopicPartition]) -> None: ...


class SinkRebalanceListener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: PartitionOwner) -> None:
        self.owner = owner

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self.owner.revoked(revoked)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        await self.owner.assigned(assigned)
