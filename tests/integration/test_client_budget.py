"""Rate budgets over real sockets, in virtual time: a 429 storm never exceeds
the budget, and the budget follows what the sandbox announces."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from prometheus_client import CollectorRegistry

from core.client import ClientPolicy, ProviderClient
from core.observability import Metrics
from core.ratelimit import BudgetRegistry, RatePolicy
from core.retry import RetryPolicy
from core.testing import DemoSandbox
from tests.fakeclock import EPOCH, FakeClock


@dataclass
class Sent:
    seq: int
    sent_at: float
    status: int = 0
    answered_at: float = 0.0
    answered_seq: int = 0


class RecordingTransport(httpx.AsyncBaseTransport):
    """The network boundary: records the virtual time of every physical request."""

    def __init__(self, vt: FakeClock) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.vt = vt
        self.log: list[Sent] = []
        self._seq = itertools.count()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        entry = Sent(next(self._seq), self.vt.now)
        self.log.append(entry)
        response = await self.inner.handle_async_request(request)
        entry.status, entry.answered_at = response.status_code, self.vt.now
        entry.answered_seq = next(self._seq)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
async def sandbox() -> AsyncIterator[DemoSandbox]:
    async with DemoSandbox() as sb:
        yield sb


def max_in_window(times: list[float], window: float = 1.0) -> int:
    times = sorted(times)
    best = j = 0
    for i, t in enumerate(times):
        while times[j] <= t - window + 1e-9:
            j += 1
        best = max(best, i - j + 1)
    return best


async def test_429_storm_never_exceeds_the_budget(sandbox: DemoSandbox) -> None:
    vt = FakeClock(500.0, wall_at_start=EPOCH + 500.0)
    transport = RecordingTransport(vt)
    budgets = BudgetRegistry(clock=vt, wall=vt.wall, sleep=vt.sleep)
    rate, retry_after = 20.0, 2
    client = ProviderClient(
        ClientPolicy(
            connector="demo",
            base_url=sandbox.url,
            rate=RatePolicy(rate=rate, burst=1),
            retry=RetryPolicy(attempts=20, deadline=10_000),
            breaker=None,
        ),
        budgets=budgets,
        metrics=Metrics(CollectorRegistry()),
        transport=transport,
        sleep=vt.sleep,
        clock=vt,
    )
    sandbox.throttle_next(30, retry_after=retry_after)
    async with client:
        results = await asyncio.gather(*(client.get("/echo") for _ in range(60)))
    assert all(r.status == 200 for r in results)
    sent = transport.log
    throttled = [s for s in sent if s.status == 429]
    assert len(throttled) == 30
    # Never more than the budget in any one-second window (burst 1 + rate).
    assert max_in_window([s.sent_at for s in sent]) <= rate + 1
    # After each 429 arrived, nobody sent anything until Retry-After had passed.
    for t in throttled:
        later = [s for s in sent if s.seq > t.answered_seq]
        assert all(s.sent_at >= t.answered_at + retry_after - 1e-6 for s in later)


async def test_budget_follows_announced_rate_headers(sandbox: DemoSandbox) -> None:
    sandbox.enforce_rate(5, announce=True)
    client = ProviderClient(
        ClientPolicy(connector="demo", base_url=sandbox.url, rate=RatePolicy(rate=50)),
        budgets=BudgetRegistry(),
        metrics=Metrics(CollectorRegistry()),
    )
    async with client:
        await client.get("/echo")
        assert client.budget is not None
        assert client.budget.rate == pytest.approx(5)  # RateLimit-Policy "default";q=5;w=1


async def test_enforced_rate_and_retry_after_give_no_lost_requests(sandbox: DemoSandbox) -> None:
    """Real time, a tiny burst: the server refuses a few, the client waits them out."""
    sandbox.enforce_rate(20, burst=2, announce=False, fractional_retry_after=True)
    client = ProviderClient(
        ClientPolicy(
            connector="demo",
            base_url=sandbox.url,
            rate=RatePolicy(rate=1000),
            retry=RetryPolicy(attempts=30, initial_delay=0.01, max_delay=0.05, deadline=30),
        ),
        budgets=BudgetRegistry(),
        metrics=Metrics(CollectorRegistry()),
    )
    async with client:
        results = await asyncio.gather(*(client.get("/echo") for _ in range(10)))
    assert all(r.status == 200 for r in results)
