"""Start, inspect and stop the local Kafka: one KRaft node, or a cluster of
``brokers`` nodes on consecutive loopback ports (each node a broker and a
controller, :mod:`._node`).

Layout under ``run_root`` (default ``<home>/run``; the test suite points it
at a directory of its own so it never touches a user's broker data): a
single node lives in ``<run_root>/<port>/``; a cluster in
``<run_root>/cluster-<port>/`` with ``cluster.id`` and one ``node-<i>/`` per
node.

Contracts:
- :func:`start` returns only once a client has created a topic with a
  replica on every node (so every node has registered); on any failure it
  leaves no JVM it started behind and raises :class:`LocalKafkaError` with
  the failing node's last log lines.
- :func:`start` of a cluster with nodes down starts only those nodes: a
  node killed a moment ago rejoins with its data.
- :func:`start` never touches a port held by something else: a Kafka (or a
  whole cluster) there is reused (``started=False``), anything else is an
  error.
- :func:`stop` only stops nodes whose pid file it wrote, after checking each
  pid still belongs to that node.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..kafka.probe import PortState, probe
from ..settings import LocalKafkaSettings
from . import _node, _runtime
from ._errors import LocalKafkaError
from ._node import HOST, Node, NodeStatus

__all__ = ["BrokerStatus", "StartResult", "data_dir", "nodes", "run_dir", "start", "status"]


@dataclass(frozen=True)
class BrokerStatus:
    """The local Kafka: one node, or every node of the cluster."""

    nodes: tuple[NodeStatus, ...]
    run_dir: Path

    @property
    def port(self) -> int:
        return self.nodes[0].port

    @property
    def pid(self) -> int | None:
        return self.nodes[0].pid

    @property
    def pids(self) -> list[int]:
        return [n.pid for n in self.nodes if n.pid is not None]

    @property
    def state(self) -> str:
        """A node's state; for a cluster "running" only when every node runs,
        "degraded" when some of ours run or start and others do not."""
        states = {n.state for n in self.nodes}
        if len(states) == 1:
            return states.pop()
        if states & {"blocked", "foreign"}:
            return "blocked"
        return "degraded"

    @property
    def bootstrap(self) -> str:
        return ",".join(n.node.bootstrap for n in self.nodes)

    def describe(self) -> str:
        if len(self.nodes) == 1:
            return self.nodes[0].describe()
        lines = [f"cluster of {len(self.nodes)} brokers: {self.state} ({self.bootstrap})"]
        lines += [f"  node {n.node.node_id}: {n.describe()}" for n in self.nodes]
        return "\n".join(lines)


@dataclass(frozen=True)
class StartResult:
    status: BrokerStatus
    started: bool
    seconds: float


def run_dir(cfg: LocalKafkaSettings) -> Path:
    root = cfg.run_root or cfg.home / "run"
    return root / (str(cfg.port) if cfg.brokers == 1 else f"cluster-{cfg.port}")


def data_dir(cfg: LocalKafkaSettings) -> Path:
    """The broker's Kafka log directory (topics, offsets, cluster metadata);
    for a cluster, the directory holding every node's."""
    return run_dir(cfg) / "data" if cfg.brokers == 1 else run_dir(cfg)


def nodes(cfg: LocalKafkaSettings) -> list[Node]:
    directory = run_dir(cfg)
    return [
        Node(i, port, controller, directory if cfg.brokers == 1 else directory / f"node-{i}")
        for i, (port, controller) in enumerate(zip(cfg.ports, cfg.controller_ports, strict=True), 1)
    ]


@contextlib.contextmanager
def _lock(cfg: LocalKafkaSettings) -> Iterator[None]:
    """Serialise start/stop of one broker or cluster across processes (demo + tests at once)."""
    directory = run_dir(cfg)
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def status(cfg: LocalKafkaSettings) -> BrokerStatus:
    return BrokerStatus(tuple(_node.status(node) for node in nodes(cfg)), run_dir(cfg))


def _cluster_id(cfg: LocalKafkaSettings) -> str:
    """The id every node's storage is formatted with: kept in the cluster's
    directory so a node started again later joins the same cluster."""
    path = run_dir(cfg) / "cluster.id"
    with contextlib.suppress(OSError):
        if known := path.read_text().strip():
            return known
    new = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
    path.write_text(new + "\n")
    return new


async def _create_probe_topic(bootstrap: str, replicas: int, timeout: float) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    await asyncio.wait_for(admin.start(), timeout)
    try:
        name = f"__switchboard_ready_{uuid.uuid4().hex[:8]}"
        response = await asyncio.wait_for(
            admin.create_topics([NewTopic(name, 1, replicas)], timeout_ms=5000), timeout
        )
        for _topic, code, *_ in getattr(response, "topic_errors", []):
            if code:
                raise RuntimeError(f"create_topics error code {code}")
        await asyncio.wait_for(admin.delete_topics([name], timeout_ms=5000), timeout)
    finally:
        await admin.close()


def _client_can_create_topic(bootstrap: str, replicas: int) -> bool:
    try:
        asyncio.run(_create_probe_topic(bootstrap, replicas, 10.0))
    except Exception:
        return False
    return True


