"""When the sink received a command and started its call: a Result's timings."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from core.envelopes import Timings, utcnow

__all__ = ["CommandTimes"]


@dataclass
class CommandTimes:
    received_at: datetime = field(default_factory=utcnow)
    started_at: datetime | None = None

    def timings(self) -> Timings:
        return Timings(
            received_at=self.received_at, started_at=self.started_at, finished_at=utcnow()
        )
