"""`switchboard kafka start|status|stop` with a real JVM."""

from __future__ import annotations

import asyncio
import http.server
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams import localkafka
from streams.settings import KafkaSettings, LocalKafkaSettings, load_settings
from tests.conftest import free_port
from tests.kafkatools import group_state

pytestmark = pytest.mark.integration

SWITCHBOARD = str(Path(sys.executable).parent / "switchboard")


def cli(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SWITCHBOARD, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def jvms_for(run_dir: Path) -> list[int]:
    """Pids of live JVMs started for ``run_dir``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().split(") ", 1)[1][0]
        except OSError:
            continue
        if state != "Z" and b"kafka.Kafka" in cmdline and str(run_dir).encode() in cmdline:
            pids.append(int(entry.name))
    return pids


@pytest.fixture
def home() -> Path:
    """The shared jar cache (already filled by the session broker's start)."""
    return load_settings().local_kafka.home


@pytest.fixture
def run_root(tmp_path: Path) -> Path:
    """The brokers these tests start keep their data here, not in the user's ``<home>/run``."""
    return tmp_path / "run"


@pytest.fixture
def local_env(home: Path, run_root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    env["SWITCHBOARD_LOCAL_KAFKA__HOME"] = str(home)
    env["SWITCHBOARD_LOCAL_KAFKA__RUN_ROOT"] = str(run_root)
    return env


def test_start_status_stop_on_a_second_port_leaves_no_process(
    local_env: dict[str, str], home: Path, run_root: Path, kafka_bootstrap: str
) -> None:
    port = free_port()
    controller = free_port()
    env = {**local_env, "SWITCHBOARD_LOCAL_KAFKA__CONTROLLER_PORT": str(controller)}
    cfg = LocalKafkaSettings(home=home, run_root=run_root, port=port)
    run_dir = localkafka.run_dir(cfg)
    try:
        started = cli(env, "kafka", "start", "--port", str(port))
        assert started.returncode == 0, started.stderr
        assert f"running at 127.0.0.1:{port}" in started.stdout
        # returned only once a client can create a topic: the port speaks Kafka now
        assert localkafka.probe("127.0.0.1", port) is localkafka.PortState.KAFKA
        assert len(jvms_for(run_dir)) == 1
        # A brand-new broker has no group coordinator until __consumer_offsets
        # exists: the first lookup answers "not available". The suite's group
        # probe says so as a state to poll past, never as an exception (the
        # first group test on a fresh CI broker failed on it).
        fresh = load_settings().model_copy(
            update={"kafka": KafkaSettings(bootstrap_servers=f"127.0.0.1:{port}")}
        )
        state, members = asyncio.run(group_state(fresh, "a-group-nobody-joined"))
        assert (state, members) in {("CoordinatorNotAvailable", 0), ("Dead", 0)}

        again = cli(env, "kafka", "start", "--port", str(port))
        assert again.returncode == 0
        assert "already running" in again.stdout
        assert len(jvms_for(run_dir)) == 1

        status = cli(env, "kafka", "status", "--port", str(port))
        assert status.returncode == 0
        assert status.stdout.startswith("running: pid ")

        stopped = cli(env, "kafka", "stop", "--port", str(port))
        assert stopped.returncode == 0, stopped.stderr
        assert "stopped the broker" in stopped.stdout
        assert jvms_for(run_dir) == []
        assert run_dir.parent == run_root  # the test's own directory
        assert not (home / "run" / str(port)).exists()  # never the user's
        assert localkafka.probe("127.0.0.1", port) is localkafka.PortState.FREE

        status = cli(env, "kafka", "status", "--port", str(port))
        assert status.returncode == 3
        assert "not running" in status.stdout
    finally:
        for pid in jvms_for(run_dir):
            os.kill(pid, 9)
        shutil.rmtree(run_dir, ignore_errors=True)


def topics_on(port: int, create: str | None = None) -> set[str]:
    """The broker's topics (after creating ``create``, when given)."""

    async def go() -> set[str]:
        admin = AIOKafkaAdminClient(bootstrap_servers=f"127.0.0.1:{port}")
        await admin.start()
        try:
            if create is not None:
                await admin.create_topics([NewTopic(create, 1, 1)])
            return set(await admin.list_topics())
        finally:
            await admin.close()

    return asyncio.run(go())


def test_stop_wipe_deletes_the_data_directory_and_says_so(
    local_env: dict[str, str], home: Path, run_root: Path
) -> None:
    port = free_port()
    env = {**local_env, "SWITCHBOARD_LOCAL_KAFKA__CONTROLLER_PORT": str(free_port())}
    cfg = LocalKafkaSettings(home=home, run_root=run_root, port=port)
    data = localkafka.data_dir(cfg)
    try:
        assert cli(env, "kafka", "start", "--port", str(port)).returncode == 0
        assert "kept-until-wiped" in topics_on(port, create="kept-until-wiped")
        stopped = cli(env, "kafka", "stop", "--port", str(port), "--wipe")
        assert stopped.returncode == 0, stopped.stderr
        lines = stopped.stdout.splitlines()
        assert lines[0].startswith(f"stopped the broker on port {port}")
        assert lines[1].startswith(f"deleted {data} (")
        assert lines[1].endswith(" MiB)")
        assert not data.exists()
        assert jvms_for(localkafka.run_dir(cfg)) == []

        again = cli(env, "kafka", "stop", "--port", str(port), "--wipe")
        assert again.returncode == 0
        assert again.stdout.splitlines()[1] == f"no data to delete ({data} does not exist)"

        assert cli(env, "kafka", "start", "--port", str(port)).returncode == 0
        assert "kept-until-wiped" not in topics_on(port)  # a fresh cluster
    finally:
        for pid in jvms_for(localkafka.run_dir(cfg)):
            os.kill(pid, 9)
        shutil.rmtree(localkafka.run_dir(cfg), ignore_errors=True)


@pytest.fixture
def http_server() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_port_taken_by_something_else_is_a_clear_error_and_no_jvm(
    local_env: dict[str, str], home: Path, run_root: Path, http_server: int
) -> None:
    result = cli(local_env, "kafka", "start", "--port", str(http_server))
    assert result.returncode == 1
    assert f"port {http_server} is in use by something that is not Kafka" in result.stderr
    assert "Traceback" not in result.stderr
    assert (
        jvms_for(
            localkafka.run_dir(LocalKafkaSettings(home=home, run_root=run_root, port=http_server))
        )
        == []
    )
    status = cli(local_env, "kafka", "status", "--port", str(http_server))
    assert status.returncode == 3
    assert "held by something that is not Kafka" in status.stdout


def test_controller_port_taken_is_a_clear_error(
    local_env: dict[str, str], home: Path, run_root: Path, http_server: int
) -> None:
    port = free_port()
    env = {**local_env, "SWITCHBOARD_LOCAL_KAFKA__CONTROLLER_PORT": str(http_server)}
    result = cli(env, "kafka", "start", "--port", str(port))
    assert result.returncode == 1
    assert f"controller port {http_server} is in use" in result.stderr
    assert (
        jvms_for(localkafka.run_dir(LocalKafkaSettings(home=home, run_root=run_root, port=port)))
        == []
    )


def test_missing_java_is_one_line_saying_what_to_install(tmp_path: Path) -> None:
    env = {
        "PATH": str(Path(sys.executable).parent),  # python and switchboard, no java, no mvn
        "HOME": str(tmp_path),
        "SWITCHBOARD_LOCAL_KAFKA__HOME": str(tmp_path / "cache"),
    }
    result = cli(env, "kafka", "start", "--port", str(free_port()))
    assert result.returncode == 1
    lines = [
        line for line in result.stderr.strip().splitlines() if not line.startswith("resolving")
    ]
    assert lines == [
        "error: java was not found on PATH: install Java 17 "
        "(Debian/Ubuntu: apt-get install openjdk-17-jre-headless)"
    ]


def test_missing_maven_on_a_cold_cache_is_one_line(tmp_path: Path) -> None:
    java = shutil.which("java")
    assert java is not None
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "java").symlink_to(os.path.realpath(java))
    env = {
        "PATH": f"{bin_dir}:{Path(sys.executable).parent}",
        "HOME": str(tmp_path),
        "SWITCHBOARD_LOCAL_KAFKA__HOME": str(tmp_path / "cache"),
    }
    result = cli(env, "kafka", "start", "--port", str(free_port()))
    assert result.returncode == 1
    assert "error: mvn (Apache Maven) was not found on PATH" in result.stderr
    assert "apt-get install maven" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_reachable_configured_broker_means_nothing_is_started(
    local_env: dict[str, str], kafka_bootstrap: str
) -> None:
    env = {**local_env, "SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS": kafka_bootstrap}
    result = cli(env, "kafka", "start")
    assert result.returncode == 0
    assert f"using the configured broker at {kafka_bootstrap}; nothing started" in result.stdout


def test_an_unreachable_remote_broker_is_not_replaced_by_a_local_one(
    local_env: dict[str, str],
) -> None:
    # 0.0.0.0 is not a loopback name, yet traffic to it stays on this machine.
    remote = f"0.0.0.0:{free_port()}"
    env = {**local_env, "SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS": remote}
    result = cli(env, "kafka", "start")
    assert result.returncode == 1
    assert f"{remote} is not reachable" in result.stderr


def test_status_and_stop_follow_the_bootstrap_port_that_start_uses(
    local_env: dict[str, str], kafka_bootstrap: str
) -> None:
    """`kafka start` with SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS=127.0.0.1:<port>
    runs the broker on <port>; `status` and `stop` must look at that port, not
    at 9092 (where they stopped the default broker instead)."""
    port = free_port()
    env = {**local_env, "SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{port}"}
    status = cli(env, "kafka", "status")
    assert status.returncode == 3, status.stdout + status.stderr
    assert f"{port}" in status.stdout
    stopped = cli(env, "kafka", "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert f"no local broker was running on port {port}" in stopped.stdout
    default = kafka_bootstrap.rsplit(":", 1)[1]
    assert cli({**local_env}, "kafka", "status", "--port", default).returncode == 0