def _refuse_taken_ports(current: BrokerStatus, to_start: list[NodeStatus]) -> None:
    for node in current.nodes:
        if node.state in {"blocked", "foreign"}:
            what = "something that is not Kafka" if node.state == "blocked" else "another Kafka"
            raise LocalKafkaError(
                f"port {node.port} is in use by {what}; free it or pick another port "
                "(switchboard kafka start --port N, or SWITCHBOARD_LOCAL_KAFKA__PORT)"
            )
    for node in to_start:
        controller = node.node.controller_port
        if node.state == "stopped" and probe(HOST, controller, timeout=1.0) is not PortState.FREE:
            raise LocalKafkaError(
                f"controller port {controller} is in use; pick another with "
                "SWITCHBOARD_LOCAL_KAFKA__CONTROLLER_PORT"
            )


def start(cfg: LocalKafkaSettings) -> StartResult:
    began = time.monotonic()
    with _lock(cfg):
        current = status(cfg)
        if current.state in {"running", "foreign"}:
            return StartResult(current, started=False, seconds=time.monotonic() - began)
        to_start = [n for n in current.nodes if n.state in {"stopped", "starting"}]
        _refuse_taken_ports(current, to_start)
        for node in to_start:
            if node.state == "starting" and node.pid is not None:
                _node.kill(node.pid, timeout=10)  # a JVM that never became ready
        java = _runtime.require_java()
        libs = _runtime.resolve(cfg.home, cfg.version)
        cluster_id = _cluster_id(cfg)
        voters = ",".join(f"{n.node_id}@{HOST}:{n.controller_port}" for n in nodes(cfg))
        replicas = min(3, cfg.brokers)
        ready = []
        for node in to_start:
            props = _node.write_config(node.node, voters, replicas)
            _node.format_storage(java, libs, node.node, props, cluster_id)
            ready.append((node.node, props))
        procs: list[tuple[Node, subprocess.Popen[bytes]]] = []
        try:
            for node_, props in ready:
                procs.append((node_, _node.spawn(java, libs, node_, props, cfg.heap)))
            _wait_ready(cfg, procs, began)
        except BaseException:
            for node_, proc in procs:
                _node.kill(proc.pid, timeout=5)
                (node_.directory / "kafka.pid").unlink(missing_ok=True)
            raise
        return StartResult(status(cfg), started=True, seconds=time.monotonic() - began)


def _wait_ready(
    cfg: LocalKafkaSettings, procs: list[tuple[Node, subprocess.Popen[bytes]]], began: float
) -> None:
    deadline = began + cfg.start_timeout_s
    every = nodes(cfg)
    bootstrap = ",".join(n.bootstrap for n in every)
    while True:
        for node, proc in procs:
            if proc.poll() is not None:
                raise LocalKafkaError(
                    f"the Kafka JVM of node {node.node_id} exited with code {proc.returncode} "
                    f"while starting; last log lines ({node.directory}):\n"
                    f"{_node.log_tail(node.directory)}"
                )
        if all(
            probe(HOST, n.port, timeout=1.0) is PortState.KAFKA for n in every
        ) and _client_can_create_topic(bootstrap, cfg.brokers):
            return
        if time.monotonic() > deadline:
            tails = "\n".join(
                f"node {n.node_id} ({n.directory}):\n{_node.log_tail(n.directory)}"
                for n, _ in procs
            )
            raise LocalKafkaError(
                f"Kafka did not become ready within {cfg.start_timeout_s:.0f} s; "
                f"last log lines:\n{tails}"
            )
        time.sleep(0.2)


def wipe(cfg: LocalKafkaSettings) -> tuple[Path, int] | None:
    """Delete the data of the stopped broker (or every node of the stopped
    cluster) for ``cfg.port``: ``(path, bytes deleted)``, or None when there
    was none. Its next start formats a fresh cluster. Raises
    :class:`LocalKafkaError` while a node started for it still runs."""
    with _lock(cfg):
        for node in nodes(cfg):
            pid = _node.read_pid(node.directory)
            if pid is not None and _node.is_ours(pid, node.directory):
                raise LocalKafkaError(
                    f"the broker on port {node.port} (pid {pid}) is running: stop it first"
                )
        datas = [n.directory / "data" for n in nodes(cfg) if (n.directory / "data").is_dir()]
        if not datas:
            return None
        size = sum(f.stat().st_size for d in datas for f in d.rglob("*") if f.is_file())
        for data in datas:
            shutil.rmtree(data)
        if cfg.brokers > 1:
            (run_dir(cfg) / "cluster.id").unlink(missing_ok=True)
        return data_dir(cfg), size


def stop(cfg: LocalKafkaSettings, timeout: float = 30.0) -> BrokerStatus:
    """Stop the broker (every node of the cluster) started for ``cfg.port``;
    returns the status before. The nodes are stopped together: each node's
    controlled shutdown needs the others' quorum."""
    with _lock(cfg):
        before = status(cfg)
        ours = []
        for node in nodes(cfg):
            pid = _node.read_pid(node.directory)
            if pid is not None and _node.is_ours(pid, node.directory):
                ours.append(pid)
        _node.kill_all(ours, timeout)
        still = [pid for pid in ours if _node.alive(pid)]
        if still:
            raise LocalKafkaError(f"broker pid {still[0]} did not exit")
        for node in nodes(cfg):
            (node.directory / "kafka.pid").unlink(missing_ok=True)
        return before
