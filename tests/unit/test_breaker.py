"""Circuit breaker state machine, with an injected clock."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import CollectorRegistry

import core.breaker
from core import errors as e
from core.breaker import BreakerPolicy, BreakerRegistry, BreakerState, CircuitBreaker
from core.observability import Metrics
from tests.fakeclock import FakeClock


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


def make(clock: FakeClock, registry: CollectorRegistry, **policy: object) -> CircuitBreaker:
    return CircuitBreaker(
        "demo",
        "api.example.com",
        BreakerPolicy(**policy),
        clock=clock,
        metrics=Metrics(registry),
    )


def state_of(b: CircuitBreaker) -> BreakerState:
    """The breaker's state read afresh: each call on it may change the state,
    which a type checker narrowing ``b.state`` after one assert cannot know."""
    return b.state


def fail(b: CircuitBreaker, n: int = 1) -> None:
    for _ in range(n):
        b.acquire().failure()


def succeed(b: CircuitBreaker, n: int = 1) -> None:
    for _ in range(n):
        b.acquire().success()


def test_public_surface() -> None:
    assert set(core.breaker.__all__) == {
        "BreakerPolicy",
        "BreakerRegistry",
        "BreakerState",
        "CircuitBreaker",
        "Permit",
    }


def test_opens_on_consecutive_failures(registry: CollectorRegistry) -> None:
    b = make(FakeClock(100.0), registry, consecutive_failures=3, min_calls=100)
    fail(b, 2)
    succeed(b)
    fail(b, 2)
    assert state_of(b) is BreakerState.CLOSED
    fail(b)
    assert state_of(b) is BreakerState.OPEN


def test_opens_on_failure_rate_only_after_min_calls(registry: CollectorRegistry) -> None:
    b = make(FakeClock(100.0), registry, min_calls=10, failure_rate=0.5, consecutive_failures=100)
    for _ in range(4):
        fail(b)
        succeed(b)
    assert state_of(b) is BreakerState.CLOSED  # 4/8 but under min_calls
    fail(b)
    assert state_of(b) is BreakerState.CLOSED  # 5/9
    fail(b)
    assert state_of(b) is BreakerState.OPEN  # 6/10


def test_old_calls_leave_the_window(registry: CollectorRegistry) -> None:
    clock = FakeClock(100.0)
    b = make(clock, registry, window=10, min_calls=4, failure_rate=0.5, consecutive_failures=99)
    fail(b)
    succeed(b)
    fail(b)
    clock.now += 11
    succeed(b, 3)
    fail(b)  # 1 failure of 4 in the window
    assert state_of(b) is BreakerState.CLOSED


def test_neutral_outcomes_never_count(registry: CollectorRegistry) -> None:
    b = make(FakeClock(100.0), registry, consecutive_failures=2, min_calls=1)
    for _ in range(50):
        b.acquire().neutral()  # 400/404/422
    assert state_of(b) is BreakerState.CLOSED
    with b.acquire():
        pass  # an unsettled permit is neutral
    assert state_of(b) is BreakerState.CLOSED


def test_open_fails_fast_with_retry_at(registry: CollectorRegistry) -> None:
    clock = FakeClock(100.0)
    b = make(clock, registry, consecutive_failures=1, open_for=30)
    fail(b)
    with pytest.raises(e.CircuitOpenError) as info:
        b.acquire()
    assert 29 <= info.value.retry_after() <= 30
    assert info.value.retryable
    clock.now += 20
    with pytest.raises(e.CircuitOpenError) as info:
        b.acquire()
    assert 9 <= info.value.retry_after() <= 10


def test_half_open_limits_probes_and_recovers(registry: CollectorRegistry) -> None:
    clock = FakeClock(100.0)
    b = make(clock, registry, consecutive_failures=1, open_for=5, half_open_probes=2)
    fail(b)
    clock.now += 5
    assert state_of(b) is BreakerState.HALF_OPEN
    p1, p2 = b.acquire(), b.acquire()
    with pytest.raises(e.CircuitOpenError):
        b.acquire()  # both probe slots taken
    p1.success()
    assert state_of(b) is BreakerState.HALF_OPEN
    p2.success()
    assert state_of(b) is BreakerState.CLOSED
    succeed(b, 5)


def test_failed_probe_reopens(registry: CollectorRegistry) -> None:
    clock = FakeClock(100.0)
    b = make(clock, registry, consecutive_failures=1, open_for=5)
    fail(b)
    clock.now += 5
    b.acquire().failure()
    assert state_of(b) is BreakerState.OPEN
    with pytest.raises(e.CircuitOpenError) as info:
        b.acquire()
    assert info.value.retry_after() > 4


def test_calls_admitted_before_a_state_change_do_not_count_after(
    registry: CollectorRegistry,
) -> None:
    clock = FakeClock(100.0)
    b = make(clock, registry, consecutive_failures=1, open_for=5, half_open_probes=1)
    stale = b.acquire()
    fail(b)
    clock.now += 5
    probe = b.acquire()
    stale.failure()  # admitted while closed: ignored now
    assert state_of(b) is BreakerState.HALF_OPEN
    probe.success()
    assert state_of(b) is BreakerState.CLOSED


def test_state_changes_are_logged_and_counted(
    registry: CollectorRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock(100.0)
    caplog.set_level(logging.INFO, logger="switchboard.breaker")
    b = make(clock, registry, consecutive_failures=1, open_for=1, half_open_probes=1)
    labels = {"connector": "demo", "host": "api.example.com"}
    assert registry.get_sample_value("switchboard_breaker_state", labels) == 0
    fail(b)
    assert registry.get_sample_value("switchboard_breaker_state", labels) == 2
    clock.now += 1
    succeed(b)
    assert registry.get_sample_value("switchboard_breaker_state", labels) == 0
    for state in ("open", "half_open", "closed"):
        assert (
            registry.get_sample_value(
                "switchboard_breaker_transitions_total", {**labels, "state": state}
            )
            == 1
        )
    # from_state/to_state are the log call's ``extra``: attributes LogRecord does not declare
    changes = [vars(r) for r in caplog.records if hasattr(r, "to_state")]
    events = [(c["from_state"], c["to_state"]) for c in changes]
    assert events == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]


def test_registry_one_breaker_per_connector_and_host(registry: CollectorRegistry) -> None:
    reg = BreakerRegistry(clock=FakeClock(100.0), metrics=Metrics(registry))
    policy = BreakerPolicy()
    a = reg.get("demo", "a.example.com", policy)
    assert reg.get("demo", "a.example.com", policy) is a
    assert reg.get("demo", "b.example.com", policy) is not a
    assert reg.get("other", "a.example.com", policy) is not a


@pytest.mark.parametrize(
    ("field", "value"),
    [("window", 0), ("min_calls", 0), ("failure_rate", 1.5), ("open_for", -1)],
)
def test_invalid_policy_names_the_setting(field: str, value: float) -> None:
    with pytest.raises(e.PolicyError) as info:
        BreakerPolicy(**{field: value})
    assert info.value.setting == field
