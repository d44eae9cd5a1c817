"""Two dedup workers in one group; one is SIGKILLed mid-load. The survivor
takes its partitions:

- no event is lost (offsets are never committed past unfinished work);
- the at-least-once boundary holds: an id can appear twice only if its
  record was past the killed worker's last committed offset when it died;
- ids the killed worker had finished are known to the survivor (the table
  is changelog-backed): redelivering them after the failover adds nothing.
"""

from __future__ import annotations

import functools
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

import connectors
from core.envelopes import Event
from streams import kafka
from streams.kafka.topics import TopicNames, connector_topics, ensure_topics
from streams.settings import Settings, load_settings
from tests.conftest import free_port
from tests.kafkatools import read_topic
from tests.waiting import eventually, eventually_sync

pytestmark = pytest.mark.integration

SWITCHBOARD = str(Path(sys.executable).parent / "switchboard")
UNIQUE = 3000


def up_or_exited(port: int, proc: subprocess.Popen[bytes]) -> bool:
    return healthy(port) or proc.poll() is not None


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
            status: int = r.status  # urlopen's response is typed Any
            return status == 200
    except OSError:
        return False


@pytest.fixture
def env(cli_env: dict[str, str], topic_prefix: str, tmp_path: Path) -> dict[str, str]:
    return {
        **cli_env,
        "SWITCHBOARD_KAFKA__TOPIC_PREFIX": topic_prefix,
        "SWITCHBOARD_WORKER__SESSION_TIMEOUT_S": "6",
        "SWITCHBOARD_LOG_LEVEL": "INFO",
    }


@pytest.fixture
def workers(env: dict[str, str], tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    ports = []
    for i in range(2):
        port = free_port()
        ports.append(port)
        procs.append(
            subprocess.Popen(
                [SWITCHBOARD, "worker", "--roles", "dedup", "--port", str(port)],
                env={**env, "SWITCHBOARD_WORKER__DATA_DIR": str(tmp_path / f"w{i}")},
                stdout=open(tmp_path / f"worker{i}.log", "wb"),  # noqa: SIM115
                stderr=subprocess.STDOUT,
            )
        )
    try:
        for port, proc in zip(ports, procs, strict=True):
            eventually_sync(functools.partial(up_or_exited, port, proc), 90)
            assert proc.poll() is None
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()


def event(i: int) -> bytes:
    return Event(
        id=f"evt_{i}",
        source="switchboard/stripe",
        type="stripe.charge.succeeded",
        subject=f"ch_{i % 97}",
        provider="stripe",
        delivery="webhook",
        data={"i": i},
    ).to_json()


async def wait_until_consumed(settings: Settings, topic: str, group: str) -> None:
    """Poll until the group's committed offsets reach the topic's end."""
    from tests.kafkatools import committed_offsets

    await eventually(
        lambda: committed_offsets(settings, topic, group),
        120,
        until=lambda offsets: offsets[0] == offsets[1],
        what=f"group {group}'s commits (committed, end) reaching the end of {topic}",
        interval=0.2,
    )


async def committed_by_partition(settings: Settings, topic: str, group: str) -> dict[int, int]:
    from aiokafka import TopicPartition

    from streams.kafka.topics import partitions_of

    partitions = await partitions_of(settings, topic) or []
    tps = [TopicPartition(topic, p) for p in partitions]
    async with kafka.connect(settings, kafka.admin(settings)) as admin:
        offsets = await admin.list_consumer_group_offsets(group, partitions=tps)
    return {tp.partition: max(meta.offset, 0) if meta else 0 for tp, meta in offsets.items()}


async def ids_after(settings: Settings, topic: str, offsets: dict[int, int]) -> set[str]:
    """Event ids of the records of ``topic`` at or after ``offsets``."""
    records = await read_topic(settings, topic)
    return {r.key.decode() for r in records if r.offset >= offsets.get(r.partition, 0)}


async def test_sigkill_one_of_two_workers_loses_and_doubles_nothing(
    env: dict[str, str], workers: list[subprocess.Popen[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in env.items():
        if key.startswith("SWITCHBOARD_"):
            monkeypatch.setenv(key, value)
    settings: Settings = load_settings(sections=connectors.settings_sections())
    names = TopicNames.from_settings(settings)
    await ensure_topics(settings, connector_topics(settings, "stripe"))
    ingest = names.ingest("stripe")
    events = names.events("stripe")

    async def send(producer: object, start: int, stop: int) -> None:
        for i in range(start, stop):
            await producer.send(ingest, event(i), key=f"evt_{i}".encode())  # type: ignore[attr-defined]
            if i % 3 == 0:  # every third event is delivered twice
                await producer.send(ingest, event(i), key=f"evt_{i}".encode())  # type: ignore[attr-defined]
        await producer.flush()  # type: ignore[attr-defined]

    group = f"{names.prefix}switchboard-worker"
    async with kafka.connect(settings, kafka.producer(settings)) as producer:
        await send(producer, 0, UNIQUE // 2)
        # Mid-load: once both workers are forwarding, kill one without warning.
        await read_topic(settings, events, expect=UNIQUE // 10, timeout=60)
        workers[0].send_signal(signal.SIGKILL)
        # What the group had committed when the worker died (the survivor
        # cannot have taken over yet: that takes the session timeout).
        at_kill = await committed_by_partition(settings, ingest, group)
        await send(producer, UNIQUE // 2, UNIQUE)
    await wait_until_consumed(settings, ingest, group)
    first = await read_topic(settings, events)
    ids = [Event.from_json(r.value).id for r in first]
    assert set(ids) == {f"evt_{i}" for i in range(UNIQUE)}, "an event was lost"

    in_flight = await ids_after(settings, ingest, at_kill)
    doubled = {i for i in ids if ids.count(i) > 1} if len(ids) != len(set(ids)) else set()
    assert doubled <= in_flight, "a duplicate outside the at-least-once boundary"

    # Redeliver ids finished before the failover: the survivor already knows them.
    finished = sorted(set(ids) - in_flight)[:200]
    async with kafka.connect(settings, kafka.producer(settings)) as producer:
        for event_id in finished:
            i = int(event_id.removeprefix("evt_"))
            await producer.send(ingest, event(i), key=event_id.encode())
        await producer.flush()
    await wait_until_consumed(settings, ingest, group)
    assert len(await read_topic(settings, events)) == len(first)
    assert workers[1].poll() is None
