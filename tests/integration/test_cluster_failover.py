"""A replicated local cluster (three KRaft nodes, ``kafka start --brokers
3``) losing the leader of a partition mid-load, SIGKILLed:

- ingest: every delivery answered 2xx is on ``<c>.events`` exactly once,
  and a delivery answered 503 (its ack did not come in time) and retried as
  a provider retries lands exactly once too;
- sink: the leader of ``<c>.results`` partition 0 (and of whatever else it
  led: commands, ledger, the group's offsets) killed mid-run: every command
  has exactly one Result and no side effect happened twice.

The killed node stays down for the rest of the test (writes go on with 2 of
3 replicas, ``min.insync.replicas=2``) and is started again after it, by
the same ``start`` that rejoins a node to its cluster. The figures
(deliveries acked, 503s, recovery: the killed leader's partition taking
writes again) are printed (``pytest -s``).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

import connectors
from core.envelopes import Command, Event
from core.testing.signing import sign_stripe
from streams import localkafka
from streams.commands import build_command
from streams.kafka.topics import TopicNames, connector_topics, ensure_topics
from streams.settings import LocalKafkaSettings, Settings, load_settings
from tests.conftest import free_port
from tests.integration.cluster_support import (
    cluster_settings,
    end_offset,
    kill_leader,
    replicas_of,
    topic_config,
    written_again,
)
from tests.integration.sink_processes import assert_exactly_once, at_most_once, process_rig
from tests.kafkatools import read_topic
from tests.waiting import eventually_sync

pytestmark = pytest.mark.integration

SWITCHBOARD = str(Path(sys.executable).parent / "switchboard")
SECRET = "whsec_cluster_" + "c" * 20


@pytest.fixture(scope="module")
def cluster(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalKafkaSettings]:
    cfg = cluster_settings(tmp_path_factory.mktemp("cluster-run"))
    localkafka.start(cfg)
    try:
        yield cfg
    finally:
        localkafka.stop(cfg)
        shutil.rmtree(localkafka.run_dir(cfg), ignore_errors=True)


@pytest.fixture
def whole_cluster(cluster: LocalKafkaSettings) -> Iterator[LocalKafkaSettings]:
    """The cluster with every node up; a node a test killed is started again after it."""
    assert localkafka.status(cluster).state == "running"
    yield cluster
    if localkafka.status(cluster).state != "running":
        assert localkafka.start(cluster).started  # the killed node rejoins with its data
    assert localkafka.status(cluster).state == "running"


@pytest.fixture
def cluster_env(
    whole_cluster: LocalKafkaSettings, cli_env: dict[str, str], topic_prefix: str
) -> dict[str, str]:
    return {
        **cli_env,
        "SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS": whole_cluster.bootstrap,
        "SWITCHBOARD_LOCAL_KAFKA__RUN_ROOT": str(whole_cluster.run_root),
        "SWITCHBOARD_KAFKA__TOPIC_PREFIX": topic_prefix,
    }


def settings_for(env: dict[str, str]) -> Settings:
    return load_settings(
        sections=connectors.settings_sections(),
        kafka={
            "bootstrap_servers": env["SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS"],
            "topic_prefix": env["SWITCHBOARD_KAFKA__TOPIC_PREFIX"],
        },
    )


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SWITCHBOARD, "kafka", *args], env=env, capture_output=True, text=True, timeout=180
    )


def test_cli_status_degraded_and_restart_and_replicated_topics(
    whole_cluster: LocalKafkaSettings, cluster_env: dict[str, str]
) -> None:
    where = ["--brokers", "3", "--port", str(whole_cluster.port)]
    shown = cli(cluster_env, "status", *where)
    assert shown.returncode == 0, shown.stderr
    assert "cluster of 3 brokers: running" in shown.stdout
    assert [line.split(":")[0].strip() for line in shown.stdout.splitlines()[1:]] == [
        "node 1",
        "node 2",
        "node 3",
    ]

    # Topics Switchboard creates on it: 3 replicas, min.insync.replicas 2.
    settings = settings_for(cluster_env)
    asyncio.run(ensure_topics(settings, connector_topics(settings, "stripe")))
    commands = TopicNames.from_settings(settings).commands("stripe")
    assert asyncio.run(replicas_of(settings, commands)) == [3, 3, 3]
    assert asyncio.run(topic_config(settings, commands, "min.insync.replicas")) == "2"

    victim = localkafka.status(whole_cluster).nodes[1]
    assert victim.pid is not None
    os.kill(victim.pid, 9)
    eventually_sync(lambda: localkafka.status(whole_cluster).state == "degraded", 30)
    shown = cli(cluster_env, "status", *where)
    assert shown.returncode == 3
    assert "degraded" in shown.stdout
    assert "node 2: not running" in shown.stdout

    started = cli(cluster_env, "start", *where)
    assert started.returncode == 0, started.stderr
    after = localkafka.status(whole_cluster)
    assert after.state == "running"
    assert after.nodes[0].pid == localkafka.status(whole_cluster).nodes[0].pid
    assert after.nodes[1].pid != victim.pid


def delivery(event_id: str) -> tuple[bytes, dict[str, str]]:
    body = orjson.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": "charge.succeeded",
            "created": 1,
            "data": {"object": {"id": "ch_1"}},
        }
    )
    return body, {**sign_stripe(body, SECRET), "content-type": "application/json"}


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
            status: int = r.status
            return status == 200
    except OSError:
        return False


class Load:
    """Senders posting signed deliveries; a 503 is retried as a provider
    retries (the same event, signed again) until it is answered 2xx."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.acked: list[str] = []
        self.refused = 0
        self.after_kill = 0
        self.killed = False

    async def sender(self, http: httpx.AsyncClient, stop: asyncio.Event) -> None:
        while not stop.is_set():
            event_id = f"evt_{uuid.uuid4().hex[:16]}"
            while True:
                body, headers = delivery(event_id)
                try:
                    response = await http.post(self.url, content=body, headers=headers)
                    status = response.status_code
                except httpx.TransportError:
                    status = 0
                if 200 <= status < 300:
                    self.acked.append(event_id)
                    self.after_kill += self.killed
                    break
                assert status in {0, 503}, f"answered {status}"
                self.refused += 1
                await asyncio.sleep(0.2)  # stimulus: a provider's pause before its retry


