"""What the poller knows: of each cursors partition it owns, and of each stream it polls.

A cursors partition's state is read on assignment (:class:`CursorStates`):
the latest record of each stream is its position, and a CLI change
(``origin="cli"``) that no later poller record echoed (same ``request``
id) was never applied -- its last owner wrote a page's cursor after the
change landed, then lost the stream -- so it still wins.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from core.client import ProviderClient
from core.retry import Backoff

from ..offsets.cursors import CursorRecord
from ..partitions import OwnedPartition
from .schedule import Plan
from .targets import PollTarget

__all__ = ["CursorPartition", "CursorStates", "OwnedStream"]

log = logging.getLogger(__package__)


@dataclass
class CursorStates:
    """What one cursors partition says about its streams (see the module docstring)."""

    latest: dict[str, CursorRecord] = field(default_factory=dict)
    changes: dict[str, CursorRecord] = field(default_factory=dict)  # CLI changes not echoed

    def add(self, message: Any) -> None:
        """Fold in the next record of the partition (a tombstone deletes its stream's state)."""
        if message.value is None:
            self.latest.pop(message.key.decode(errors="replace"), None)
            return
        try:
            record = CursorRecord.from_json(message.value)
        except ValueError as exc:
            log.warning("poll: unreadable cursor record at %s: %s", message.offset, exc)
            return
        self.latest[record.stream] = record
        if record.origin == "cli":
            self.changes[record.stream] = record
        elif record.request is not None and record.request == getattr(
            self.changes.get(record.stream), "request", None
        ):
            del self.changes[record.stream]


@dataclass
class CursorPartition(OwnedPartition):
    """An owned partition of the cursors topic."""

    states: CursorStates = field(default_factory=CursorStates)


@dataclass
class OwnedStream:
    """A stream this worker polls: where it writes, its last record, its task.

    ``pending``: a CLI change to apply before anything else (``wake`` is set
    when one arrives); ``failed``: why the stream stopped, until a change
    restarts it; ``backoff`` counts the throttled runs in a row.
    """

    target: PollTarget
    client: ProviderClient
    topic: str  # the connector's <c>.ingest
    partition: int  # of the cursors topic
    record: CursorRecord
    plan: Plan
    backoff: Backoff
    generation: int  # of its cursors partition's assignment (the zombie fence)
    pending: CursorRecord | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    failed: str | None = None

    @property
    def id(self) -> str:
        return self.target.id
