"""Rate budgets in virtual time: buckets, header adaptation, shares, GraphQL cost."""

from __future__ import annotations

import asyncio
import time
from email.utils import formatdate

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import core.ratelimit
from core import errors as e
from core._ratelimit_headers import parse_rate_headers
from core.ratelimit import Budget, BudgetRegistry, RatePolicy, TokenBucket
from tests.fakeclock import FakeClock


def budget(vt: FakeClock, **policy: object) -> Budget:
    return Budget(
        "demo:cred",
        RatePolicy(**policy),
        clock=vt,
        wall=vt.wall,
        sleep=vt.sleep,
    )


async def stamps(b: Budget, vt: FakeClock, n: int, tasks: int = 8) -> list[float]:
    """Acquire n times from `tasks` concurrent tasks; the virtual times of the grants."""
    out: list[float] = []
    left = [n]

    async def worker() -> None:
        while left[0] > 0:
            left[0] -= 1
            await b.acquire()
            out.append(vt.now)

    await asyncio.gather(*(worker() for _ in range(tasks)))
    return out


def max_in_window(times: list[float], window: float = 1.0) -> int:
    times = sorted(times)
    best = j = 0
    for i, t in enumerate(times):
        while times[j] <= t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


def test_public_surface() -> None:
    assert set(core.ratelimit.__all__) == {
        "BUDGETS",
        "Budget",
        "BudgetRegistry",
        "RatePolicy",
        "TokenBucket",
    }


def test_token_bucket() -> None:
    vt = FakeClock()
    bucket = TokenBucket(10, 2, clock=vt)
    assert bucket.take() == 0
    assert bucket.take() == 0
    assert bucket.take() == pytest.approx(0.1)
    vt.now += 0.1
    assert bucket.take() == 0
    assert bucket.take(5) == pytest.approx(0.2)  # clamped to capacity 2


async def test_rate_is_respected_across_concurrent_tasks() -> None:
    vt = FakeClock()
    b = budget(vt, rate=50)
    times = await stamps(b, vt, 500, tasks=16)
    elapsed = max(times) - 1000.0
    burst = b.policy.burst
    assert burst is not None
    assert len(times) == 500
    assert (500 - burst) / 50 <= elapsed + 1e-6
    assert max_in_window(times) <= 50 + burst + 1


async def test_retry_after_blocks_every_task() -> None:
    vt = FakeClock()
    b = budget(vt, rate=100)
    await b.acquire()
    b.observe({"Retry-After": "3"}, 429)
    assert b.blocked_for() == pytest.approx(3)
    start = vt.now
    times = await stamps(b, vt, 20)
    assert min(times) >= start + 3


async def test_retry_after_http_date() -> None:
    vt = FakeClock()
    b = budget(vt, rate=100)
    b.observe({"Retry-After": formatdate(vt.wall() + 10, usegmt=True)}, 429)
    assert 9 <= b.blocked_for() <= 10


async def test_429_without_headers_still_backs_off() -> None:
    vt = FakeClock()
    b = budget(vt, rate=10)
    b.observe({}, 429)
    assert b.blocked_for() > 0


def test_bare_429_halves_the_rate_once_per_window() -> None:
    vt = FakeClock()
    b = budget(vt, rate=40)
    sent = b.now()
    vt.now += 1
    b.observe({}, 429, sent_at=sent)
    assert b.rate == pytest.approx(20)
    b.observe({}, 429, sent_at=sent)  # in flight before the decrease: same window
    assert b.rate == pytest.approx(20)
    b.observe({}, 429, sent_at=b.now())  # sent at the lowered rate: halve again
    assert b.rate == pytest.approx(10)
    for _ in range(100):
        b.observe({}, 429)  # no send time: every one counts, down to the floor
    assert b.rate == pytest.approx(40 / 1000)


def test_successes_raise_the_rate_additively_up_to_the_configured_one() -> None:
    vt = FakeClock()
    b = budget(vt, rate=40)
    b.observe({}, 429)
    assert b.rate == pytest.approx(20)
    b.observe({}, 200)
    assert b.rate == pytest.approx(20 + 4 / 20)  # step rate/10, over a second's successes
    rates = []
    for _ in range(200):
        b.observe({}, 200)
        rates.append(b.rate)
    assert rates == sorted(rates)
    assert rates[-1] == 40  # the configured rate, never above
    b.observe({}, 404)  # neutral: neither up nor down
    assert b.rate == 40


def test_aimd_stays_under_an_announced_rate_and_off_without_adapt() -> None:
    vt = FakeClock()
    b = budget(vt, rate=40)
    b.observe({"RateLimit-Policy": '"default";q=10;w=1'}, 200)
    b.observe({}, 429)
    assert b.rate == pytest.approx(5)
    for _ in range(100):
        b.observe({}, 200)
    assert b.rate == pytest.approx(10)  # back to the provider's rate, not the configured
    fixed = budget(vt, rate=40, adapt=False)
    fixed.observe({}, 429)
    assert fixed.rate == 40
    assert fixed.blocked_for() > 0