def test_ingest_leader_killed_every_acked_delivery_once(
    whole_cluster: LocalKafkaSettings, cluster_env: dict[str, str], tmp_path: Path
) -> None:
    settings = settings_for(cluster_env)
    names = TopicNames.from_settings(settings)
    asyncio.run(ensure_topics(settings, connector_topics(settings, "stripe")))
    port = free_port()
    env = {
        **cluster_env,
        "SWITCHBOARD_STRIPE__WEBHOOK_SECRETS": orjson.dumps([SECRET]).decode(),
        "SWITCHBOARD_WORKER__DATA_DIR": str(tmp_path / "data"),
        "SWITCHBOARD_WORKER__SESSION_TIMEOUT_S": "6",
        "SWITCHBOARD_LOG_LEVEL": "INFO",
    }
    log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115 - closed with the worker
    worker = subprocess.Popen(
        [SWITCHBOARD, "worker", "--roles", "ingest,dedup", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    load = Load(f"http://127.0.0.1:{port}/webhooks/stripe")
    try:
        eventually_sync(lambda: ready(port) or worker.poll() is not None, 120)
        assert worker.poll() is None, (tmp_path / "worker.log").read_text()

        async def run() -> tuple[float, int]:
            stop = asyncio.Event()
            async with httpx.AsyncClient(timeout=30) as http:
                senders = [asyncio.create_task(load.sender(http, stop)) for _ in range(8)]
                try:
                    await asyncio.to_thread(eventually_sync, lambda: len(load.acked) >= 200, 60)
                    before = await end_offset(settings, names.ingest("stripe"))
                    assert before is not None
                    kill = await asyncio.to_thread(
                        kill_leader, whole_cluster, settings, names.ingest("stripe")
                    )
                    load.killed = True
                    await asyncio.to_thread(
                        eventually_sync,
                        lambda: written_again(settings, names.ingest("stripe"), before, 30),
                        90,
                        what="the killed leader's partition taking writes again",
                    )
                    recovery = time.monotonic() - kill.at
                    await asyncio.to_thread(eventually_sync, lambda: load.after_kill >= 300, 90)
                finally:
                    stop.set()
                    await asyncio.gather(*senders)
            return recovery, kill.node_id

        recovery, node = asyncio.run(run())
        records = asyncio.run(
            read_topic(settings, names.events("stripe"), expect=len(load.acked), timeout=120)
        )
    finally:
        worker.terminate()
        worker.wait(60)
        log.close()
    seen = Counter(Event.from_json(r.value).id for r in records)
    missing = [i for i in load.acked if i not in seen]
    twice = {i: n for i, n in seen.items() if n > 1}
    assert not missing, f"{len(missing)} acked deliveries are not on events"
    assert not twice, f"on events more than once: {twice}"
    assert set(seen) == set(load.acked)
    changelog = f"{settings.kafka.topic_prefix}switchboard-worker-dedup-stripe-changelog"
    assert asyncio.run(replicas_of(settings, changelog)) == [3] * settings.kafka.partitions
    print(
        f"\ningest, node {node} (leader of ingest partition 0) SIGKILLed: "
        f"{len(load.acked)} deliveries acked ({load.after_kill} after the kill), "
        f"{load.refused} answered 503 and retried, each on events once; "
        f"recovery {recovery:.1f} s"
    )


def stripe_commands(n: int, keys: int) -> list[tuple[str, Command]]:
    return [
        (
            f"cus_{i % keys}",
            build_command("stripe.customers.create", {"email": f"c{i}@example.com"}),
        )
        for i in range(n)
    ]


def test_sink_results_leader_killed_every_command_once(
    whole_cluster: LocalKafkaSettings, cluster_env: dict[str, str], tmp_path: Path
) -> None:
    with process_rig(
        "stripe", cluster_env, cluster_env["SWITCHBOARD_KAFKA__TOPIC_PREFIX"], tmp_path
    ) as rig:
        assert asyncio.run(replicas_of(rig.settings, rig.results_topic)) == [3, 3, 3]
        commands = stripe_commands(3000, keys=600)
        rig.workers.start()
        rig.workers.start()
        rig.produce(commands)
        eventually_sync(lambda: len(rig.results()) >= 300, 120)
        before = asyncio.run(end_offset(rig.settings, rig.results_topic))
        assert before is not None
        kill = kill_leader(whole_cluster, rig.settings, rig.results_topic)
        eventually_sync(
            lambda: written_again(rig.settings, rig.results_topic, before, 30),
            90,
            what="the killed leader's partition taking writes again",
        )
        recovery = time.monotonic() - kill.at
        results = assert_exactly_once(rig, commands)
        assert {r.status for r in results.values()} == {"succeeded"}
        effects = at_most_once(rig.sandbox, results)
        assert all(effects.get(c.id) == 1 for _, c in commands)
        assert len(rig.workers.running()) == 2, "a worker exited"
    print(
        f"\nsink, node {kill.node_id} (leader of results partition 0) SIGKILLed: "
        f"{len(commands)} commands, {len(results)} Results, none twice, no side effect twice; "
        f"recovery {recovery:.1f} s"
    )
