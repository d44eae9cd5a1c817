"""The provider client's circuit breaker over real sockets against the demo
sandbox (no Kafka): it opens on the provider's faults only, fails fast, recovers
by a probe, and an open breaker is waited out within the retry deadline."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from prometheus_client import CollectorRegistry

from core import errors as e
from core.breaker import BreakerPolicy, BreakerRegistry, BreakerState, CircuitBreaker
from core.client import ClientPolicy, ProviderClient
from core.observability import Metrics
from core.ratelimit import BudgetRegistry
from core.retry import RetryPolicy
from core.testing import DemoSandbox
from tests.fakeclock import FakeClock
from tests.integration import client_sandbox_support as support

# the shared fixtures (make_client needs the other three), bound here so pytest finds them
sandbox, registry = support.sandbox, support.registry
breaker_clock, make_client = support.breaker_clock, support.make_client


def state_of(breaker: CircuitBreaker) -> BreakerState:
    """The state read afresh: a request between two asserts may change it,
    which a type checker narrowing ``breaker.state`` cannot know."""
    return breaker.state


async def test_breaker_opens_and_recovers(
    sandbox: DemoSandbox, make_client: Callable[..., ProviderClient], breaker_clock: FakeClock
) -> None:
    client = make_client(
        retry=RetryPolicy(attempts=1),
        breaker=BreakerPolicy(consecutive_failures=3, open_for=10, half_open_probes=1),
    )
    for _ in range(20):  # the request's fault never opens the breaker
        with pytest.raises(e.FatalRequestError):
            await client.get("/status/404")
    sandbox.fail_next(3, status=503)
    for _ in range(3):
        with pytest.raises(e.ServerError):
            await client.get("/echo")
    breaker = client.transport.breaker_for("127.0.0.1")
    assert breaker is not None
    assert state_of(breaker) is BreakerState.OPEN
    sent = len(sandbox.requests)
    with pytest.raises(e.CircuitOpenError) as info:
        await client.get("/echo")
    assert 9 <= info.value.retry_after() <= 10
    assert len(sandbox.requests) == sent  # failed fast: nothing sent
    breaker_clock.now += 10
    assert (await client.get("/echo")).status == 200  # the probe
    assert state_of(breaker) is BreakerState.CLOSED


async def test_open_breaker_is_waited_out_within_the_deadline(
    sandbox: DemoSandbox, breaker_clock: FakeClock
) -> None:
    client = ProviderClient(
        ClientPolicy(
            connector="demo",
            base_url=sandbox.url,
            retry=RetryPolicy(attempts=3, deadline=60),
            breaker=BreakerPolicy(consecutive_failures=1, open_for=5, half_open_probes=1),
        ),
        budgets=BudgetRegistry(),
        breakers=BreakerRegistry(clock=breaker_clock, metrics=Metrics(CollectorRegistry())),
        sleep=breaker_clock.sleep,
        clock=breaker_clock,
    )
    async with client:
        sandbox.fail_next(1, status=500)
        resp = await client.get("/echo")
    assert resp.attempts == 3  # 500, circuit open (wait ~5 s), probe succeeds
    assert 4 <= breaker_clock.sleeps[-1] <= 5
