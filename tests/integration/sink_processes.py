"""Sink workers as real processes on the real broker, for the failover,
drain and lookup tests: a connector's topics and sandbox (in a thread), and
``switchboard worker --roles sink`` processes started, SIGTERMed or
SIGKILLed by the test (:func:`process_rig`)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import connectors
from core.envelopes import Command, Result
from core.testing import Sandbox
from streams import kafka
from streams.kafka.topics import TopicNames, connector_topics, ensure_topics
from streams.settings import Settings, load_settings
from tests.conftest import free_port
from tests.kafkatools import read_topic
from tests.waiting import eventually_sync

SWITCHBOARD = str(Path(sys.executable).parent / "switchboard")


class Workers:
    """The sink worker processes of one test, each logging to its own file."""

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

    def running(self) -> list[int]:
        """Indexes of the workers still running."""
        return [n for n, proc in enumerate(self.procs) if proc.poll() is None]

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


class ProcessRig:
    """One connector's topics and sandbox, and the workers run against them."""

    def __init__(self, settings: Settings, sandbox: Sandbox, workers: Workers) -> None:
        self.settings = settings
        self.sandbox = sandbox
        self.workers = workers
        names = TopicNames.from_settings(settings)
        self.commands = names.commands(sandbox.name)
        self.results_topic = names.results(sandbox.name)
        self.dlq = names.dlq(self.commands)

    def produce(self, commands: list[tuple[str, Command]]) -> None:
        """Produce ``(key, command)`` pairs, waiting for every ack."""

        async def go() -> None:
            async with kafka.connect(self.settings, kafka.producer(self.settings)) as producer:
                futures = [
                    await producer.send(self.commands, c.to_json(), key=key.encode())
                    for key, c in commands
                ]
                await asyncio.gather(*futures)

        asyncio.run(go())

    def results(self, expect: int = 0) -> dict[str, list[Result]]:
        """Every Result so far, by command id."""
        return results_of(self.settings, self.results_topic, expect)


def results_of(settings: Settings, topic: str, expect: int = 0) -> dict[str, list[Result]]:
    records = asyncio.run(read_topic(settings, topic, expect=expect or None, timeout=5))
    out: dict[str, list[Result]] = defaultdict(list)
    for r in records:
        out[r.key.decode()].append(Result.from_json(r.value))
    return out


def sandbox_env(sandbox: Sandbox) -> dict[str, str]:
    """The sandbox's settings (URL, test credentials) as ``SWITCHBOARD_`` variables."""
    return {
        "SWITCHBOARD_" + name.upper().replace(".", "__"): value
        for name, value in sandbox.settings_for(sandbox.url).items()
    }


@contextlib.contextmanager
def process_rig(
    connector: str,
    cli_env: Mapping[str, str],
    topic_prefix: str,
    logs: Path,
    *,
    latency: float = 0.005,
    partitions: int = 3,
    extra: Mapping[str, str] | None = None,
) -> Iterator[ProcessRig]:
    """The sandbox of ``connector`` serving with ``latency``, its topics with
    ``partitions`` each, and a :class:`Workers` whose processes are stopped
    at the end (``extra``: more ``SWITCHBOARD_`` variables for them)."""
    sandbox = connectors.get(connector).new_sandbox()
    with sandbox.in_thread():
        sandbox.record = True
        sandbox.set_latency(latency)
        env = {
            **cli_env,
            "SWITCHBOARD_KAFKA__TOPIC_PREFIX": topic_prefix,
            "SWITCHBOARD_KAFKA__PARTITIONS": str(partitions),
            "SWITCHBOARD_WORKER__SESSION_TIMEOUT_S": "6",
            "SWITCHBOARD_SINK__COMMIT_INTERVAL_S": "0.5",
            "SWITCHBOARD_SINK__CONNECTORS": f'["{connector}"]',
            "SWITCHBOARD_LOG_LEVEL": "INFO",
            f"SWITCHBOARD_{connector.upper()}__RATE": "10000",
            **sandbox_env(sandbox),
            **(extra or {}),
        }
        settings = load_settings(
            sections=connectors.settings_sections(),
            kafka={
                "bootstrap_servers": cli_env["SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS"],
                "topic_prefix": topic_prefix,
                "partitions": partitions,
            },
        )
        asyncio.run(ensure_topics(settings, connector_topics(settings, connector)))
        workers = Workers(env, logs)
        try:
            yield ProcessRig(settings, sandbox, workers)
        finally:
            workers.stop_all()


def kill_mid_batch(rig: ProcessRig, victim: subprocess.Popen[bytes], answered: int = 200) -> None:
    """SIGKILL ``victim`` once ``answered`` commands have a Result (it has calls in flight)."""
    eventually_sync(lambda: len(rig.results()) >= answered, 90)
    victim.send_signal(signal.SIGKILL)
    victim.wait()


def assert_exactly_once(rig: ProcessRig, commands: list[tuple[str, Command]]) -> dict[str, Result]:
    """Every command got exactly one Result (and nothing else did); them, by id."""
    ids = {c.id for _, c in commands}
    eventually_sync(lambda: ids <= set(rig.results()), 120, what="a Result for every command")
    results = rig.results()
    assert set(results) == ids
    twice = {cid: len(rs) for cid, rs in results.items() if len(rs) != 1}
    assert not twice, f"commands with more than one Result: {twice}"
    return {cid: rs[0] for cid, rs in results.items()}


def at_most_once(sandbox: Sandbox, results: Mapping[str, Result]) -> dict[str, Any]:
    """Assert no command acted twice and every succeeded one acted once; the side effects by id."""
    effects = sandbox.side_effect_counts()
    twice = {cid: n for cid, n in effects.items() if n > 1}
    assert not twice, f"side effects more than once: {twice}"
    missing = [
        cid for cid, r in results.items() if r.status == "succeeded" and not effects.get(cid)
    ]
    assert not missing, f"succeeded without a side effect: {missing[:5]}"
    return dict(effects)
