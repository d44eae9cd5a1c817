"""HTTP transports: requests/s and client CPU per request at 10, 64 and 256
connections, in one run, for every way of making the calls we consider.

- ``httpx (httpcore)``: httpx's default transport, the pool of httpcore 1.0;
- ``httpx + aiohttp pool``: httpx's API over aiohttp's pool (the
  ``httpx-aiohttp`` package's transport);
- ``httpx2``: pydantic's fork of httpx with its own pool (httpcore2);
- ``bare aiohttp``: an aiohttp ``ClientSession`` loop, no httpx at all (the
  strongest baseline: the fastest well-kept way to do this in Python);
- ``Switchboard``: ``core.client.ProviderClient`` with every layer on
  (retry loop, breaker, a never-limiting budget, size limit, metrics), on
  either pool (``ClientPolicy.transport``; aiohttp's is the default).

Each does the same work per request: GET, read the body, parse the JSON.
The server is the demo sandbox in its own process (no faults, recording
off); as many tasks as connections. Rounds alternate between the clients so
drift in the machine's speed hits all alike. CPU is this process's CPU time
(``time.process_time``) over the requests it completed: the cost a worker
pays per call, whatever the server manages.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import httpx
import orjson

from bench._harness import Check, Report
from bench.client_overhead import _drive
from core.client import ClientPolicy, ProviderClient
from core.ratelimit import BudgetRegistry, RatePolicy
from core.testing import spawn_sandbox

CONNECTIONS = (10, 64, 256)
ROUND_SECONDS = 2.0
ROUNDS = 3
PATH = "/status/200"

Call = Callable[[], Awaitable[Any]]


def _get_json(client: Any) -> Call:
    """GET, check, parse: on any client with httpx's API (httpx, httpx2)."""

    async def call() -> None:
        resp = await client.get(PATH)
        resp.raise_for_status()
        resp.json()

    return call


@asynccontextmanager
async def httpx_default(url: str, n: int) -> AsyncIterator[Call]:
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=10) as client:
        yield _get_json(client)


@asynccontextmanager
async def httpx_aiohttp(url: str, n: int) -> AsyncIterator[Call]:
    from httpx_aiohttp import AiohttpTransport

    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    transport = AiohttpTransport(limits=limits)
    async with httpx.AsyncClient(base_url=url, transport=transport, timeout=10) as client:
        yield _get_json(client)


@asynccontextmanager
async def httpx2_client(url: str, n: int) -> AsyncIterator[Call]:
    import httpx2

    limits = httpx2.Limits(max_connections=n, max_keepalive_connections=n)
    async with httpx2.AsyncClient(base_url=url, limits=limits, timeout=10) as client:
        yield _get_json(client)


@asynccontextmanager
async def bare_aiohttp(url: str, n: int) -> AsyncIterator[Call]:
    connector = aiohttp.TCPConnector(limit=n, limit_per_host=n)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(url, connector=connector, timeout=timeout) as session:

        async def call() -> None:
            async with session.get(PATH) as resp:
                resp.raise_for_status()
                orjson.loads(await resp.read())

        yield call


@asynccontextmanager
async def _ours(url: str, n: int, transport: str) -> AsyncIterator[Call]:
    policy = ClientPolicy(
        connector="bench",
        base_url=url,
        limits={"max_connections": n, "max_keepalive_connections": n},
        rate=RatePolicy(rate=1_000_000),
        transport=transport,
    )
    async with ProviderClient(policy, budgets=BudgetRegistry()) as client:

        async def call() -> None:
            await client.get(PATH)

        yield call


def switchboard(url: str, n: int) -> Any:
    return _ours(url, n, "httpcore")


def switchboard_aiohttp(url: str, n: int) -> Any:
    return _ours(url, n, "aiohttp")


CLIENTS: dict[str, Callable[[str, int], Any]] = {
    "httpx (httpcore)": httpx_default,
    "httpx + aiohttp pool": httpx_aiohttp,
    "httpx2": httpx2_client,
    "bare aiohttp": bare_aiohttp,
    "Switchboard on httpcore": switchboard,
    "Switchboard on aiohttp (default)": switchboard_aiohttp,
}


async def _round(make: Callable[[str, int], Any], url: str, n: int) -> tuple[float, float]:
    """(requests/s, client CPU µs per request) of one round."""
    async with make(url, n) as call:
        await _drive(call, 0.4, n)  # open and warm the pool
        cpu = time.process_time()
        done, wall = await _drive(call, ROUND_SECONDS, n)
        cpu = time.process_time() - cpu
    return done / wall, cpu / max(done, 1) * 1e6


def run() -> Report:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    report = Report("http_transport")
    figures: dict[tuple[int, str], tuple[float, float]] = {}
    with spawn_sandbox("core.testing:DemoSandbox") as proc:
        httpx.put(f"{proc.url}/_sandbox/switches", json={"record": False}, timeout=5)
        for n in CONNECTIONS:
            runs: dict[str, list[tuple[float, float]]] = {name: [] for name in CLIENTS}
            for _ in range(ROUNDS):
                for name, make in CLIENTS.items():
                    runs[name].append(asyncio.run(_round(make, proc.url, n)))
            best = max(statistics.median(r for r, _ in runs[name]) for name in CLIENTS)
            for name in CLIENTS:
                rate = statistics.median(r for r, _ in runs[name])
                cpu = statistics.median(c for _, c in runs[name])
                figures[(n, name)] = (rate, cpu)
                report.rows.append(
                    {
                        "connections": n,
                        "client": name,
                        "req/s (median)": rate,
                        "CPU µs/req": cpu,
                        "rounds": ", ".join(f"{r:.0f}" for r, _ in runs[name]),
                        "of best": rate / best,
                    }
                )
    aio = figures[(64, "bare aiohttp")][0]
    ours = [figures[(n, "Switchboard on aiohttp (default)")][0] for n in CONNECTIONS]
    report.checks = [
        Check(
            "Switchboard / bare aiohttp, 64 connections",
            figures[(64, "Switchboard on aiohttp (default)")][0] / aio,
            0.9,
        ),
        Check("Switchboard at 256 / at 10 connections", ours[-1] / ours[0], 0.95),
    ]
    report.notes = [
        f"{ROUNDS} alternating rounds of {ROUND_SECONDS:g} s per client and pool size, GET {PATH}",
        "tasks = connections; the server (demo sandbox) runs in a separate process",
        "CPU µs/req: this process's CPU time per completed request (client side only)",
    ]
    return report
