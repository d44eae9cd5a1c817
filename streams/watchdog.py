"""The stall watchdog every consuming role shares: no partition stalls silently.

A partition is *stalled* when it is assigned to this member, the role has
not paused it on purpose (a sink's backpressure or open breaker, a partition
whose state is still loading, a faust rebalance), records are waiting (its
end offset is past its position) and its position has not moved for
``worker.stall_timeout_s``. The known trigger is in the transport, not in
the role's code: faust-streaming#629 (still reported in 2025) is a worker
that rebalanced and then fetched nothing more of a partition it owns,
because the partition stayed paused or out of faust's active set; an
external ``pause()`` of the aiokafka consumer reproduces it.

On a stall the watchdog, per partition:

1. logs one line, counts ``switchboard_stalls_total{role}``, raises
   ``switchboard_stalled_partitions{role}`` and makes the role unhealthy
   (``/healthz`` 503) -- all undone once the position moves again or
   nothing waits;
2. recovers once: the role's probe resumes the partition (if paused) and
   re-seeks it to its current position, which restarts its fetch;
3. if it is still stalled ``stall_timeout_s`` after that recovery, raises
   :class:`PartitionStalled`: the worker exits non-zero with that one-line
   reason so a supervisor restarts it (another member takes the partition).

The roles give a :class:`StallProbe` (what is assigned, positions, end
offsets, what they paused on purpose, how to recover); the decisions live
here once, with an injectable clock.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from prometheus_client import Counter, Gauge

__all__ = ["STALLED", "STALLS", "PartitionStalled", "StallProbe", "StallWatchdog"]

log = logging.getLogger("streams.watchdog")

STALLED = Gauge(
    "switchboard_stalled_partitions",
    "Assigned partitions with records waiting whose position has not moved for stall_timeout_s",
    ["role"],
)
STALLS = Counter("switchboard_stalls_total", "Stalls detected (each one recovered once)", ["role"])


class PartitionStalled(Exception):
    """A partition stayed stalled after its recovery: the worker must exit."""


class StallProbe(Protocol):
    """What the watchdog asks a role's consumer; partitions are any hashable
    value with ``topic`` and ``partition`` (aiokafka's and faust's TPs)."""

    def assigned(self) -> Collection[Any]:
        """The partitions this member consumes (not its changelogs)."""

    def excused(self) -> Collection[Any]:
        """Partitions the role holds on purpose (backpressure, loading, rebalancing)."""

    async def positions(self, tps: Collection[Any]) -> Mapping[Any, int | None]:
        """The next offset this member fetches of each partition (None: unknown yet)."""

    async def end_offsets(self, tps: Collection[Any]) -> Mapping[Any, int]:
        """Each partition's end offset."""

    async def recover(self, tp: Any, position: int) -> None:
        """Resume ``tp`` if paused and re-seek it to ``position``."""


@dataclass
class _Track:
    position: int | None
    since: float  # when the position last moved (or nothing waited)
    stalled: bool = False
    recovered_at: float = 0.0


def _name(tp: Any) -> str:
    return f"{tp.topic}[{tp.partition}]"


class StallWatchdog:
    """Watches one role's partitions (see the module docstring)."""

    def __init__(
        self, role: str, timeout_s: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.role = role
        self.timeout_s = timeout_s
        self.clock = clock
        self._tracks: dict[Any, _Track] = {}
        STALLED.labels(role).set(0)
        STALLS.labels(role)

    @property
    def interval_s(self) -> float:
        """How often :meth:`watch` checks: a fifth of the timeout, 0.1 to 5 s."""
        return min(5.0, max(0.1, self.timeout_s / 5))

    @property
    def stalled(self) -> list[str]:
        """The stalled partitions, as ``topic[partition]``."""
        return sorted(_name(tp) for tp, t in self._tracks.items() if t.stalled)

    def health(self) -> tuple[bool, str]:
        """(ok, detail) for ``/healthz``."""
        stalled = self.stalled
        if not stalled:
            return True, "fetching"
        return False, f"stalled: {', '.join(stalled)} (no fetch for {self.timeout_s:g} s)"

    async def watch(self, probe: StallProbe) -> None:
        """Check every :attr:`interval_s` until cancelled; raises PartitionStalled."""
        try:
            while True:
                await asyncio.sleep(self.interval_s)
                await self.check(probe)
        finally:
            self.forget()

    async def check(self, probe: StallProbe) -> None:
        """One look at every assigned partition; recovers new stalls."""
        assigned = set(probe.assigned())
        for tp in [tp for tp in self._tracks if tp not in assigned]:
            self._clear(tp)
            del self._tracks[tp]
        if not assigned:
            return
        positions = await probe.positions(assigned)
        ends = await probe.end_offsets(assigned)
        excused = set(probe.excused())
        now = self.clock()
        for tp in assigned:
            position, end = positions.get(tp), ends.get(tp)
            track = self._tracks.get(tp)
            waiting = position is not None and end is not None and end > position
            if track is None or not waiting or tp in excused or position != track.position:
                if track is not None:
                    self._clear(tp)
                self._tracks[tp] = _Track(position, now)
                continue
            assert position is not None
            if not track.stalled and now - track.since >= self.timeout_s:
                track.stalled, track.recovered_at = True, now
                STALLS.labels(self.role).inc()
                STALLED.labels(self.role).inc()
                log.warning(
                    "%s: partition %s stalled at offset %d with %d records waiting "
                    "for %.0f s; resuming and re-seeking it",
                    self.role,
                    _name(tp),
                    position,
                    (end or 0) - position,
                    now - track.since,
                )
                await probe.recover(tp, position)
            elif track.stalled and now - track.recovered_at >= self.timeout_s:
                raise PartitionStalled(
                    f"{self.role}: partition {_name(tp)} still stalled at offset {position} "
                    f"{self.timeout_s:g} s after resuming it; exiting so the group "
                    "moves it to a working member"
                )

    def _clear(self, tp: Any) -> None:
        track = self._tracks.get(tp)
        if track is not None and track.stalled:
            track.stalled = False
            STALLED.labels(self.role).dec()
            log.info("%s: partition %s fetching again", self.role, _name(tp))

    def forget(self) -> None:
        """Drop every partition (the role stopped)."""
        for tp in list(self._tracks):
            self._clear(tp)
        self._tracks.clear()
