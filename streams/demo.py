"""The moving parts of ``switchboard demo``: a real worker process, signed
deliveries from three providers (with a duplicate, a tampered and a stale
one), the events topics read back, the Results of commands its sink ran
against a local Stripe sandbox, and the Stripe events poll (against the same
sandbox) recovering a webhook that was never delivered.

Demo-only secrets are passed to the worker process's environment (the
Stripe API key is the sandbox's own test key, and the base URL points at
the sandbox, so no command can reach the real Stripe); nothing here is used
outside the demo.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from aiokafka import ConsumerRecord, TopicPartition

from core.envelopes import Event, Result
from core.settings import Settings
from core.testing.signing import sign_github, sign_slack, sign_stripe

from . import kafka
from .dlq import DlqFilter, read_dlq
from .kafka.topics import TopicNames, partitions_of
from .offsets import cursors_topic, read_states

__all__ = [
    "POLL_INTERVAL_S",
    "SANDBOX_API_KEY",
    "STRIPE_EVENTS",
    "STRIPE_SECRET",
    "Delivery",
    "Watch",
    "cursor_mark",
    "dead_lettered",
    "dedup_count",
    "deliveries",
    "end_offsets",
    "produce_raw",
    "read_new_events",
    "read_results",
    "run_cli",
    "running_worker",
    "start_offsets",
    "stripe_env",
    "wait_until",
    "watching",
]

STRIPE_SECRET = "whsec_demo_0123456789abcdef0123456789"  # noqa: S105 - demo only
GITHUB_SECRET = "demo-github-secret-0123456789"  # noqa: S105 - demo only
SLACK_SECRET = "demo-slack-signing-secret-0123456789"  # noqa: S105 - demo only
SANDBOX_API_KEY = "sk_test_sandbox"  # the Stripe sandbox's own test key (demo only)
PROVIDERS = ("stripe", "github", "slack")
STRIPE_EVENTS = "stripe.events"  # the poll stream id (``<connector>.<stream>``)
POLL_INTERVAL_S = 2.0  # the demo's poll interval (the stream's own is 60 s)


@dataclass(frozen=True)
class Delivery:
    label: str
    connector: str
    body: bytes
    headers: dict[str, str]
    expect: int


def deliveries(run: str) -> list[Delivery]:
    """The demo's webhooks: 3 real events, a duplicate, a tampered and a stale
    delivery, and two provider handshakes."""
    stripe = orjson.dumps(
        {
            "id": f"evt_demo_{run}",
            "object": "event",
            "type": "payment_intent.succeeded",
            "created": int(time.time()),
            "data": {
                "object": {"id": f"pi_demo_{run}", "object": "payment_intent", "amount": 2000}
            },
        }
    )
    tampered = stripe.replace(b"2000", b"9999")
    issue = orjson.dumps(
        {
            "action": "opened",
            # the run in the body: GitHub signs no delivery id, so dedup keys on the
            # body's digest and an identical body from an earlier run is a duplicate
            "issue": {
                "number": 42,
                "title": f"Demo issue {run}",
                "updated_at": "2026-11-23T10:00:00Z",
            },
            "repository": {"full_name": "switchboard/demo"},
        }
    )
    gh_headers = {"X-GitHub-Event": "issues", "X-GitHub-Delivery": f"demo-{run}"}
    ping = orjson.dumps({"zen": "Design for failure.", "hook_id": 1})
    challenge = orjson.dumps({"type": "url_verification", "challenge": f"challenge-{run}"})
    slack = orjson.dumps(
        {
            "type": "event_callback",
            "event_id": f"EvDemo{run}",
            "event_time": int(time.time()),
            "event": {"type": "app_mention", "channel": "C0DEMO", "text": "<@U1> hello"},
        }
    )
    stale_ts = int(time.time()) - 3600
    return [
        Delivery(
            "stripe payment_intent.succeeded",
            "stripe",
            stripe,
            sign_stripe(stripe, STRIPE_SECRET),
            200,
        ),
        Delivery(
            "stripe: the same delivery again",
            "stripe",
            stripe,
            sign_stripe(stripe, STRIPE_SECRET),
            200,
        ),
        Delivery(
            "stripe: tampered body", "stripe", tampered, sign_stripe(stripe, STRIPE_SECRET), 401
        ),
        Delivery(
            "stripe: stale timestamp (1 h old)",
            "stripe",
            stripe,
            sign_stripe(stripe, STRIPE_SECRET, timestamp=stale_ts),
            401,
        ),
        Delivery(
            "github issues.opened",
            "github",
            issue,
            {**sign_github(issue, GITHUB_SECRET), **gh_headers},
            200,
        ),
        Delivery(
            "github ping (handshake)",
            "github",
            ping,
            {
                **sign_github(ping, GITHUB_SECRET),
                "X-GitHub-Event": "ping",
                "X-GitHub-Delivery": f"ping-{run}",
            },
            200,
        ),
        Delivery(
            "slack url_verification (handshake)",
            "slack",
            challenge,
            sign_slack(challenge, SLACK_SECRET),
            200,
        ),
        Delivery("slack app_mention", "slack", slack, sign_slack(slack, SLACK_SECRET), 200),
        Delivery(
            "slack: wrong secret", "slack", slack, sign_slack(slack, "not-the-secret-0123"), 401
        ),
    ]


def _namespace_env(settings: Settings) -> dict[str, str]:
    """The broker and the topic prefix of ``settings``, for a subprocess."""
    return {
        "SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "SWITCHBOARD_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix,
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stripe_env(stripe_url: str) -> dict[str, str]:
    """Settings (environment) for Stripe against the sandbox at ``stripe_url``:
    its key and base URL, the Stripe sink, and the ``stripe.events`` poll
    every ``POLL_INTERVAL_S`` without jitter."""
    return {
        "SWITCHBOARD_STRIPE__API_KEY": SANDBOX_API_KEY,
        "SWITCHBOARD_STRIPE__BASE_URL": stripe_url,
        "SWITCHBOARD_SINK__CONNECTORS": '["stripe"]',
        "SWITCHBOARD_POLL__CONNECTORS": '["stripe"]',
        "SWITCHBOARD_POLL__INTERVAL_S": f"{POLL_INTERVAL_S:g}",
        "SWITCHBOARD_POLL__JITTER": "0",
    }


@contextlib.contextmanager
def running_worker(settings: Settings, *, stripe_url: str | None = None) -> Iterator[str]:
    """Run ``switchboard worker --roles ingest,dedup`` with demo secrets; yields its URL.

    With ``stripe_url`` (a Stripe sandbox) the worker also has the ``sink``
    and ``poll`` roles, for Stripe only (:func:`stripe_env`).
    """
    port = _free_port()
    data_dir = tempfile.mkdtemp(prefix="switchboard-demo-")
    roles = "ingest,dedup"
    env = {
        **os.environ,
        **_namespace_env(settings),
        "SWITCHBOARD_STRIPE__WEBHOOK_SECRETS": orjson.dumps([STRIPE_SECRET]).decode(),
        "SWITCHBOARD_GITHUB__WEBHOOK_SECRETS": orjson.dumps([GITHUB_SECRET]).decode(),
        "SWITCHBOARD_SLACK__SIGNING_SECRETS": orjson.dumps([SLACK_SECRET]).decode(),
        "SWITCHBOARD_WORKER__DATA_DIR": data_dir,
        "SWITCHBOARD_LOG_LEVEL": "WARNING",
    }
    if stripe_url is not None:
        roles += ",sink,poll"
        env.update(stripe_env(stripe_url))
    log = Path(data_dir) / "worker.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streams.cli",
                "worker",
                "--roles",
                roles,
                "--port",
                str(port),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    ok = False
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the worker exited ({proc.returncode}); see {log}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not start within 90 s; see {log}")
            time.sleep(0.2)
        try:
            yield url
        except TimeoutError as exc:  # e.g. no Result: the worker's log may say why
            raise TimeoutError(f"{exc}; the worker's log: {log}") from exc
        ok = True
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if ok:  # keep the log of a failed run
            shutil.rmtree(data_dir, ignore_errors=True)


async def start_offsets(settings: Settings) -> dict[TopicPartition, int]:
    """End offsets of the demo's events topics now: read only what comes after."""
    names = TopicNames.from_settings(settings)
    return await end_offsets(settings, [names.events(provider) for provider in PROVIDERS])


