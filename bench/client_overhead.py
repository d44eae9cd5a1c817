"""Client overhead: requests/s at concurrency 64, Switchboard client vs bare httpx.

The sandbox (``core.testing.DemoSandbox``) runs in its own process, with no
faults and request recording off, so client and server do not share an
event loop. Both clients do the same work per request: GET, read the body,
parse the JSON. The Switchboard client runs with every layer on: retry
loop, breaker, a (never limiting) rate budget, size limit, classification,
metrics. Rounds alternate (bare, switchboard, bare, ...) so drift in the
machine's speed hits both alike.

Cases: 64 tasks with the same pool size on both sides (the target: ratio
>= 0.85, the client's own overhead); 64 tasks with each client's default
limits (what a user gets); 1 task (per-request overhead, no pool effects).
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from bench._harness import Check, Report
from core.client import ClientPolicy, ProviderClient
from core.ratelimit import BudgetRegistry, RatePolicy
from core.testing import spawn_sandbox

CONCURRENCY = 64
ROUND_SECONDS = 2.5
ROUNDS = 3
PATH = "/status/200"


async def _drive(
    call: Callable[[], Awaitable[Any]], seconds: float, concurrency: int = CONCURRENCY
) -> tuple[int, float]:
    done = 0
    stop = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < stop:
            await call()
            done += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done, time.perf_counter() - start


async def _bare(url: str, seconds: float, concurrency: int, pool: int | None) -> float:
    limits = (
        httpx.Limits(max_connections=pool, max_keepalive_connections=pool)
        if pool
        else httpx.Limits(max_connections=100, max_keepalive_connections=20)  # httpx defaults
    )
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=10) as client:

        async def call() -> None:
            resp = await client.get(PATH)
            resp.raise_for_status()
            resp.json()

        await _drive(call, 0.5, concurrency)  # warm the pool
        done, elapsed = await _drive(call, seconds, concurrency)
    return done / elapsed


async def _switchboard(url: str, seconds: float, concurrency: int, pool: int | None) -> float:
    limits = {"max_connections": pool, "max_keepalive_connections": pool} if pool else {}
    policy = ClientPolicy(
        connector="bench", base_url=url, limits=limits, rate=RatePolicy(rate=1_000_000)
    )
    async with ProviderClient(policy, budgets=BudgetRegistry()) as client:

        async def call() -> None:
            await client.get(PATH)

        await _drive(call, 0.5, concurrency)
        done, elapsed = await _drive(call, seconds, concurrency)
    return done / elapsed


def _measure(
    url: str, concurrency: int, seconds: float, pool: int | None
) -> tuple[list[float], list[float]]:
    bare: list[float] = []
    ours: list[float] = []
    for _ in range(ROUNDS):
        bare.append(asyncio.run(_bare(url, seconds, concurrency, pool)))
        ours.append(asyncio.run(_switchboard(url, seconds, concurrency, pool)))
    return bare, ours


def run() -> Report:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    cases = [
        (f"{CONCURRENCY} tasks, both pools {CONCURRENCY}", CONCURRENCY, ROUND_SECONDS, CONCURRENCY),
        (f"{CONCURRENCY} tasks, both default limits", CONCURRENCY, ROUND_SECONDS, None),
        ("1 task, both default limits", 1, 1.5, None),
    ]
    ratios: list[float] = []
    report = Report("client_overhead")
    with spawn_sandbox("core.testing:DemoSandbox") as proc:
        httpx.put(f"{proc.url}/_sandbox/switches", json={"record": False}, timeout=5)
        for label, concurrency, seconds, pool in cases:
            bare, ours = _measure(proc.url, concurrency, seconds, pool)
            ratio = statistics.median(ours) / statistics.median(bare)
            ratios.append(ratio)
            for name, runs in (("bare httpx", bare), ("Switchboard", ours)):
                report.rows.append(
                    {
                        "case": label,
                        "client": name,
                        "req/s (median)": statistics.median(runs),
                        "rounds": ", ".join(f"{x:.0f}" for x in runs),
                        "ratio": ratio if name == "Switchboard" else "",
                    }
                )
    report.checks = [Check(f"switchboard / bare, {cases[0][0]}", ratios[0], 0.85)]
    report.notes = [
        f"{ROUNDS} alternating rounds per client, GET {PATH}; sandbox in a separate process",
        "Switchboard client with retry loop, breaker, budget, size limit, metrics on",
        "the target compares like with like (same pool size): the client's own overhead",
        "default limits: httpx 100 connections vs Switchboard 10 + a FIFO gate; httpcore 1.0's"
        " pool does O(connections^2) work per request, so fewer connections serve more req/s",
    ]
    return report
