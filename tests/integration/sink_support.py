"""The sink rig the sink's integration tests share: one connector's topics,
its sandbox and in-process sinks on the real broker (fixtures ``stripe_rig``
and ``github_rig``, offered to every integration test by its conftest)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest

import connectors
from core.envelopes import Command, Result
from core.testing import Sandbox
from streams import kafka
from streams.commands import build_command
from streams.kafka.topics import TopicNames, connector_topics, ensure_topics
from streams.settings import Settings, load_settings
from streams.sink import Sink
from tests.kafkatools import committed_offsets, group_state, read_topic
from tests.waiting import eventually


class SinkRig:
    """One connector's topics, sandbox and in-process sink."""

    def __init__(self, settings: Settings, connector: str, sandbox: Sandbox) -> None:
        self.settings = settings
        self.connector = connector
        self.sandbox = sandbox
        names = TopicNames.from_settings(settings)
        self.commands = names.commands(connector)
        self.results = names.results(connector)
        self.dlq = names.dlq(self.commands)
        self.sinks: list[tuple[Sink, asyncio.Task[None]]] = []
        self.producer: Any = None

    async def start_sink(self, settings: Settings | None = None, *, wait: bool = True) -> Sink:
        settings = settings or self.settings
        connector = connectors.get(self.connector)
        assert connector.api is not None
        sink = Sink(settings, connector, connector.api(settings.section(self.connector)))
        task = asyncio.create_task(sink.run())
        self.sinks.append((sink, task))
        if wait:
            await eventually(lambda: sink_ready(sink, task), 30)
        return sink

    async def stop_sinks(self) -> None:
        for sink, _task in self.sinks:
            sink.stop()
        for _sink, task in self.sinks:
            await task
        self.sinks.clear()

    async def send(self, command: Command, key: str | None = None) -> None:
        await self.send_raw(command.to_json(), key or command.id)

    async def send_raw(self, value: bytes, key: str, headers: list[Any] | None = None) -> None:
        await self.producer.send_and_wait(
            self.commands, value, key=key.encode(), headers=headers or []
        )

    async def send_many(self, records: list[tuple[bytes, str]]) -> None:
        """Produce ``(value, key)`` records without waiting on each in turn."""
        sent = [await self.producer.send(self.commands, v, key=k.encode()) for v, k in records]
        await asyncio.gather(*sent)

    async def results_by_id(self, expect: int, timeout: float = 60.0) -> dict[str, list[Result]]:
        records = await read_topic(self.settings, self.results, expect=expect, timeout=timeout)
        out: dict[str, list[Result]] = defaultdict(list)
        for r in records:
            out[r.key.decode()].append(Result.from_json(r.value))
        return out


async def sink_ready(sink: Sink, task: asyncio.Task[None]) -> bool:
    """Consuming, and its group is stable: its partitions are assigned."""
    if task.done():
        task.result()  # raise what stopped it
    if not sink.started.is_set():
        return False
    state, members = await group_state(sink.settings, sink.group_id)
    return state == "Stable" and members > 0


@pytest.fixture
async def stripe_rig(
    kafka_bootstrap: str, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[SinkRig]:
    async with (
        connectors.get("stripe").new_sandbox() as sb,
        running_rig(monkeypatch, kafka_bootstrap, topic_prefix, "stripe", sb) as rig,
    ):
        yield rig


@pytest.fixture
async def github_rig(
    kafka_bootstrap: str, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[SinkRig]:
    async with (
        connectors.get("github").new_sandbox() as sb,
        running_rig(monkeypatch, kafka_bootstrap, topic_prefix, "github", sb) as rig,
    ):
        yield rig


@contextlib.asynccontextmanager
async def running_rig(
    monkeypatch: pytest.MonkeyPatch,
    bootstrap: str,
    prefix: str,
    connector: str,
    sb: Sandbox,
    extra: Mapping[str, str] | None = None,
) -> AsyncIterator[SinkRig]:
    """A rig with its producer open; its sinks are stopped at the end
    (``extra``: more settings, as ``SWITCHBOARD_`` variables without the prefix)."""
    env = {
        "KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "KAFKA__TOPIC_PREFIX": prefix,
        "WORKER__SESSION_TIMEOUT_S": "6",
        "SINK__COMMIT_INTERVAL_S": "0.2",
        f"{connector.upper()}__BASE_URL": sb.url,
        **CREDENTIALS.get(connector, {}),
        **(extra or {}),
    }
    for name, value in env.items():
        monkeypatch.setenv(f"SWITCHBOARD_{name}", value)
    settings = load_settings(sections=connectors.settings_sections())
    await ensure_topics(settings, connector_topics(settings, connector))
    rig = SinkRig(settings, connector, sb)
    async with kafka.connect(rig.settings, kafka.producer(rig.settings)) as producer:
        rig.producer = producer
        try:
            yield rig
        finally:
            await rig.stop_sinks()


#: test credentials (and rates no test waits on) per connector
CREDENTIALS: dict[str, dict[str, str]] = {
    "stripe": {"STRIPE__API_KEY": "sk_test_sandbox", "STRIPE__RATE": "5000"},
    "github": {"GITHUB__TOKEN": "ghp_sandbox", "GITHUB__RATE": "5000"},
    "twilio": {
        "TWILIO__ACCOUNT_SID": "AC" + "0123456789abcdef" * 2,
        "TWILIO__API_KEY_SID": "SK" + "0123456789abcdef" * 2,
        "TWILIO__API_KEY_SECRET": "sandbox-secret",
        "TWILIO__RATE": "5000",
    },
}


def customer(i: int, **extra: Any) -> Command:
    return build_command("stripe.customers.create", {"email": f"c{i}@example.com", **extra})


async def committed_all(rig: SinkRig) -> None:
    group = f"{rig.settings.kafka.topic_prefix}switchboard-sink-{rig.connector}"

    await eventually(
        lambda: committed_offsets(rig.settings, rig.commands, group),
        30,
        until=lambda offsets: offsets[0] == offsets[1],
        what=f"{group}'s commits (committed, end) reaching the end of {rig.commands}",
    )
