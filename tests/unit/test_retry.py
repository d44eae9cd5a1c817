"""The retry loop: classifier-driven, full jitter, cap, deadline, idempotency."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import httpx
import pytest

import core.retry
from core import errors as e
from core.retry import Backoff, Retrier, RetryPolicy, default_classifier
from tests.fakeclock import FakeClock


class Flaky:
    def __init__(self, errors: list[BaseException], result: str = "ok") -> None:
        self.errors = list(errors)
        self.calls = 0
        self.result = result

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return self.result


def retrier(vt: FakeClock, **policy: object) -> Retrier:
    return Retrier(
        RetryPolicy(**policy),
        sleep=vt.sleep,
        clock=vt,
        rng=random.Random(7),
    )


def test_public_surface() -> None:
    assert set(core.retry.__all__) == {
        "Backoff",
        "Classifier",
        "Retrier",
        "RetryPolicy",
        "default_classifier",
    }


async def test_retries_retryable_then_succeeds() -> None:
    vt = FakeClock(0.0)
    fn = Flaky([e.ServerError("503"), e.NetworkError("reset")])
    assert await retrier(vt).call(fn) == "ok"
    assert fn.calls == 3
    assert len(vt.sleeps) == 2


async def test_fatal_errors_are_not_retried() -> None:
    vt = FakeClock(0.0)
    for exc in (e.FatalRequestError("400"), e.FatalConfigError("401"), e.InvalidBodyError("x")):
        fn = Flaky([exc])
        with pytest.raises(type(exc)) as info:
            await retrier(vt).call(fn)
        assert fn.calls == 1
        assert info.value.attempts == 1
    assert vt.sleeps == []


async def test_gives_up_after_attempts_and_reraises_last_error_unwrapped() -> None:
    vt = FakeClock(0.0)
    fn = Flaky([e.ServerError(f"n{i}") for i in range(10)])
    with pytest.raises(e.ServerError) as info:
        await retrier(vt, attempts=4).call(fn)
    assert fn.calls == 4
    assert info.value.attempts == 4
    assert str(info.value).startswith("n3")


async def test_full_jitter_within_exponential_window_and_cap() -> None:
    vt = FakeClock(0.0)
    fn = Flaky([e.ServerError("x") for _ in range(9)])
    await retrier(vt, attempts=10, initial_delay=1.0, max_delay=8.0, deadline=10_000).call(fn)
    windows = [min(8.0, 1.0 * 2**i) for i in range(9)]
    assert len(vt.sleeps) == 9
    for slept, window in zip(vt.sleeps, windows, strict=True):
        assert 0.0 <= slept <= window
    # Full jitter: not all at the top of the window.
    assert any(s < w * 0.9 for s, w in zip(vt.sleeps, windows, strict=True))


@pytest.mark.parametrize(("jitter", "low"), [("full", 0.0), ("equal", 0.5), ("none", 1.0)])
def test_jitter_draws_from_its_share_of_the_window(jitter: str, low: float) -> None:
    r = Retrier(
        RetryPolicy(initial_delay=1.0, max_delay=8.0, jitter=jitter),
        rng=random.Random(3),
    )
    for retry in range(1, 12):
        window = min(8.0, 2.0 ** (retry - 1))
        pauses = [r.backoff(retry) for _ in range(50)]
        assert all(window * low <= p <= window for p in pauses)
        if jitter == "none":
            assert set(pauses) == {window}


def test_a_backoff_counts_failures_until_a_success_resets_it() -> None:
    backoff = Backoff(RetryPolicy(initial_delay=0.5, max_delay=10.0, jitter="none"))
    assert [backoff.failed() for _ in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert backoff.failures == 7
    backoff.succeeded()
    assert backoff.failed() == 0.5


def test_a_loop_failing_for_days_still_gets_its_capped_pause() -> None:
    # 2.0 ** 1024 overflows a float: a poll stream throttled that often must not crash.
    backoff = Backoff(RetryPolicy(initial_delay=5.0, max_delay=300.0, jitter="equal"))
    pauses = [backoff.failed() for _ in range(2_000)]
    assert all(150.0 <= p <= 300.0 for p in pauses[10:])
    assert Backoff(RetryPolicy(initial_delay=0.0, max_delay=3.0)).failed() == 0.0


async def test_backoff_switched_off_for_tests() -> None:
    vt = FakeClock(0.0)
    fn = Flaky([e.ServerError("x"), e.ServerError("x")])
    await retrier(vt, backoff=False).call(fn)
    assert vt.sleeps == [0.0, 0.0]


async def test_deadline_stops_before_a_sleep_that_would_cross_it() -> None:
    vt = FakeClock(0.0)
    fn = Flaky([e.ServerError("x", retry_after=4.0) for _ in range(10)])
    with pytest.raises(e.ServerError):
        await retrier(vt, attempts=50, deadline=10.0).call(fn)
    assert sum(vt.sleeps) < 10.0
    assert fn.calls == 3  # slept 4 + 4, the next 4 would end at 12 > 10


async def test_classifier_delay_is_honoured_over_backoff() -> None:
    vt = FakeClock(0.0)
    retry_at = datetime.now(UTC) + timedelta(seconds=30)
    fn = Flaky([e.RateLimitedError("429", retry_at=retry_at)])
    await retrier(vt, max_delay=1.0, deadline=100).call(fn)
    assert 29 <= vt.sleeps[0] <= 30


async def test_custom_classifier() -> None:
    vt = FakeClock(0.0)

    def only_value_errors(exc: BaseException) -> bool | float | None:
        return 2.5 if isinstance(exc, ValueError) else None

    r = Retrier(RetryPolicy(), classifier=only_value_errors, sleep=vt.sleep, clock=vt)
    fn = Flaky([ValueError("a")])
    assert await r.call(fn) == "ok"
    assert vt.sleeps == [2.5]
    fn = Flaky([e.ServerError("x")])
    with pytest.raises(e.ServerError):
        await r.call(fn)


async def test_non_idempotent_not_retried_unless_never_sent() -> None:
    vt = FakeClock(0.0)
    fn = Flaky([e.ServerError("503")])
    with pytest.raises(e.ServerError):
        await retrier(vt).call(fn, idempotent=False)
    assert fn.calls == 1
    fn = Flaky([e.NetworkError("read timeout", sent=True)])
    with pytest.raises(e.NetworkError):
        await retrier(vt).call(fn, idempotent=False)
    assert fn.calls == 1
    fn = Flaky([e.NetworkError("connect refused", sent=False)])
    assert await retrier(vt).call(fn, idempotent=False) == "ok"
    assert fn.calls == 2
    soon = datetime.now(UTC) + timedelta(seconds=1)
    fn = Flaky([e.CircuitOpenError("open", retry_at=soon)])
    assert await retrier(vt).call(fn, idempotent=False) == "ok"
    throttled = e.RateLimitedError("429 from the provider", retry_at=soon)
    fn = Flaky([throttled])
    with pytest.raises(e.RateLimitedError):
        await retrier(vt).call(fn, idempotent=False)  # the provider saw it
    budget_exhausted = e.RateLimitedError("our budget", retry_at=soon)
    budget_exhausted.sent = False
    fn = Flaky([budget_exhausted])
    assert await retrier(vt).call(fn, idempotent=False) == "ok"


async def test_cancellation_is_not_retried() -> None:
    vt = FakeClock(0.0)
    fn = Flaky([asyncio.CancelledError()])
    with pytest.raises(asyncio.CancelledError):
        await retrier(vt).call(fn)
    assert fn.calls == 1


async def test_on_retry_hook_sees_each_retry() -> None:
    vt = FakeClock(0.0)
    seen: list[tuple[str, int]] = []
    r = Retrier(
        RetryPolicy(backoff=False),
        sleep=vt.sleep,
        clock=vt,
        on_retry=lambda exc, n, delay: seen.append((type(exc).__name__, n)),
    )
    await r.call(Flaky([e.ServerError("a"), e.NetworkError("b")]))
    assert seen == [("ServerError", 1), ("NetworkError", 2)]


def test_default_classifier() -> None:
    assert default_classifier(e.ServerError("x")) is True
    assert default_classifier(e.ServerError("x", retry_after=2)) == 2
    assert default_classifier(e.TruncatedResponseError("x")) is True
    assert default_classifier(e.OversizedResponseError("x")) is False
    assert default_classifier(httpx.ReadTimeout("t")) is True
    assert default_classifier(KeyError("k")) is False


@pytest.mark.parametrize(
    ("field", "value"),
    [("attempts", 0), ("initial_delay", -1), ("max_delay", -0.5), ("deadline", 0)],
)
def test_invalid_policy_names_the_setting(field: str, value: float) -> None:
    with pytest.raises(e.PolicyError) as info:
        RetryPolicy(**{field: value})
    assert info.value.setting == field
    assert field in str(info.value)
