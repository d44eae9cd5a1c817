"""`switchboard worker` starting up, as a real process against the real broker:
one log format for every logger (issue #10.7), and ``/readyz`` not ready
until faust has restored the dedup tables from their changelogs."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from streams import kafka
from streams.kafka.topics import TopicSpec, ensure_topics
from streams.settings import Settings
from tests.conftest import free_port, run_async
from tests.waiting import eventually_sync

pytestmark = pytest.mark.integration

SWITCHBOARD = str(Path(sys.executable).parent / "switchboard")
# <date> <time>,<ms> <LEVEL> <logger>: <message>
LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+: \S"
)
# faust's start-up noise at INFO: a line per service and offset tables per partition.
NOISE = ("[^--AgentManager]", "OneForOneSupervisor", "Highwater", "+---", "Store: memory")


class WorkerProcess:
    """A worker subprocess whose stdout and stderr are collected line by line."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.port = free_port()
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [SWITCHBOARD, "worker", "--port", str(self.port), *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for_line(self, text: str, timeout: float = 90) -> list[str]:
        """The lines up to and including the first containing ``text``."""
        eventually_sync(
            lambda: any(text in x for x in self.lines) or self.proc.poll() is not None, timeout
        )
        eventually_sync(lambda: not self._reader.is_alive() or any(text in x for x in self.lines))
        found = [i for i, x in enumerate(self.lines) if text in x]
        assert found, "\n".join(self.lines)
        return self.lines[: found[0] + 1]

    def readyz(self) -> tuple[int, dict[str, object]]:
        try:
            url = f"http://127.0.0.1:{self.port}/readyz"
            with urllib.request.urlopen(url, timeout=5) as response:
                return int(response.status), json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")
        except OSError:
            return 0, {}

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise


# start_worker(*args): a WorkerProcess with the test's env, stopped at teardown
StartWorker = Callable[..., WorkerProcess]


@pytest.fixture
def worker_env(cli_env: dict[str, str], topic_prefix: str, tmp_path: Path) -> dict[str, str]:
    return {
        **cli_env,
        "SWITCHBOARD_KAFKA__TOPIC_PREFIX": topic_prefix,
        "SWITCHBOARD_WORKER__DATA_DIR": str(tmp_path / "data"),
    }


@pytest.fixture
def start_worker(worker_env: dict[str, str]) -> Iterator[StartWorker]:
    started: list[WorkerProcess] = []

    def start(*args: str) -> WorkerProcess:
        worker = WorkerProcess(worker_env, *args)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def assert_one_format(lines: list[str]) -> None:
    bad = [x for x in lines if not LINE.match(x)]
    assert not bad, "lines without timestamp, level and logger:\n" + "\n".join(bad)


def test_worker_logs_one_format_until_ready(start_worker: StartWorker) -> None:
    """Issue #10.7: mode's format (no logger name) next to Python's plain
    ``INFO:streams.sink:`` lines, and faust's tables at INFO. Now every line
    is ``<time> <LEVEL> <logger>: ...``, our own records among them."""
    worker = start_worker()
    lines = worker.wait_for_line("Ready")
    assert_one_format(lines)
    assert any(" INFO streams.worker: dedup processing guarantee" in x for x in lines), lines
    assert any(" INFO streams.sink: sink stripe: not started" in x for x in lines), lines
    assert any(" INFO faust.worker: [^Worker]: Ready" in x for x in lines), lines
    noisy = [x for x in lines if any(n in x for n in NOISE)]
    assert not noisy, "\n".join(noisy)


def test_worker_without_faust_logs_the_same_format(start_worker: StartWorker) -> None:
    worker = start_worker("--roles", "ingest,sink")
    lines = worker.wait_for_line("HTTP on")
    assert_one_format(lines)
    assert any(" INFO streams.sink: sink stripe: not started" in x for x in lines), lines


# Enough seen ids that reading them back from the changelog takes observable
# time (about a second here); the readyz body reports how many are left.
PREFILLED_IDS = 50_000


async def fill_changelog(settings: Settings, topic: str, count: int) -> None:
    await ensure_topics(settings, [TopicSpec(topic, settings.kafka.partitions, 1)])
    async with kafka.connect(settings, kafka.producer(settings, linger_ms=20)) as producer:
        pending = [
            await producer.send(
                # the table's changelog format: raw key, JSON string value
                topic,
                b'"1700000000.000:%d"' % (i % 3),
                key=b"evt_%d" % i,
                partition=i % 3,
            )
            for i in range(count)
        ]
        for fut in pending:
            await fut


def test_readyz_waits_for_the_dedup_tables(
    start_worker: StartWorker, prefixed_settings: Settings, topic_prefix: str
) -> None:
    """Issue #10.7: /readyz said 200 as soon as Kafka answered, seconds before
    faust had restored the dedup table from its changelog. Now it answers 503
    (``dedup: recovering tables``) while the restore reads records, then 200."""
    changelog = f"{topic_prefix}switchboard-worker-dedup-stripe-changelog"
    run_async(fill_changelog(prefixed_settings, changelog, PREFILLED_IDS))
    worker = start_worker("--roles", "ingest,dedup")
    seen: list[tuple[int, dict[str, object]]] = []

    def ready() -> bool:
        status, body = worker.readyz()
        if status:
            seen.append((status, body))
        assert worker.proc.poll() is None, "\n".join(worker.lines)
        return status == 200

    eventually_sync(ready, 120)
    recovering = [
        int(m.group(1))
        for status, body in seen
        if status == 503
        for reason in body.get("reasons", [])  # type: ignore[attr-defined]
        if (m := re.match(r"dedup: recovering tables \((\d+) changelog records", str(reason)))
    ]
    assert recovering, seen[:3] + seen[-3:]
    assert max(recovering) > 0, seen[:3] + seen[-3:]
    assert seen[-1][1] == {"ready": True, "kafka": True, "reasons": []}
