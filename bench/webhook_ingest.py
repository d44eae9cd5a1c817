"""Webhook ingest: verified Stripe-style webhooks at concurrency 64.

The worker (``switchboard worker --roles ingest``) runs in its own process
against the real broker; a load generator in this process (aiohttp client,
64 concurrent requests, every request a 1 KiB body with a unique event id,
signed beforehand) measures throughput and the time to each 2xx. Every 2xx
means the record was acknowledged by Kafka (acks=all, idempotent).

Baselines, measured in the same run on the same machine:

(a) bare server: an aiohttp server in its own process that reads the body
    and answers 200 (no verification, no Kafka) — the HTTP stack's ceiling
    with this load generator;
(b) raw aiokafka: 64 tasks producing the same records with
    ``send_and_wait`` (acks=all, idempotent) — Kafka's ceiling without HTTP.

Targets (issue 14): >= 0.8 of (a), p99 <= 25 ms (and >= 2,500 webhooks/s,
issue 4). "server cpu ms/req": the server process's CPU over the load run,
per request answered.
``BENCH_SECONDS`` shortens the main run (default 30 s); baselines run 10 s.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
import orjson

import connectors
from bench._harness import Check, Report
from bench._workers import cpu_seconds
from core.testing.signing import sign_stripe
from streams import kafka, localkafka
from streams.kafka.topics import TopicNames, connector_topics, ensure_topics
from streams.settings import load_settings

CONCURRENCY = 64
SECONDS = float(os.environ.get("BENCH_SECONDS", "30"))
BASELINE_SECONDS = min(10.0, SECONDS)
SECRET = "whsec_bench_" + "b" * 24
PADDING = "x" * 760  # brings each body to ~1 KiB

_BARE_SERVER = """
import sys
from aiohttp import web
async def ok(request):
    await request.read()
    return web.Response(text="ok")
app = web.Application()
app.router.add_post("/webhooks/stripe", ok)
app.router.add_get("/healthz", lambda r: ok_get())
async def ok_get():
    return web.Response(text="ok")
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _body(i: int, run: str) -> bytes:
    return orjson.dumps(
        {
            "id": f"evt_{run}_{i}",
            "object": "event",
            "type": "payment_intent.succeeded",
            "created": 1_763_900_000,
            "data": {
                "object": {"id": f"pi_{i % 5000}", "object": "payment_intent", "pad": PADDING}
            },
        }
    )


def _request(i: int, run: str) -> tuple[bytes, dict[str, str]]:
    """A fresh, signed delivery (a few microseconds: made inside the loop)."""
    body = _body(i, run)
    return body, {**sign_stripe(body, SECRET), "Content-Type": "application/json"}


@contextmanager
def _process(cmd: list[str], env: dict[str, str], health: str) -> Iterator[int]:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{cmd[:3]} exited with {proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", int(health.rsplit(":", 1)[1])), 1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{cmd[:3]} did not start") from None
                time.sleep(0.1)
        yield proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


async def _load(url: str, run: str, seconds: float) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    index = 0
    stop = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=CONCURRENCY, limit_per_host=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal index
            while time.perf_counter() < stop:
                body, headers = _request(index, run)
                index += 1
                began = time.perf_counter()
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    statuses[response.status] = statuses.get(response.status, 0) + 1
                latencies.append(time.perf_counter() - began)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    ok = statuses.get(200, 0)
    return {
        "per_s": ok / elapsed,
        "p50_ms": latencies[len(latencies) // 2] * 1000 if latencies else 0.0,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000 if latencies else 0.0,
        "requests": len(latencies),
        "non_2xx": sum(v for k, v in statuses.items() if k != 200),
    }


async def _raw_kafka(settings: Any, topic: str, seconds: float, run: str) -> dict[str, Any]:
    latencies: list[float] = []
    stop = time.perf_counter() + seconds
    counter = 0
    async with kafka.connect(settings, kafka.producer(settings, linger_ms=2)) as producer:

        async def worker() -> None:
            nonlocal counter
            while time.perf_counter() < stop:
                counter += 1
                i = counter
                began = time.perf_counter()
                await producer.send_and_wait(topic, _body(i, run), key=f"evt_{run}_{i}".encode())
                latencies.append(time.perf_counter() - began)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "per_s": len(latencies) / elapsed,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "requests": len(latencies),
        "non_2xx": 0,
    }


