"""Start, inspect and stop a single-node KRaft broker (broker + controller).

Everything of one broker lives in ``<run_root>/<port>/`` (``run_root``
defaults to ``<home>/run``; the test suite points it at a directory of its
own so it never touches a user's broker data): its
``server.properties``, ``data/`` (kept across restarts), ``logs/``,
``kafka.out`` and ``kafka.pid``. The JVM runs in its own session so it
outlives the command that started it; ``stop`` ends the whole process group.

Contracts:
- :func:`start` returns only once a client has created a topic on the
  broker; on any failure it leaves no JVM behind and raises
  :class:`LocalKafkaError` with the broker's last log lines.
- :func:`start` never touches a port held by something else: a Kafka there
  is reused (``started=False``), anything else is an error.
- :func:`stop` only stops a broker whose pid file it wrote, after checking
  the pid still belongs to that broker.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..kafka.probe import PortState, probe
from ..settings import LocalKafkaSettings
from . import _runtime
from ._errors import LocalKafkaError

HOST = "127.0.0.1"

_PROPERTIES = """\
# Written by `switchboard kafka start`; edits are overwritten on the next start.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@{host}:{controller_port}
listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}
advertised.listeners=PLAINTEXT://{host}:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs={data}
num.partitions=3
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
min.insync.replicas=1
group.initial.rebalance.delay.ms=0
log.retention.hours=168
log.segment.bytes=104857600
"""

_LOG4J = """\
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.RollingFileAppender
log4j.appender.file.File={logs}/server.log
log4j.appender.file.MaxFileSize=20MB
log4j.appender.file.MaxBackupIndex=3
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.controller=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.org.apache.kafka.controller=WARN
log4j.logger.kafka.log.LogCleaner=WARN
"""


@dataclass(frozen=True)
class BrokerStatus:
    port: int
    state: str  # "running" | "stopped" | "foreign" (a Kafka we did not start) | "blocked"
    pid: int | None
    run_dir: Path

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.port}"

    def describe(self) -> str:
        if self.state == "running":
            return f"running: pid {self.pid}, {self.bootstrap}, data in {self.run_dir / 'data'}"
        if self.state == "foreign":
            return f"a Kafka broker not started by switchboard answers on {self.bootstrap}"
        if self.state == "blocked":
            return f"port {self.port} is held by something that is not Kafka"
        return f"not running (port {self.port})"


@dataclass(frozen=True)
class StartResult:
    status: BrokerStatus
    started: bool
    seconds: float


def run_dir(cfg: LocalKafkaSettings) -> Path:
    return (cfg.run_root or cfg.home / "run") / str(cfg.port)


def data_dir(cfg: LocalKafkaSettings) -> Path:
    """The broker's Kafka log directory (topics, offsets, cluster metadata)."""
    return run_dir(cfg) / "data"


def _controller_port(cfg: LocalKafkaSettings) -> int:
    return cfg.controller_port or cfg.port + 1


