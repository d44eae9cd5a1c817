"""Sink throughput: Stripe commands end to end, and staying under a provider's rate.

Part 1: ``BENCH_COMMANDS`` (default 20,000) ``stripe.customers.create``
commands over 1,000 distinct keys are produced to a fresh topic namespace
first; then a ``switchboard worker --roles sink`` process (the real
deployment) runs them against the Stripe sandbox (5 ms latency, no rate
limit, recording off), in its own process. Throughput is counted on
``stripe.results``: a Result there is acknowledged by Kafka (acks=all), so
every command counted went produce -> sink -> sandbox -> Result. The rate
is taken between the first and the last Result's timestamp (the worker's
start and the group join are left out; the wall time with them is shown).
Latency per command is the Result's own timings (call started -> Result
built: the HTTP call, and the wait at the client's connection gate).
The worker runs with its defaults: ``sink.concurrency`` 64, the Stripe
client's pool 64 connections (aiohttp's pool under httpx).

Baselines, measured in the same run against the same sandbox process, each
making the same calls (form-encoded POST /v1/customers, bearer key, a fresh
Idempotency-Key each, JSON parsed) with the same 64 calls in flight and no
Kafka: (a) a bare aiohttp client loop, the strongest (the fastest well-kept
way to make these calls in Python); (b) a bare httpx loop over aiohttp's
pool: what httpx's API itself costs.

Part 2: the sandbox enforces 100 req/s (token bucket 100 deep -- the 1 s
window its ``RateLimit-Policy`` header announces -- 429 + rate headers),
the worker runs with ``stripe.rate = 100``. Achieved rate from the
sandbox's count of allowed requests over the Results' span; 429s as the
sandbox counted them (the client would retry them, so Results alone would
hide them).

Targets (issue 5): >= 1,000 commands/s, >= 0.6 of the bare loop;
>= 95 req/s with zero 429s under the 100 req/s limit.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
import uuid
from datetime import datetime
from typing import Any

import httpx
import orjson

import connectors
from bench._harness import Check, Report
from bench._workers import count_until, delete_topics, with_prefix, worker
from core.encoding import form_encode
from core.envelopes import Command
from core.testing import spawn_sandbox
from streams import kafka, localkafka
from streams.kafka.topics import TopicNames, connector_topics, ensure_topics
from streams.settings import Settings, load_settings

COMMANDS = int(os.environ.get("BENCH_COMMANDS", "20000"))
KEYS = 1_000
LATENCY = 0.005
POOL = 64  # the Stripe client's pool (ConnectionLimits default)
CONCURRENCY = 64  # sink.concurrency's default: as many slots as connections
LIMIT = 100.0  # part 2: the sandbox's rate and stripe.rate
BURST = LIMIT  # a 1 s window, as the sandbox's RateLimit-Policy header announces it
LIMITED_COMMANDS = 1_500  # 15 s at 100/s
API_KEY = "sk_test_sandbox"
TIMEOUT = 300.0


def _params(i: int) -> dict[str, Any]:
    return {
        "email": f"user{i}@example.com",
        "name": f"Bench User {i}",
        "metadata": {"order": str(i), "key": str(i % KEYS)},
    }


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


async def _bare(url: str, n: int, run: str, tasks: int) -> dict[str, Any]:
    """``n`` calls from ``tasks`` tasks over an httpx client on aiohttp's pool."""
    from httpx_aiohttp import AiohttpTransport

    limits = httpx.Limits(max_connections=POOL, max_keepalive_connections=POOL)
    headers = {"Authorization": f"Bearer {API_KEY}"}
    latencies: list[float] = []
    todo = iter(range(n))
    async with httpx.AsyncClient(
        base_url=url, transport=AiohttpTransport(limits=limits), headers=headers, timeout=30
    ) as client:

        async def worker() -> None:
            for i in todo:
                began = time.perf_counter()
                resp = await client.post(
                    "/v1/customers",
                    data=dict(form_encode(_params(i))),
                    headers={"Idempotency-Key": f"bare-{run}-{i}"},
                )
                resp.raise_for_status()
                resp.json()
                latencies.append(time.perf_counter() - began)

        return await _timed(worker, n, tasks, latencies)