def _measured(pid: int, url: str, run: str, seconds: float) -> dict[str, Any]:
    """The load's figures and the server process's CPU per request."""
    cpu = cpu_seconds(pid)
    figures = asyncio.run(_load(url, run, seconds))
    cpu = cpu_seconds(pid) - cpu
    return {**figures, "server cpu ms/req": cpu / max(figures["requests"], 1) * 1000}


def run() -> Report:
    settings = load_settings(sections=connectors.settings_sections())
    bootstrap, started = localkafka.ensure_broker(settings)
    run_id = uuid.uuid4().hex[:8]
    prefix = f"bench{run_id}."
    env = {
        **os.environ,
        "SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "SWITCHBOARD_KAFKA__TOPIC_PREFIX": prefix,
        "SWITCHBOARD_STRIPE__WEBHOOK_SECRETS": orjson.dumps([SECRET]).decode(),
        "SWITCHBOARD_WORKER__DATA_DIR": tempfile.mkdtemp(prefix="switchboard-bench-"),
        "SWITCHBOARD_LOG_LEVEL": "WARNING",
    }
    bench_settings = settings.model_copy(
        update={
            "kafka": settings.kafka.model_copy(
                update={"bootstrap_servers": bootstrap, "topic_prefix": prefix}
            )
        }
    )
    asyncio.run(ensure_topics(bench_settings, connector_topics(bench_settings, "stripe")))
    rows = []
    try:
        port = _free_port()
        with _process(
            [sys.executable, "-c", _BARE_SERVER, str(port)], env, f"127.0.0.1:{port}"
        ) as pid:
            bare = _measured(
                pid, f"http://127.0.0.1:{port}/webhooks/stripe", run_id + "a", BASELINE_SECONDS
            )
        rows.append({"case": "(a) bare aiohttp server, 200, no Kafka", **bare})

        port = _free_port()
        with _process(
            [
                sys.executable,
                "-m",
                "streams.cli",
                "worker",
                "--roles",
                "ingest",
                "--port",
                str(port),
            ],
            env,
            f"127.0.0.1:{port}",
        ) as pid:
            time.sleep(1.0)  # let the worker's producer connect before the clock starts
            ours = _measured(pid, f"http://127.0.0.1:{port}/webhooks/stripe", run_id, SECONDS)
        rows.append({"case": "switchboard ingest (verify + Kafka ack)", **ours})

        topic = TopicNames(prefix).ingest("stripe") + ".raw"
        asyncio.run(
            ensure_topics(
                bench_settings,
                [type(connector_topics(bench_settings, "stripe")[0])(topic, 3, 1)],
            )
        )
        raw = asyncio.run(_raw_kafka(bench_settings, topic, BASELINE_SECONDS, run_id))
        rows.append({"case": "(b) raw aiokafka send_and_wait, no HTTP", **raw})
    finally:
        if started:
            localkafka.stop(settings.local_kafka)
    ratio = ours["per_s"] / bare["per_s"] if bare["per_s"] else 0.0
    return Report(
        name="webhook_ingest",
        rows=rows,
        checks=[
            Check("throughput", ours["per_s"], 2500, ">=", "/s"),
            Check("p99 time to 2xx", ours["p99_ms"], 25, "<=", " ms"),
            Check("ratio to bare server (a)", ratio, 0.8, ">="),
        ],
        notes=[
            f"concurrency {CONCURRENCY}, ~1 KiB bodies, unique ids, {SECONDS:g} s main run",
            f"ratio to raw aiokafka (b): {ours['per_s'] / raw['per_s']:.2f}"
            if raw["per_s"]
            else "",
            "load generator, worker, broker and baselines share this machine's 2 cores",
        ],
    )
