"""One KRaft node (broker and controller in one JVM) of the local Kafka.

Everything of one node lives in its own directory: ``server.properties``,
``data/`` (kept across restarts), ``logs/``, ``kafka.out`` and
``kafka.pid``. The JVM runs in its own session so it outlives the command
that started it; :func:`kill` ends its whole process group, and only after
:func:`is_ours` confirmed the pid still belongs to that directory's JVM.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from ..kafka.probe import PortState, probe
from ._errors import LocalKafkaError

HOST = "127.0.0.1"

_PROPERTIES = """\
# Written by `switchboard kafka start`; edits are overwritten on the next start.
process.roles=broker,controller
node.id={node_id}
controller.quorum.voters={voters}
listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}
advertised.listeners=PLAINTEXT://{host}:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs={data}
num.partitions=3
auto.create.topics.enable=false
default.replication.factor={replicas}
offsets.topic.replication.factor={replicas}
offsets.topic.num.partitions=10
transaction.state.log.replication.factor={replicas}
transaction.state.log.min.isr={min_isr}
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
class Node:
    """Where one node listens and keeps its files."""

    node_id: int
    port: int
    controller_port: int
    directory: Path

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.port}"


@dataclass(frozen=True)
class NodeStatus:
    node: Node
    # "running" | "starting" | "stopped" | "foreign" (a Kafka we did not start) | "blocked"
    state: str
    pid: int | None

    @property
    def port(self) -> int:
        return self.node.port

    def describe(self) -> str:
        where = self.node.bootstrap
        if self.state == "running":
            return f"running: pid {self.pid}, {where}, data in {self.node.directory / 'data'}"
        if self.state == "starting":
            return f"starting: pid {self.pid}, {where} (not answering yet)"
        if self.state == "foreign":
            return f"a Kafka broker not started by switchboard answers on {where}"
        if self.state == "blocked":
            return f"port {self.port} is held by something that is not Kafka"
        return f"not running (port {self.port})"


def read_pid(directory: Path) -> int | None:
    try:
        return int((directory / "kafka.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def is_ours(pid: int, directory: Path) -> bool:
    """True if ``pid`` is alive and is the JVM started for ``directory``."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"kafka.Kafka" in cmdline and str(directory / "server.properties").encode() in cmdline


def status(node: Node) -> NodeStatus:
    pid = read_pid(node.directory)
    ours = pid is not None and is_ours(pid, node.directory)
    port_state = probe(HOST, node.port, timeout=1.0)
    if ours and port_state is PortState.KAFKA:
        return NodeStatus(node, "running", pid)
    if ours:
        return NodeStatus(node, "starting", pid)
    if port_state is PortState.KAFKA:
        return NodeStatus(node, "foreign", None)
    if port_state is PortState.OTHER:
        return NodeStatus(node, "blocked", None)
    return NodeStatus(node, "stopped", None)


def write_config(node: Node, voters: str, replicas: int) -> Path:
    data = node.directory / "data"
    logs = node.directory / "logs"
    data.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    props = node.directory / "server.properties"
    props.write_text(
        _PROPERTIES.format(
            node_id=node.node_id,
            voters=voters,
            host=HOST,
            port=node.port,
            controller_port=node.controller_port,
            data=data,
            replicas=replicas,
            min_isr=min(2, replicas),
        )
    )
    (node.directory / "log4j.properties").write_text(_LOG4J.format(logs=logs))
    return props


def java_cmd(java: str, libs: Path, directory: Path, heap: str, main: list[str]) -> list[str]:
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


def format_storage(java: str, libs: Path, node: Node, props: Path, cluster_id: str) -> None:
    """Format the node's log directory for ``cluster_id``, once."""
    if (node.directory / "data" / "meta.properties").is_file():
        return
    cmd = java_cmd(
        java,
        libs,
        node.directory,
        "256m",
        ["kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props), "-g"],
    )
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0:
        raise LocalKafkaError(
            f"formatting node {node.node_id}'s storage failed:\n"
            + (proc.stdout + proc.stderr)[-2000:]
        )


def spawn(java: str, libs: Path, node: Node, props: Path, heap: str) -> subprocess.Popen[bytes]:
    """Start the node's JVM in a session of its own and write its pid file."""
    cmd = java_cmd(java, libs, node.directory, heap, ["kafka.Kafka", str(props)])
    with open(node.directory / "kafka.out", "wb") as out:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=node.directory,
        )
    (node.directory / "kafka.pid").write_text(f"{proc.pid}\n")
    return proc


def log_tail(directory: Path, lines: int = 15) -> str:
    chunks = []
    for name in ("kafka.out", "logs/server.log"):
        path = directory / name
        if path.is_file():
            text = path.read_text(errors="replace").strip().splitlines()
            errors = [line for line in text if " ERROR " in line or "Exception" in line]
            chunks.extend((errors or text)[-lines:])
    return "\n".join(chunks[-lines:])


def kill(pid: int, timeout: float) -> None:
    """SIGTERM the node's process group, then SIGKILL after ``timeout``."""
    kill_all([pid], timeout)


def kill_all(pids: list[int], timeout: float) -> None:
    """SIGTERM the nodes' process groups together, then SIGKILL whichever
    still runs after ``timeout``."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(alive(pid) for pid in pids):
            return
        time.sleep(0.1)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)


def alive(pid: int) -> bool:
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
