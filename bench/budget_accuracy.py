"""Budget accuracy: does the rate budget hit the configured rate, and follow
the provider when it announces a lower one?

Phase 1: budget 200 req/s for 10 s against a sandbox enforcing 200 req/s
(token bucket 20 deep, no rate headers). Targets: achieved rate within 5 %
of 200, zero 429s.

Phase 2: the same client runs at 200 req/s against a sandbox announcing
200 req/s in its headers; then the sandbox switches to enforcing (and
announcing) 150 req/s. Convergence time = the earliest time after the
switch from which every 1 s window of the client's sends holds at most
150 x 1.05 requests. Also shown: when the budget's own rate reached 150.
Target: convergence <= 2 s.

The sandbox runs in its own process. The client retries nothing (attempts=1)
so every 429 is visible.
"""

from __future__ import annotations

import asyncio
import logging
import time

import httpx

from bench._harness import Check, Report
from core import errors as e
from core.client import ClientPolicy, ProviderClient
from core.ratelimit import BudgetRegistry, RatePolicy
from core.retry import RetryPolicy
from core.testing import spawn_sandbox

RATE = 200.0
LOWER = 150.0
PHASE1_SECONDS = 10.0
WARM_SECONDS = 2.0
AFTER_SWITCH_SECONDS = 4.0
WORKERS = 32
WINDOW = 1.0
STEP = 0.05


def _client(url: str) -> ProviderClient:
    return ProviderClient(
        ClientPolicy(
            connector="bench",
            base_url=url,
            rate=RatePolicy(rate=RATE),
            retry=RetryPolicy(attempts=1),
            breaker=None,
        ),
        budgets=BudgetRegistry(),
    )


async def _load(
    client: ProviderClient, seconds: float, sent: list[float], throttled: list[float]
) -> None:
    stop = time.monotonic() + seconds

    async def worker() -> None:
        while time.monotonic() < stop:
            try:
                await client.get("/status/200")
                sent.append(time.monotonic())
            except e.RateLimitedError:
                throttled.append(time.monotonic())

    await asyncio.gather(*(worker() for _ in range(WORKERS)))


async def _phase1(url: str) -> tuple[float, int]:
    sent: list[float] = []
    throttled: list[float] = []
    async with _client(url) as client:
        start = time.monotonic()
        await _load(client, PHASE1_SECONDS, sent, throttled)
    ok = [t for t in sent if t - start <= PHASE1_SECONDS]
    return len(ok) / PHASE1_SECONDS, len(throttled)


async def _phase2(url: str) -> tuple[float, float, float, int]:
    sent: list[float] = []
    throttled: list[float] = []
    adapted = float("nan")
    async with _client(url) as client, httpx.AsyncClient(base_url=url) as control:
        await control.put("/_sandbox/rate", json={"rate": RATE, "announce": True})
        total = WARM_SECONDS + AFTER_SWITCH_SECONDS
        load = asyncio.create_task(_load(client, total, sent, throttled))
        await asyncio.sleep(WARM_SECONDS)  # the benchmark's own schedule, not a test wait
        await control.put("/_sandbox/rate", json={"rate": LOWER, "announce": True})
        switch = time.monotonic()
        budget = client.budget
        assert budget is not None
        while time.monotonic() - switch < AFTER_SWITCH_SECONDS:
            if abs(budget.rate - LOWER) <= LOWER * 0.05:
                adapted = time.monotonic() - switch
                break
            await asyncio.sleep(0.005)
        await load
    after = sorted(t - switch for t in sent if t >= switch)
    converge = _converged_at(after)
    settled = [t for t in after if 2.0 <= t < AFTER_SWITCH_SECONDS]
    settled_rate = len(settled) / (AFTER_SWITCH_SECONDS - 2.0)
    return converge, adapted, settled_rate, len([t for t in throttled if t >= switch])


def _converged_at(after: list[float]) -> float:
    """Earliest s such that every 1-s window starting at or after s (and
    ending before the run does) saw at most LOWER x 1.05 requests."""
    limit = LOWER * 1.05 * WINDOW
    starts = [i * STEP for i in range(int((AFTER_SWITCH_SECONDS - WINDOW) / STEP) + 1)]
    bad = [s for s in starts if sum(1 for t in after if s <= t < s + WINDOW) > limit]
    return bad[-1] + STEP if bad else 0.0


def run() -> Report:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    with spawn_sandbox("core.testing:DemoSandbox") as proc:
        httpx.put(f"{proc.url}/_sandbox/switches", json={"record": False}, timeout=5)
        httpx.put(
            f"{proc.url}/_sandbox/rate",
            json={"rate": RATE, "burst": RATE / 10, "announce": False},
            timeout=5,
        )
        achieved, throttled1 = asyncio.run(_phase1(proc.url))
        converge, adapted, settled, throttled2 = asyncio.run(_phase2(proc.url))
    report = Report("budget_accuracy")
    report.rows = [
        {
            "phase": "1: budget 200/s vs server 200/s",
            "achieved req/s": achieved,
            "429s": throttled1,
            "converge s": "-",
            "budget adapted s": "-",
        },
        {
            "phase": "2: server switches to 150/s (announced)",
            "achieved req/s": settled,
            "429s": throttled2,
            "converge s": converge,
            "budget adapted s": adapted,
        },
    ]
    report.checks = [
        Check("phase 1 rate error", abs(achieved - RATE) / RATE * 100, 5.0, "<=", "%"),
        Check("phase 1 429s", throttled1, 0, "<="),
        Check("phase 2 time to converge", converge, 2.0, "<=", " s"),
    ]
    report.notes = [
        f"{WORKERS} concurrent tasks; phase 2 achieved rate measured 2-{AFTER_SWITCH_SECONDS:.0f} s"
        " after the switch",
    ]
    return report