async def _bare_aiohttp(url: str, n: int, run: str, tasks: int) -> dict[str, Any]:
    """``n`` calls from ``tasks`` tasks on a bare aiohttp ``ClientSession``."""
    import aiohttp
    import orjson

    headers = {"Authorization": f"Bearer {API_KEY}"}
    latencies: list[float] = []
    todo = iter(range(n))
    connector = aiohttp.TCPConnector(limit=POOL)
    async with aiohttp.ClientSession(url, connector=connector, headers=headers) as session:

        async def worker() -> None:
            for i in todo:
                began = time.perf_counter()
                async with session.post(
                    "/v1/customers",
                    data=dict(form_encode(_params(i))),
                    headers={"Idempotency-Key": f"aio-{run}-{i}"},
                ) as resp:
                    resp.raise_for_status()
                    orjson.loads(await resp.read())
                latencies.append(time.perf_counter() - began)

        return await _timed(worker, n, tasks, latencies)


async def _timed(worker: Any, n: int, tasks: int, latencies: list[float]) -> dict[str, Any]:
    began, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(tasks)))
    elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
    return {
        "per_s": n / elapsed,
        "cpu_ms": cpu / n * 1000,
        "p50_ms": _percentile(latencies, 0.5) * 1000,
        "p99_ms": _percentile(latencies, 0.99) * 1000,
        "wall_s": elapsed,
    }


async def _produce(settings: Settings, n: int, run: str) -> None:
    topic = TopicNames.from_settings(settings).commands("stripe")
    async with kafka.connect(settings, kafka.producer(settings, linger_ms=20)) as producer:
        pending = []
        for i in range(n):
            command = Command(
                id=f"cmd-{run}-{i}", type="stripe.customers.create", params=_params(i)
            )
            pending.append(
                await producer.send(topic, command.to_json(), key=f"key-{i % KEYS}".encode())
            )
        await asyncio.gather(*pending)


async def _read_results(settings: Settings, n: int) -> list[tuple[int, dict[str, Any]]]:
    """Every Result (its Kafka timestamp in ms, its JSON)."""
    topic = TopicNames.from_settings(settings).results("stripe")
    consumer = kafka.consumer(settings, topic, group_id=None)
    out: list[tuple[int, dict[str, Any]]] = []
    async with kafka.connect(settings, consumer):
        while len(out) < n:
            batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
            for messages in batch.values():
                out.extend((m.timestamp, orjson.loads(m.value)) for m in messages)
    return out


def _summary(results: list[tuple[int, dict[str, Any]]]) -> dict[str, Any]:
    stamps = sorted(ts for ts, _ in results)
    span = (stamps[-1] - stamps[0]) / 1000 if len(stamps) > 1 else 0.0
    calls = [
        (
            datetime.fromisoformat(r["timings"]["finished_at"])
            - datetime.fromisoformat(r["timings"]["started_at"])
        ).total_seconds()
        for _, r in results
        if r["timings"].get("started_at")
    ]
    return {
        "per_s": (len(stamps) - 1) / span if span else 0.0,
        "p50_ms": _percentile(calls, 0.5) * 1000,
        "p99_ms": _percentile(calls, 0.99) * 1000,
        "span_s": span,
        "failed": sum(1 for _, r in results if r["status"] != "succeeded"),
    }


def _sink_run(
    settings: Settings,
    bootstrap: str,
    url: str,
    n: int,
    run: str,
    *,
    rate: float = 1e9,
    concurrency: int = CONCURRENCY,
) -> dict[str, Any]:
    """Produce ``n`` commands under a fresh prefix, run a sink worker over them."""
    prefix = f"bench{run}."
    bench = with_prefix(settings, bootstrap, prefix)
    asyncio.run(ensure_topics(bench, connector_topics(bench, "stripe")))
    asyncio.run(_produce(bench, n, run))
    env = {
        **os.environ,
        "SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "SWITCHBOARD_KAFKA__TOPIC_PREFIX": prefix,
        "SWITCHBOARD_SINK__CONNECTORS": '["stripe"]',
        "SWITCHBOARD_SINK__CONCURRENCY": str(concurrency),
        "SWITCHBOARD_STRIPE__API_KEY": API_KEY,
        "SWITCHBOARD_STRIPE__BASE_URL": url,
        "SWITCHBOARD_STRIPE__RATE": f"{rate:g}",
        "SWITCHBOARD_WORKER__DATA_DIR": tempfile.mkdtemp(prefix="switchboard-bench-"),
        "SWITCHBOARD_LOG_LEVEL": "WARNING",
    }
    began = time.monotonic()
    results = TopicNames.from_settings(bench).results("stripe")
    with worker("sink", env) as proc:
        seen, _, cpu = asyncio.run(count_until(bench, results, n, began + TIMEOUT, proc.pid))
        wall = time.monotonic() - began
    summary = _summary(asyncio.run(_read_results(bench, n)))
    cpu_ms = cpu / max(n - seen, 1) * 1000
    return {**summary, "wall_s": wall, "cpu_ms": cpu_ms, "prefix": prefix}