async def test_remaining_exhausted_waits_for_reset() -> None:
    vt = FakeClock()
    b = budget(vt, rate=1000, max_wait=300)
    reset_epoch = str(int(vt.wall() + 60))
    b.observe({"X-RateLimit-Remaining": "2", "X-RateLimit-Reset": reset_epoch}, 200)
    await b.acquire()
    await b.acquire()
    start = vt.now
    await b.acquire()
    assert vt.now - start == pytest.approx(60, abs=1)


async def test_a_long_wait_raises_rate_limited_instead_of_hanging() -> None:
    vt = FakeClock()
    b = budget(vt, rate=1000, max_wait=30)
    b.observe({"Retry-After": "3600"}, 429)
    with pytest.raises(e.RateLimitedError) as info:
        await b.acquire()
    assert 3590 <= info.value.retry_after() <= 3600
    assert vt.sleeps == []  # failed at once, did not sleep
    tight = budget(vt, rate=1, burst=1, max_wait=1.5)
    await tight.acquire()
    assert await tight.acquire() == pytest.approx(1.0)
    first, second = await asyncio.gather(tight.acquire(), tight.acquire(), return_exceptions=True)
    assert first == pytest.approx(1.0)
    assert isinstance(second, e.RateLimitedError)  # 1 s queued + 1 s more > 1.5 s


async def test_ietf_policy_lowers_rate_never_raises_it() -> None:
    vt = FakeClock()
    b = budget(vt, rate=200)
    b.observe({"RateLimit-Policy": '"default";q=150;w=1'}, 200)
    assert b.rate == pytest.approx(150)
    b.observe({"RateLimit-Policy": "1000;w=1"}, 200)
    assert b.rate == pytest.approx(200)
    b.observe({"RateLimit-Policy": "100;w=60, 10;w=1"}, 200)
    assert b.rate == pytest.approx(100 / 60)


def test_adapt_off_ignores_quota_headers_but_not_retry_after() -> None:
    vt = FakeClock()
    b = budget(vt, rate=200, adapt=False)
    b.observe({"RateLimit-Policy": "10;w=1", "Retry-After": "2"}, 429)
    assert b.rate == 200
    assert b.blocked_for() == pytest.approx(2)


@pytest.mark.parametrize(
    "headers",
    [
        {"Retry-After": "soon"},
        {"Retry-After": "-5"},
        {"Retry-After": "1e400"},
        {"X-RateLimit-Remaining": "lots", "X-RateLimit-Reset": "never"},
        {"X-RateLimit-Remaining": "-1", "X-RateLimit-Reset": "nan"},
        {"RateLimit-Policy": ";;;q=;w=abc", "RateLimit": "garbage=, r=x"},
        {"RateLimit-Policy": "0;w=0"},
        {"RateLimit": 'limit=abc, remaining="", reset=-1'},
        {"X-RateLimit-Limit": "\x00\xff"},
    ],
)
async def test_invalid_headers_never_crash(headers: dict[str, str]) -> None:
    vt = FakeClock()
    b = budget(vt, rate=10)
    b.observe(headers, 200)
    b.observe(headers, 429)
    await b.acquire()
    assert b.rate > 0


def test_parse_all_header_forms() -> None:
    wall = 1_800_000_000.0
    sig = parse_rate_headers(
        {
            "X-RateLimit-Limit": "5000",
            "X-RateLimit-Remaining": "42",
            "X-RateLimit-Reset": "1800000030",
        },
        now=wall,
    )
    assert (sig.quota, sig.remaining, sig.reset) == (5000, 42, 30)
    sig = parse_rate_headers({"RateLimit": "limit=100, remaining=7, reset=5"}, now=wall)
    assert (sig.quota, sig.remaining, sig.reset) == (100, 7, 5)
    sig = parse_rate_headers(
        {"RateLimit": '"default";r=3;t=2', "RateLimit-Policy": '"default";q=10;w=1'}, now=wall
    )
    assert (sig.quota, sig.window, sig.remaining, sig.reset) == (10, 1, 3, 2)
    assert parse_rate_headers({}).empty


async def test_partition_share_splits_the_quota() -> None:
    vt = FakeClock()
    b = budget(vt, rate=100, share=0.5)
    assert b.rate == 50  # fixed-share fallback
    b.set_partition_share(1, 4)
    assert b.rate == 25
    b.observe({"RateLimit-Policy": "40;w=1"}, 200)
    assert b.rate == 10  # min(100, 40) * 1/4
    b.set_partition_share(0, 0)
    assert b.rate == 20  # back to the fixed share
    b.set_partition_share(0, 6)
    assert b.rate > 0  # owning nothing still leaves a trickle


