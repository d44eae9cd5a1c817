"""No silent stalls: a consuming role's partition that stops being fetched
while records wait is detected, reported and recovered, or the worker exits.

The stall is made at the transport: the aiokafka consumer's ``pause()`` on
an assigned partition, called from outside the sink's logic (in-process),
or before every fetch (a real worker process, ``stall_hook/sitecustomize.py``).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

import connectors
from streams.worker.roles import WorkerRoles
from tests.conftest import free_port
from tests.integration.sink_support import SinkRig, customer, running_rig
from tests.waiting import DeadlinePassed, eventually, eventually_sync

pytestmark = pytest.mark.integration

SWITCHBOARD = str(Path(sys.executable).parent / "switchboard")
HOOK = Path(__file__).parent / "stall_hook"
REPO = Path(__file__).parents[2]


def stalls(metrics: str, role: str) -> float:
    for line in metrics.splitlines():
        if line.startswith(f'switchboard_stalls_total{{role="{role}"}}'):
            return float(line.split()[-1])
    return 0.0


@pytest.fixture
async def rig(
    kafka_bootstrap: str, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[SinkRig]:
    extra = {
        "WORKER__STALL_TIMEOUT_S": "1",
        "WORKER__ROLES": '["sink"]',
        "WORKER__HOST": "127.0.0.1",
        "WORKER__PORT": str(free_port()),
        "SINK__CONNECTORS": '["stripe"]',
    }
    async with (
        connectors.get("stripe").new_sandbox() as sb,
        running_rig(monkeypatch, kafka_bootstrap, topic_prefix, "stripe", sb, extra) as rig,
    ):
        yield rig


async def test_a_paused_partition_is_detected_reported_and_recovered(rig: SinkRig) -> None:
    fatal: list[str] = []
    roles = WorkerRoles(rig.settings, on_fatal=fatal.append)
    await roles.start()
    base = f"http://127.0.0.1:{roles.server.port}"
    (sink,) = roles.sinks
    try:
        async with httpx.AsyncClient(base_url=base) as http:
            first = customer(0)
            await rig.send(first, key="k")
            await rig.results_by_id(expect=1)
            assert (await http.get("/healthz")).status_code == 200
            consumer = sink.consumer
            assert consumer is not None
            consumer.pause(*consumer.assignment())  # the transport stops fetching
            waiting = [customer(i) for i in range(1, 6)]
            for i, command in enumerate(waiting):
                await rig.send(command, key=f"k{i}")

            async def unhealthy() -> bool:
                return (await http.get("/healthz")).status_code == 503

            await eventually(unhealthy, 30, what="/healthz 503 while stalled", interval=0.01)
            body = (await http.get("/healthz")).json()
            assert not body["checks"]["stall:sink stripe"]["ok"]
            assert "stalled" in body["checks"]["stall:sink stripe"]["detail"]
            # recovered by the watchdog: every waiting command answered, healthy again
            results = await rig.results_by_id(expect=6)
            assert sorted(results) == sorted(c.id for c in [first, *waiting])

            async def healthy() -> bool:
                return (await http.get("/healthz")).status_code == 200

            await eventually(healthy, 30, what="/healthz 200 after recovery")
            metrics = (await http.get("/metrics")).text
            assert stalls(metrics, "sink stripe") >= 1
            assert 'switchboard_stalled_partitions{role="sink stripe"} 0.0' in metrics
            assert fatal == []
    finally:
        await roles.stop()


def test_a_stall_that_does_not_recover_ends_the_worker_with_one_line(
    cli_env: dict[str, str], topic_prefix: str, tmp_path: Path
) -> None:
    port = free_port()
    commands = f"{topic_prefix}stripe.commands"
    env = {
        **cli_env,
        # the worktree's code first, then the transport fault
        "PYTHONPATH": os.pathsep.join([str(HOOK), str(REPO), os.environ.get("PYTHONPATH", "")]),
        "STALL_TOPIC": commands,
        "SWITCHBOARD_KAFKA__TOPIC_PREFIX": topic_prefix,
        "SWITCHBOARD_WORKER__DATA_DIR": str(tmp_path / "data"),
        "SWITCHBOARD_WORKER__ROLES": '["sink"]',
        "SWITCHBOARD_WORKER__SESSION_TIMEOUT_S": "6",
        "SWITCHBOARD_WORKER__STALL_TIMEOUT_S": "1",
        "SWITCHBOARD_SINK__CONNECTORS": '["stripe"]',
        "SWITCHBOARD_STRIPE__API_KEY": "sk_test_sandbox",
        "SWITCHBOARD_STRIPE__BASE_URL": "http://127.0.0.1:9",  # never called
    }
    proc = subprocess.Popen(
        [SWITCHBOARD, "worker", "--roles", "sink", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        eventually_sync(lambda: _get(f"http://127.0.0.1:{port}/healthz") != 0 or proc.poll(), 90)
        send = subprocess.run(
            [
                SWITCHBOARD,
                "send",
                "stripe.customers.create",
                "--json",
                '{"email": "c@example.com"}',
            ],
            env={**env, "STALL_TOPIC": ""},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert send.returncode == 0, send.stderr
        with contextlib.suppress(DeadlinePassed):  # the assertions below say why
            eventually_sync(proc.poll, 40, until=lambda code: code is not None)
    finally:
        if proc.poll() is None:
            proc.kill()
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, err
    assert "still stalled" in errors[0], errors
    assert commands in errors[0], errors
    assert "Traceback" not in err


def _get(url: str) -> int:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.HTTPError:
        return 0