def _row(case: str, figures: dict[str, Any], refused: int | str = "-") -> dict[str, Any]:
    return {
        "case": case,
        "per s": figures["per_s"],
        "p50 ms": figures["p50_ms"],
        "p99 ms": figures["p99_ms"],
        "cpu ms/cmd": figures["cpu_ms"],
        "wall s": figures["wall_s"],
        "429s": refused,
        "failed": figures.get("failed", 0),
    }


def run() -> Report:
    settings = load_settings(sections=connectors.settings_sections())
    bootstrap, started = localkafka.ensure_broker(settings)
    run_id = uuid.uuid4().hex[:8]
    prefixes: list[str] = []
    try:
        with spawn_sandbox("connectors.stripe:sandbox") as sandbox:
            control = httpx.Client(base_url=f"{sandbox.url}/_sandbox", timeout=10)
            control.put("/switches", json={"record": False, "latency": LATENCY}).raise_for_status()

            strongest = asyncio.run(_bare_aiohttp(sandbox.url, COMMANDS, run_id, CONCURRENCY))
            bare = asyncio.run(_bare(sandbox.url, COMMANDS, run_id + "x", CONCURRENCY))
            ours = _sink_run(settings, bootstrap, sandbox.url, COMMANDS, run_id + "a")
            prefixes.append(ours.pop("prefix"))

            rate = {"rate": LIMIT, "burst": BURST, "announce": True}
            control.put("/rate", json=rate).raise_for_status()
            before = control.get("/rate").json()
            limited = _sink_run(
                settings, bootstrap, sandbox.url, LIMITED_COMMANDS, run_id + "b", rate=LIMIT
            )
            prefixes.append(limited.pop("prefix"))
            counts = control.get("/rate").json()
            control.close()
    finally:
        delete_topics(bootstrap, prefixes)
        if started:
            localkafka.stop(settings.local_kafka)
    allowed = counts["allowed"] - before["allowed"]
    refused = counts["refused"] - before["refused"]
    limited = {**limited, "per_s": allowed / limited["span_s"] if limited["span_s"] else 0.0}
    ratio = ours["per_s"] / strongest["per_s"] if strongest["per_s"] else 0.0
    rows = [
        _row(f"(a) bare aiohttp client, {CONCURRENCY} in flight, no Kafka", strongest),
        _row(f"(b) bare httpx on aiohttp's pool, {CONCURRENCY} in flight, no Kafka", bare),
        _row(f"sink worker, defaults (concurrency {CONCURRENCY}), no limit", ours),
        _row(f"sink worker, defaults, {LIMIT:g}/s limit", limited, refused),
    ]
    return Report(
        name="sink_throughput",
        rows=rows,
        checks=[
            Check("commands/s end to end", ours["per_s"], 3000, ">=", "/s"),
            Check("worker CPU per command", ours["cpu_ms"], 0.35, "<=", " ms"),
            Check("ratio to the bare aiohttp loop (a)", ratio, 0.8, ">="),
            Check(f"achieved rate under {LIMIT:g} req/s", limited["per_s"], 95, ">=", "/s"),
            Check("429s under the limit", refused, 0, "<="),
        ],
        notes=[
            f"{COMMANDS:,} commands (stripe.customers.create) over {KEYS:,} keys; sandbox"
            f" latency {LATENCY * 1000:g} ms, recording off, in its own process",
            "sink: `switchboard worker --roles sink` subprocess with its defaults"
            f" (SWITCHBOARD_SINK__CONCURRENCY={CONCURRENCY}, the Stripe client's pool {POOL});"
            " SWITCHBOARD_STRIPE__RATE=1e9 (no limit) or 100",
            f"(b) / (a) = {bare['per_s'] / strongest['per_s']:.2f}: what httpx's API costs"
            " over aiohttp's own",
            "sink per s: between the first and the last Result's Kafka timestamp (wall s"
            " includes worker start and group join); p50/p99: Result timings started ->"
            " finished (client gate + HTTP call + Result built); cpu ms/cmd: the worker"
            " process from its first Result to its last, so its start is left out"
            " (bare: this process)",
            f"rate-limited run: {LIMITED_COMMANDS:,} commands; sandbox token bucket {LIMIT:g}/s,"
            f" burst {BURST:g}, rate headers on; per s = requests the sandbox allowed"
            f" ({allowed}) over the Results' span; 429s as the sandbox counted them",
            "bare loops, worker, sandbox, broker and this process share the machine's 2 cores",
        ],
    )
