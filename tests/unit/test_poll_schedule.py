"""When a poll stream is due: the schedule at a given time, with a seeded random source."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.pagination import CursorPaginator, PageRequest
from core.poll import Cursor, PollStream
from core.retry import Backoff
from streams.offsets.cursors import CursorRecord
from streams.poll.schedule import (
    MAX_START_SPREAD_S,
    Now,
    Plan,
    first_due,
    next_due,
    plan_for,
    retry_policy,
)
from streams.settings import PollSettings

WALL = datetime(2026, 3, 1, 12, 0, 30, tzinfo=UTC)
NOW = Now(monotonic=1_000.0, wall=WALL)


def stream(interval_s: float = 60.0) -> PollStream:
    def to_events(_record: Any) -> list[Any]:
        return []

    return PollStream(
        name="items",
        path="/items",
        paginator=lambda: CursorPaginator(limit=10),
        to_events=to_events,
        interval_s=interval_s,
    )


def polled(ago_s: float, **fields: Any) -> CursorRecord:
    at = (WALL - timedelta(seconds=ago_s)).isoformat()
    return CursorRecord("generic.items", polled_at=at, **fields)


def draws(n: int = 200) -> list[random.Random]:
    return [random.Random(seed) for seed in range(n)]


def test_the_interval_comes_from_the_stream_then_the_settings_then_the_stream_id() -> None:
    assert plan_for(PollSettings(), "generic.items", stream(45)).interval_s == 45
    assert plan_for(PollSettings(interval_s=20), "generic.items", stream(45)).interval_s == 20
    cfg = PollSettings(interval_s=20, intervals={"generic.items": 7})
    assert plan_for(cfg, "generic.items", stream(45)) == Plan(7, 0.1)
    assert plan_for(cfg, "generic.other", stream(45)).interval_s == 20
    cron = PollSettings(cron={"generic.items": "*/5 * * * *"})
    assert plan_for(cron, "generic.items", stream()).cron == "*/5 * * * *"


def test_a_stream_polled_recently_waits_out_the_rest_of_its_interval() -> None:
    plan = Plan(interval_s=60, jitter=0)
    assert first_due(plan, polled(20), NOW, random.Random(1)) == pytest.approx(1_040.0)
    assert first_due(plan, polled(20, status="not_modified"), NOW, random.Random(1)) == (
        pytest.approx(1_040.0)
    )


@pytest.mark.parametrize(
    "record",
    [
        CursorRecord("generic.items", status="new"),  # never polled
        polled(500),  # overdue
        polled(20, status="throttled"),  # its last poll did not go through
        polled(20, status="failed"),
        polled(20, status="reset"),  # a CLI change: poll from the new cursor now
        polled(20, cursor=Cursor(next=PageRequest(url="/items?page=3"))),  # mid-run
        CursorRecord("generic.items", polled_at="yesterday-ish"),  # unreadable time
    ],
)
def test_a_stream_that_is_new_overdue_unsettled_or_mid_run_polls_at_once(
    record: CursorRecord,
) -> None:
    assert first_due(Plan(interval_s=60, jitter=0), record, NOW, random.Random(1)) == 1_000.0


def test_streams_due_at_start_are_spread_over_jitter_of_their_interval_at_most_5_min() -> None:
    new = CursorRecord("generic.items", status="new")
    short = [first_due(Plan(60, 0.5), new, NOW, rng) - 1_000.0 for rng in draws()]
    assert all(0 <= d <= 30 for d in short)
    assert max(short) > 25
    long = [first_due(Plan(7_200, 0.5), new, NOW, rng) - 1_000.0 for rng in draws()]
    assert all(0 <= d <= 0.5 * MAX_START_SPREAD_S for d in long)
    assert max(long) > 140


def test_the_next_run_is_one_interval_after_the_last_started_give_or_take_half_the_jitter() -> None:
    plan = Plan(interval_s=100, jitter=0.2)
    dues = [next_due(plan, 900.0, NOW, rng) for rng in draws()]
    assert all(990.0 <= d <= 1_010.0 for d in dues)
    assert min(dues) < 992
    assert max(dues) > 1_008
    assert next_due(Plan(interval_s=100, jitter=0), 900.0, NOW, random.Random(1)) == 1_000.0


def test_a_cron_stream_waits_for_its_next_fire_time_plus_up_to_jitter_minutes() -> None:
    # 12:00:30 now: "every minute" fires at 12:01:00, 30 s away.
    exact = Plan(interval_s=60, jitter=0, cron="* * * * *")
    assert next_due(exact, 0.0, NOW, random.Random(1)) == pytest.approx(1_030.0)
    assert first_due(exact, polled(1), NOW, random.Random(1)) == pytest.approx(1_030.0)
    jittered = Plan(interval_s=60, jitter=0.5, cron="0 13 * * *")  # 13:00, 59.5 min away
    dues = [next_due(jittered, 0.0, NOW, rng) - 1_000.0 for rng in draws()]
    assert all(3_570.0 <= d <= 3_570.0 + 30.0 for d in dues)


def test_one_seed_gives_one_schedule() -> None:
    plan = Plan(interval_s=60, jitter=0.3)
    new = CursorRecord("generic.items", status="new")

    def schedule(seed: int) -> tuple[float, float]:
        rng = random.Random(seed)
        return first_due(plan, new, NOW, rng), next_due(plan, 1_000.0, NOW, rng)

    assert schedule(42) == schedule(42)
    assert schedule(42) != schedule(43)


def test_a_throttled_stream_backs_off_from_retry_min_to_retry_max_never_below_half() -> None:
    cfg = PollSettings(retry_min_s=5, retry_max_s=60)
    backoff = Backoff(retry_policy(cfg), rng=random.Random(9))
    pauses = [backoff.failed() for _ in range(8)]
    windows = [5, 10, 20, 40, 60, 60, 60, 60]
    assert all(w / 2 <= p <= w for p, w in zip(pauses, windows, strict=True))
    backoff.succeeded()
    assert 2.5 <= backoff.failed() <= 5
