"""A provider that answers a bare 429 (no Retry-After, no rate headers) above
its rate: the client's rate falls multiplicatively on each such 429 and climbs
back additively on successes, never above the configured rate.

Virtual time on both sides (the sandbox's token bucket and the client's budget
share one :class:`FakeClock`), so the figures are counts, not timings.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from prometheus_client import CollectorRegistry

from core.client import ClientPolicy, ProviderClient
from core.observability import Metrics
from core.ratelimit import BudgetRegistry, RatePolicy
from core.retry import RetryPolicy
from core.testing import DemoSandbox
from tests.fakeclock import EPOCH, FakeClock

pytestmark = pytest.mark.integration

CONFIGURED = 40.0  # requests/s the connector is configured for
ENFORCED = 10.0  # what the provider actually allows


@pytest.fixture
def vt() -> FakeClock:
    return FakeClock(500.0, wall_at_start=EPOCH + 500.0)


@pytest.fixture
async def sandbox(vt: FakeClock) -> AsyncIterator[DemoSandbox]:
    async with DemoSandbox(clock=vt) as sb:
        yield sb


async def run(client: ProviderClient, n: int, concurrency: int = 4) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            response = await client.get("/echo")
            assert response.status == 200

    await asyncio.gather(*(one() for _ in range(n)))


async def test_bare_429s_lower_the_rate_and_successes_restore_it(
    sandbox: DemoSandbox, vt: FakeClock
) -> None:
    server = sandbox.enforce_rate(ENFORCED, burst=1, announce=False, retry_after=False)
    client = ProviderClient(
        ClientPolicy(
            connector="demo",
            base_url=sandbox.url,
            rate=RatePolicy(rate=CONFIGURED, burst=1),
            retry=RetryPolicy(attempts=50, deadline=100_000),
            breaker=None,
        ),
        budgets=BudgetRegistry(clock=vt, wall=vt.wall, sleep=vt.sleep),
        metrics=Metrics(CollectorRegistry()),
        sleep=vt.sleep,
        clock=vt,
    )
    async with client:
        budget = client.budget
        assert budget is not None
        await run(client, 300)
        assert server.allowed == 300
        # Before AIMD, a bare 429 only paused one token interval: the client
        # kept sending at 40/s and some request ran out of its 50 attempts.
        # Measured with AIMD: 37 refusals for the 300 successes.
        assert server.refused < server.allowed // 4
        assert budget.rate < CONFIGURED

        sandbox.clear_rate()  # the provider's limit is gone: successes only
        await run(client, 300)
        assert budget.rate == CONFIGURED  # climbed back, and not above