async def read_new_events(
    settings: Settings,
    since: dict[TopicPartition, int],
    expect: int,
    timeout: float = 60,
    *,
    delivery: str = "webhook",
) -> list[tuple[str, Event]]:
    """Events that came by ``delivery`` after ``since`` on the demo's topics:
    wait for ``expect`` of them, then also read anything else already there.
    (The worker's Stripe poll adds events of its own: the sandbox's.)"""
    consumer = kafka.consumer(settings, group_id=None)
    found: list[tuple[str, Event]] = []

    def add(batch: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]) -> None:
        for records in batch.values():
            for record in records:
                event = Event.from_json(record.value or b"")
                if event.delivery == delivery:
                    found.append((record.topic, event))

    async with kafka.connect(settings, consumer):
        consumer.assign(list(since))
        for tp, offset in since.items():
            consumer.seek(tp, offset)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            add(await consumer.getmany(timeout_ms=500))
            if len(found) >= expect:
                break
        # anything that arrived together with the last one (a duplicate would show here)
        add(await consumer.getmany(timeout_ms=1000))
    return found


async def produce_raw(
    settings: Settings, topic: str, results_topic: str, command_id: str, value: bytes
) -> Result:
    """Produce ``value`` to ``topic`` as any Kafka producer could (key =
    ``command_id``, nothing validated) and wait for its Result."""
    partitions = await partitions_of(settings, results_topic) or []
    tps = [TopicPartition(results_topic, p) for p in partitions]
    consumer = kafka.consumer(settings, group_id=None)
    async with kafka.connect(settings, consumer):
        ends = await consumer.end_offsets(tps)
    async with kafka.connect(settings, kafka.producer(settings)) as producer:
        meta = await producer.send_and_wait(topic, value, key=command_id.encode())
    start = ends[TopicPartition(results_topic, meta.partition)]
    found = await read_results(settings, results_topic, meta.partition, start, command_id)
    return found[0]


