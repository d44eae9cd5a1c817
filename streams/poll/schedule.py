"""When a poll stream runs: pure functions of the time and a random source.

Each owned stream has its own task (:mod:`streams.poll.runner`); the
deadlines it waits for are decided here, from the poll settings, the
stream's last stored record, the time (:class:`Now`, read from the
poller's injected :class:`Clock`) and a :class:`random.Random`, so they are
tested without Kafka, an event loop or a clock that moves:

- :func:`first_due`: a newly owned stream polls at once (spread by a
  little jitter) if it is new, in the middle of a run or its last poll
  failed; otherwise one interval after its last good poll, whichever worker
  did it. A cron stream waits for its next fire time;
- :func:`next_due`: after a good run, one interval after the run *started*
  (each stream with a random phase, ``poll.jitter`` of its interval), or the
  next cron fire time plus up to ``jitter`` minutes;
- :func:`retry_policy`: after a throttled run, a pause from ``retry_min_s``
  doubling up to ``retry_max_s``, drawn from the upper half of its window
  (:class:`core.retry.Backoff` counts the failures);
- a cursor change Kafka did not take yet is tried again ``retry_min_s`` later.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from core.poll import PollStream
from core.retry import RetryPolicy

from ..offsets.cursors import CursorRecord

if TYPE_CHECKING:
    from streams.settings import PollSettings

__all__ = [
    "MAX_START_SPREAD_S",
    "NEVER",
    "Clock",
    "LoopClock",
    "Now",
    "Plan",
    "first_due",
    "next_due",
    "plan_for",
    "retry_policy",
]

#: streams due at start are spread over ``jitter`` x this at most
MAX_START_SPREAD_S = 300.0
#: the deadline of a stream stopped by an error (until a cursor change wakes it)
NEVER = float("inf")
#: the statuses of a last poll that went through
SETTLED = frozenset({"ok", "not_modified"})


@dataclass(frozen=True)
class Now:
    """One reading of both clocks a schedule uses: ``monotonic`` (seconds on
    the clock deadlines are waited on) and ``wall`` (UTC: cron expressions
    and stored poll times)."""

    monotonic: float
    wall: datetime


class Clock(Protocol):
    """Where a poller reads :class:`Now` from."""

    def now(self) -> Now: ...


class LoopClock:
    """The running event loop's time (what ``asyncio.timeout`` counts in) and UTC now."""

    def now(self) -> Now:
        return Now(asyncio.get_running_loop().time(), datetime.now(UTC))


@dataclass(frozen=True)
class Plan:
    """How often one stream runs: every ``interval_s``, or at ``cron``'s fire times."""

    interval_s: float
    jitter: float
    cron: str | None = None


def plan_for(cfg: PollSettings, stream_id: str, stream: PollStream) -> Plan:
    """The plan of ``stream_id``: its cron expression if it has one; its
    interval from ``poll.intervals``, else ``poll.interval_s``, else the
    stream's own."""
    return Plan(
        interval_s=cfg.intervals.get(stream_id) or cfg.interval_s or stream.interval_s,
        jitter=cfg.jitter,
        cron=cfg.cron.get(stream_id),
    )


def retry_policy(cfg: PollSettings) -> RetryPolicy:
    """The pauses of a throttled stream (only their delays apply: a stream
    never runs out of tries)."""
    return RetryPolicy(initial_delay=cfg.retry_min_s, max_delay=cfg.retry_max_s, jitter="equal")


def next_due(plan: Plan, started: float, now: Now, rng: random.Random) -> float:
    """When a stream whose run began at ``started`` (monotonic) runs next."""
    if plan.cron is not None:
        from croniter import croniter  # type: ignore[import-untyped]

        fire = croniter(plan.cron, now.wall).get_next(datetime)
        wait = float((fire - now.wall).total_seconds())
        return now.monotonic + wait + rng.uniform(0, plan.jitter * 60)
    return started + plan.interval_s * (1 + rng.uniform(-plan.jitter / 2, plan.jitter / 2))


def first_due(plan: Plan, record: CursorRecord, now: Now, rng: random.Random) -> float:
    """When a newly owned stream whose stored state is ``record`` polls first."""
    if plan.cron is not None:
        return next_due(plan, now.monotonic, now, rng)
    spread = rng.uniform(0, plan.jitter * min(plan.interval_s, MAX_START_SPREAD_S))
    if record.polled_at is None or record.cursor.in_run or record.status not in SETTLED:
        return now.monotonic + spread
    try:
        last = datetime.fromisoformat(record.polled_at).timestamp()
    except ValueError:
        return now.monotonic + spread
    wait = last + plan.interval_s - now.wall.timestamp()
    return now.monotonic + max(0.0, wait) + spread