@contextlib.contextmanager
def _lock(cfg: LocalKafkaSettings) -> Iterator[None]:
    """Serialise start/stop of one port across processes (demo + tests at once)."""
    directory = run_dir(cfg)
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read_pid(directory: Path) -> int | None:
    try:
        return int((directory / "kafka.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def _is_our_broker(pid: int, directory: Path) -> bool:
    """True if ``pid`` is alive and is the JVM started for ``directory``."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"kafka.Kafka" in cmdline and str(directory / "server.properties").encode() in cmdline


def status(cfg: LocalKafkaSettings) -> BrokerStatus:
    directory = run_dir(cfg)
    pid = _read_pid(directory)
    ours = pid is not None and _is_our_broker(pid, directory)
    port_state = probe(HOST, cfg.port, timeout=1.0)
    if ours and port_state is PortState.KAFKA:
        return BrokerStatus(cfg.port, "running", pid, directory)
    if ours:
        return BrokerStatus(cfg.port, "starting", pid, directory)
    if port_state is PortState.KAFKA:
        return BrokerStatus(cfg.port, "foreign", None, directory)
    if port_state is PortState.OTHER:
        return BrokerStatus(cfg.port, "blocked", None, directory)
    return BrokerStatus(cfg.port, "stopped", None, directory)


def _cluster_id() -> str:
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()


def _write_config(cfg: LocalKafkaSettings, directory: Path) -> Path:
    data = directory / "data"
    logs = directory / "logs"
    data.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    props = directory / "server.properties"
    props.write_text(
        _PROPERTIES.format(
            host=HOST, port=cfg.port, controller_port=_controller_port(cfg), data=data
        )
    )
    (directory / "log4j.properties").write_text(_LOG4J.format(logs=logs))
    return props


def _java_cmd(java: str, libs: Path, directory: Path, heap: str, main: list[str]) -> list[str]:
    return [
        java,
        f"-Xms{min(256, _mb(heap))}m",
        f"-Xmx{heap}",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-Djava.awt.headless=true",
        f"-Dlog4j.configuration=file:{directory / 'log4j.properties'}",
        f"-Dkafka.logs.dir={directory / 'logs'}",
        "-cp",
        f"{libs}/*",
        *main,
    ]


def _mb(heap: str) -> int:
    return int(heap[:-1]) * (1024 if heap.endswith("g") else 1)


def _format_storage(java: str, libs: Path, directory: Path, props: Path, heap: str) -> None:
    if (directory / "data" / "meta.properties").is_file():
        return
    cmd = _java_cmd(
        java,
        libs,
        directory,
        "256m",
        ["kafka.tools.StorageTool", "format", "-t", _cluster_id(), "-c", str(props), "-g"],
    )
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0:
        raise LocalKafkaError(
            "formatting the broker's storage failed:\n" + (proc.stdout + proc.stderr)[-2000:]
        )


def _log_tail(directory: Path, lines: int = 15) -> str:
    chunks = []
    for name in ("kafka.out", "logs/server.log"):
        path = directory / name
        if path.is_file():
            text = path.read_text(errors="replace").strip().splitlines()
            errors = [line for line in text if " ERROR " in line or "Exception" in line]
            chunks.extend((errors or text)[-lines:])
    return "\n".join(chunks[-lines:])


def _kill_group(pid: int, timeout: float) -> None:
    """SIGTERM the broker's process group, then SIGKILL after ``timeout``."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        # Reap our own child if it has exited (no zombie counts as alive).
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(OSError):
        if stat.read_text().split(") ", 1)[1].startswith("Z"):
            return False
    return True


async def _create_probe_topic(bootstrap: str, timeout: float) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    await asyncio.wait_for(admin.start(), timeout)
    try:
        name = f"__switchboard_ready_{uuid.uuid4().hex[:8]}"
        response = await asyncio.wait_for(
            admin.create_topics([NewTopic(name, 1, 1)], timeout_ms=5000), timeout
        )
        for _topic, code, *_ in getattr(response, "topic_errors", []):
            if code:
                raise RuntimeError(f"create_topics error code {code}")
        await asyncio.wait_for(admin.delete_topics([name], timeout_ms=5000), timeout)
    finally:
        await admin.close()


def _client_can_create_topic(bootstrap: str) -> bool:
    try:
        asyncio.run(_create_probe_topic(bootstrap, 10.0))
    except Exception:
        return False
    return True


def start(cfg: LocalKafkaSettings) -> StartResult:
    began = time.monotonic()
    with _lock(cfg):
        current = status(cfg)
        if current.state in {"running", "foreign"}:
            return StartResult(current, started=False, seconds=time.monotonic() - began)
        if current.state == "blocked":
            raise LocalKafkaError(
                f"port {cfg.port} is in use by something that is not Kafka; free it or pick "
                "another port (switchboard kafka start --port N, or "
                "SWITCHBOARD_LOCAL_KAFKA__PORT)"
            )
        directory = run_dir(cfg)
        if current.state == "starting" and current.pid is not None:
            _kill_group(current.pid, timeout=10)  # a JVM that never became ready
        controller = _controller_port(cfg)
        if probe(HOST, controller, timeout=1.0) is not PortState.FREE:
            raise LocalKafkaError(
                f"controller port {controller} is in use; pick another with "
                "SWITCHBOARD_LOCAL_KAFKA__CONTROLLER_PORT"
            )
        java = _runtime.require_java()
        libs = _runtime.resolve(cfg.home, cfg.version)
        props = _write_config(cfg, directory)
        _format_storage(java, libs, directory, props, cfg.heap)
        cmd = _java_cmd(java, libs, directory, cfg.heap, ["kafka.Kafka", str(props)])
        with open(directory / "kafka.out", "wb") as out:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=directory,
            )
        (directory / "kafka.pid").write_text(f"{proc.pid}\n")
        try:
            _wait_ready(cfg, proc, directory, began)
        except BaseException:
            _kill_group(proc.pid, timeout=5)
            (directory / "kafka.pid").unlink(missing_ok=True)
            raise
        return StartResult(status(cfg), started=True, seconds=time.monotonic() - began)


def _wait_ready(
    cfg: LocalKafkaSettings, proc: subprocess.Popen[bytes], directory: Path, began: float
) -> None:
    deadline = began + cfg.start_timeout_s
    bootstrap = f"{HOST}:{cfg.port}"
    while True:
        if proc.poll() is not None:
            raise LocalKafkaError(
                f"the Kafka JVM exited with code {proc.returncode} while starting; "
                f"last log lines ({directory}):\n{_log_tail(directory)}"
            )
        if probe(HOST, cfg.port, timeout=1.0) is PortState.KAFKA and _client_can_create_topic(
            bootstrap
        ):
            return
        if time.monotonic() > deadline:
            raise LocalKafkaError(
                f"Kafka did not become ready within {cfg.start_timeout_s:.0f} s; "
                f"last log lines ({directory}):\n{_log_tail(directory)}"
            )
        time.sleep(0.2)


def wipe(cfg: LocalKafkaSettings) -> tuple[Path, int] | None:
    """Delete the data directory of the stopped broker for ``cfg.port``:
    ``(path, bytes deleted)``, or None when there was none. Its next start
    formats a fresh cluster. Raises :class:`LocalKafkaError` while a broker
    started for that directory still runs."""
    with _lock(cfg):
        directory = run_dir(cfg)
        pid = _read_pid(directory)
        if pid is not None and _is_our_broker(pid, directory):
            raise LocalKafkaError(
                f"the broker on port {cfg.port} (pid {pid}) is running: stop it first"
            )
        data = data_dir(cfg)
        if not data.is_dir():
            return None
        size = sum(f.stat().st_size for f in data.rglob("*") if f.is_file())
        shutil.rmtree(data)
        return data, size


def stop(cfg: LocalKafkaSettings, timeout: float = 30.0) -> BrokerStatus:
    """Stop the broker started for ``cfg.port``; returns the status before."""
    with _lock(cfg):
        before = status(cfg)
        directory = run_dir(cfg)
        pid = _read_pid(directory)
        if pid is not None and _is_our_broker(pid, directory):
            _kill_group(pid, timeout)
            if _alive(pid):
                raise LocalKafkaError(f"broker pid {pid} did not exit")
        (directory / "kafka.pid").unlink(missing_ok=True)
        return before