async def read_results(
    settings: Settings,
    topic: str,
    partition: int,
    start: int,
    command_id: str,
    *,
    wait: bool = True,
    timeout: float = 30,
) -> list[Result]:
    """The Results keyed ``command_id`` on ``topic[partition]`` from ``start``.

    With ``wait``, reads until the first one arrives (TimeoutError after
    ``timeout`` s); without, reads up to the partition's end now.
    """
    tp = TopicPartition(topic, partition)
    consumer = kafka.consumer(settings, group_id=None)
    found: list[Result] = []
    async with kafka.connect(settings, consumer):
        consumer.assign([tp])
        consumer.seek(tp, start)
        end = None if wait else (await consumer.end_offsets([tp]))[tp]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if end is not None and await consumer.position(tp) >= end:
                return found
            if loop.time() > deadline:
                raise TimeoutError(f"no Result for {command_id} on {topic}[{partition}]")
            batch = await consumer.getmany(tp, timeout_ms=500)
            for record in batch.get(tp, []):
                if end is not None and record.offset >= end:
                    return found
                if record.key == command_id.encode():
                    found.append(Result.from_json(record.value or b""))
            if wait and found:
                return found


def run_cli(
    settings: Settings, args: list[str], env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``switchboard ARGS`` against the same broker and topic prefix
    (``env`` added to this process's environment); output captured."""
    env = {**os.environ, **_namespace_env(settings), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


async def dead_lettered(
    settings: Settings, dlq_topic: str, since: datetime, id_prefix: str
) -> dict[str, str]:
    """Command id -> DLQ reason, for the records of ``dlq_topic`` that failed
    since ``since`` and whose value is a command with an id starting ``id_prefix``."""
    found = {}
    async for record in read_dlq(settings, [dlq_topic], DlqFilter(since=since)):
        try:
            command_id = str(orjson.loads(record.value or b"").get("id"))
        except (orjson.JSONDecodeError, AttributeError):
            continue  # not a command of the demo's
        if command_id.startswith(id_prefix) and record.errors is not None:
            found[command_id] = record.errors.reason
    return found


# -- the missed webhook and the poll ---------------------------------------------


async def cursor_mark(settings: Settings, stream: str) -> Any:
    """The mark of ``stream``'s latest cursor record (None without one)."""
    topic = await cursors_topic(settings)
    states, _ = await read_states(settings, topic, [stream])
    record = states[stream].record
    return None if record is None else record.cursor.mark


async def end_offsets(settings: Settings, topics: list[str]) -> dict[TopicPartition, int]:
    """The end offsets of every partition of ``topics`` now."""
    tps = []
    for topic in topics:
        tps += [TopicPartition(topic, p) for p in await partitions_of(settings, topic) or []]
    consumer = kafka.consumer(settings, group_id=None)
    async with kafka.connect(settings, consumer):
        return dict(await consumer.end_offsets(tps))


@dataclass
class Watch:
    """Events read from some topics as they arrive (see :func:`watching`):
    ``copies[topic][event id]`` lists every record of that id, in order."""

    consumer: Any
    copies: dict[str, dict[str, list[Event]]] = field(default_factory=dict)

    def of(self, topic: str, event_id: str) -> list[Event]:
        return self.copies.get(topic, {}).get(event_id, [])

    def _add(self, record: ConsumerRecord[bytes, bytes]) -> None:
        try:
            event = Event.from_json(record.value or b"")
        except ValueError:
            return  # not an Event: dedup dead-letters it, nothing of the demo's
        self.copies.setdefault(record.topic, {}).setdefault(event.id, []).append(event)

    async def until(self, done: Callable[[], Awaitable[bool]], timeout: float) -> bool:
        """Read on until ``done()`` (checked after every batch, and at least
        every 0.25 s) or ``timeout`` s; returns whether it was done."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not await done():
            left = deadline - loop.time()
            if left <= 0:
                return False
            batch = await self.consumer.getmany(timeout_ms=int(min(left, 0.25) * 1000) + 1)
            for records in batch.values():
                for record in records:
                    self._add(record)
        return True


@contextlib.asynccontextmanager
async def watching(settings: Settings, since: dict[TopicPartition, int]) -> AsyncIterator[Watch]:
    """A :class:`Watch` of the partitions of ``since``, each from its offset there."""
    consumer = kafka.consumer(settings, group_id=None)
    async with kafka.connect(settings, consumer):
        consumer.assign(list(since))
        for tp, offset in since.items():
            consumer.seek(tp, offset)
        yield Watch(consumer)


async def wait_until(
    done: Callable[[], Awaitable[bool]], timeout: float, every: float = 0.2
) -> bool:
    """Check ``done()`` every ``every`` s until it holds (True) or ``timeout`` s
    have passed (False)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await done():
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(every)
    return True


_METRIC = re.compile(r'^switchboard_dedup_total\{connector="(\w+)",outcome="(\w+)"\} (\S+)$', re.M)


async def dedup_count(http: httpx.AsyncClient, connector: str, outcome: str) -> int:
    """The worker's ``switchboard_dedup_total`` for ``connector`` and ``outcome``
    (``duplicate``: ingest records dropped as already seen), from ``GET /metrics``."""
    text = (await http.get("/metrics")).text
    for name, kind, value in _METRIC.findall(text):
        if (name, kind) == (connector, outcome):
            return int(float(value))
    return 0