async def test_graphql_cost_points() -> None:
    vt = FakeClock()
    b = budget(vt, rate=100)
    assert await b.acquire_points(500) == 0  # nothing known yet
    ext = {
        "cost": {
            "throttleStatus": {
                "maximumAvailable": 1000,
                "currentlyAvailable": 100,
                "restoreRate": 50,
            }
        }
    }
    b.observe_graphql_cost(ext)
    waited = await b.acquire_points(200)
    assert waited == pytest.approx(2.0)  # (200 - 100) / 50
    for bad in (None, {}, {"cost": 5}, {"cost": {"throttleStatus": {"maximumAvailable": "x"}}}):
        b.observe_graphql_cost(bad)


def test_registry_shares_one_budget_per_credential() -> None:
    reg = BudgetRegistry()
    policy = RatePolicy(rate=10)
    a = reg.get("demo", "cred-a", policy)
    assert reg.get("demo", "cred-a", policy) is a
    assert reg.get("demo", "cred-b", policy) is not a
    reg.set_partition_share("demo", 1, 2)
    assert a.rate == 5


def test_budget_survives_a_new_event_loop() -> None:
    b = Budget("x", RatePolicy(rate=1000))

    async def burst() -> None:
        await asyncio.wait_for(asyncio.gather(*(b.acquire() for _ in range(60))), 5)

    for _ in range(2):
        asyncio.run(burst())


def test_default_burst_and_validation() -> None:
    assert RatePolicy(rate=200).burst == 10
    assert RatePolicy(rate=2).burst == 1
    for field, value in (("rate", -1), ("rate", 0), ("share", 0), ("share", 2), ("burst", 0.5)):
        kwargs: dict[str, object] = {"rate": 10, field: value}
        with pytest.raises(e.PolicyError) as info:
            RatePolicy(**kwargs)
        assert info.value.setting == field
    with pytest.raises(e.PolicyError) as info:
        RatePolicy()  # type: ignore[call-arg]
    assert info.value.setting == "rate"


def test_monotonic_default_clock() -> None:
    b = Budget("x", RatePolicy(rate=1))
    assert b.blocked_for() == 0
    assert time.monotonic() > 0


_HEADER_NAMES = [
    "Retry-After",
    "RateLimit",
    "RateLimit-Policy",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "X-RateLimit-Limit",
]


@settings(max_examples=300, deadline=None)
@given(
    headers=st.dictionaries(
        st.sampled_from(_HEADER_NAMES),
        st.one_of(
            st.text(max_size=40),
            st.from_regex(r"-?[0-9]{1,12}(\.[0-9]{1,4})?", fullmatch=True),
            st.from_regex(r'"default";[qrtw]=-?[0-9]{1,6}(;[qrtw]=[0-9a-z]{0,6})?', fullmatch=True),
        ),
    ),
    status=st.sampled_from([200, 429, 503]),
)
def test_any_header_values_never_crash_or_stall(headers: dict[str, str], status: int) -> None:
    vt = FakeClock()
    b = budget(vt, rate=10, max_wait=10_000)
    parse_rate_headers(headers)
    b.observe(headers, status)
    assert b.rate > 0
    assert 0 <= b.blocked_for() <= b.policy.max_block


async def test_low_priority_waits_while_normal_requests_are_waiting() -> None:
    """Polls yield to sinks: while sink tasks queue for a tight budget, a
    low-priority request gets nothing; it goes once they are served."""
    vt = FakeClock()
    b = budget(vt, rate=10, burst=1)
    order: list[str] = []

    async def normal(i: int) -> None:
        await b.acquire()
        order.append(f"n{i}")

    async def low() -> None:
        await b.acquire(low_priority=True)
        order.append("low")

    await b.acquire()  # the bucket is empty: everyone must wait
    await asyncio.gather(low(), *(normal(i) for i in range(5)))
    assert order[-1] == "low", order
    assert sorted(order[:-1]) == [f"n{i}" for i in range(5)]


async def test_low_priority_goes_at_full_rate_when_alone() -> None:
    vt = FakeClock()
    b = budget(vt, rate=20)
    start = vt.now
    for _ in range(100):
        await b.acquire(low_priority=True)
    assert vt.now - start <= 100 / 20 + 0.1


async def test_low_priority_still_raises_past_max_wait() -> None:
    vt = FakeClock()
    b = budget(vt, rate=1, burst=1, max_wait=2)
    await b.acquire()
    b.observe({"Retry-After": "30"}, 429)
    with pytest.raises(e.RateLimitedError):
        await b.acquire(low_priority=True)
