"""Poll sources end to end: `switchboard worker` processes, the real broker,
the Stripe sandbox serving ``GET /v1/events``.

- a poll worker SIGKILLed between two pages: its successor resumes at the
  last stored cursor -- no event missing from ``stripe.ingest``, at most one
  page polled twice -- and dedup leaves every event once on ``stripe.events``;
- an event delivered by webhook and by poll appears once on ``stripe.events``,
  and a missed webhook is recovered by the poll;
- ``switchboard offsets reset`` re-reads the feed from the beginning and
  ``stripe.events`` stays clean.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import connectors
from core.envelopes import Event
from streams.kafka.topics import TopicNames, connector_topics, ensure_topics, shared_topics
from streams.offsets.cursors import CursorRecord
from streams.settings import Settings, load_settings
from tests.conftest import free_port
from tests.kafkatools import committed_offsets, read_topic
from tests.waiting import eventually_sync

pytestmark = pytest.mark.integration

SWITCHBOARD = str(Path(sys.executable).parent / "switchboard")
SECRET = "whsec_polltest"
PAGE = 100


class Rig:
    def __init__(self, env: dict[str, str], logs: Path, settings: Settings, sandbox: Any) -> None:
        self.env = env
        self.logs = logs
        self.settings = settings
        self.sandbox = sandbox
        self.names = TopicNames.from_settings(settings)
        self.procs: list[tuple[subprocess.Popen[bytes], int]] = []

    def start(self, roles: str) -> tuple[subprocess.Popen[bytes], int]:
        port = free_port()
        n = len(self.procs)
        proc = subprocess.Popen(
            [SWITCHBOARD, "worker", "--roles", roles, "--port", str(port)],
            env={**self.env, "SWITCHBOARD_WORKER__DATA_DIR": str(self.logs / f"w{n}")},
            stdout=open(self.logs / f"worker{n}.log", "wb"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        )
        self.procs.append((proc, port))
        eventually_sync(lambda: _healthz(port) is not None or proc.poll() is not None, 90)
        assert proc.poll() is None, self.log(n)
        return proc, port

    def log(self, n: int) -> str:
        return (self.logs / f"worker{n}.log").read_text(errors="replace")[-3000:]

    def stop_all(self) -> None:
        for proc, _ in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc, _ in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def cursor(self) -> CursorRecord | None:
        records = asyncio.run(read_topic(self.settings, self.names.cursors))
        mine = [r for r in records if r.key == b"stripe.events" and r.value is not None]
        return CursorRecord.from_json(mine[-1].value) if mine else None

    def ingest_ids(self) -> list[str]:
        records = asyncio.run(read_topic(self.settings, self.names.ingest("stripe")))
        return [r.key.decode() for r in records]

    def dedup_caught_up(self) -> bool:
        """The dedup group has committed everything on ``stripe.ingest`` (so
        whatever it forwards is on ``stripe.events`` already)."""
        group = f"{self.names.prefix}switchboard-worker"
        committed, end = asyncio.run(
            committed_offsets(self.settings, self.names.ingest("stripe"), group)
        )
        return committed == end

    def events(self, expect: int | None = None) -> list[Event]:
        records = asyncio.run(
            read_topic(self.settings, self.names.events("stripe"), expect=expect, timeout=60)
        )
        return [Event.from_json(r.value) for r in records]


def _healthz(port: int) -> int | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


@pytest.fixture
def rig(cli_env: dict[str, str], topic_prefix: str, tmp_path: Path) -> Iterator[Rig]:
    sandbox = connectors.get("stripe").new_sandbox()
    with sandbox.in_thread():
        env = {
            **cli_env,
            "SWITCHBOARD_KAFKA__TOPIC_PREFIX": topic_prefix,
            "SWITCHBOARD_WORKER__SESSION_TIMEOUT_S": "6",
            "SWITCHBOARD_LOG_LEVEL": "INFO",
            "SWITCHBOARD_STRIPE__BASE_URL": sandbox.url,
            "SWITCHBOARD_STRIPE__API_KEY": "sk_test_sandbox",
            "SWITCHBOARD_STRIPE__RATE": "10000",
            "SWITCHBOARD_STRIPE__WEBHOOK_SECRETS": f'["{SECRET}"]',
            "SWITCHBOARD_POLL__CONNECTORS": '["stripe"]',
            "SWITCHBOARD_POLL__JITTER": "0",
            "SWITCHBOARD_POLL__INTERVAL_S": "1",
        }
        settings = load_settings(
            sections=connectors.settings_sections(),
            kafka={
                "bootstrap_servers": cli_env["SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS"],
                "topic_prefix": topic_prefix,
            },
        )
        asyncio.run(
            ensure_topics(settings, shared_topics(settings) + connector_topics(settings, "stripe"))
        )
        rig = Rig(env, tmp_path, settings, sandbox)
        try:
            yield rig
        finally:
            rig.stop_all()


def test_a_poll_worker_killed_between_pages_leaves_no_gap(rig: Rig) -> None:
    total = 30 * PAGE
    rig.sandbox.add_events(total)
    rig.sandbox.set_latency(0.05)  # a run of 30 pages takes a few seconds
    rig.start("dedup")
    victim, _ = rig.start("poll")
    # Kill it once it has stored a few pages of its run (and is fetching more).
    eventually_sync(
        lambda: (c := rig.cursor()) is not None and c.cursor.in_run and c.pages >= 5, 60
    )
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    stored = rig.cursor()
    assert stored is not None
    assert stored.cursor.in_run
    rig.sandbox.set_latency(0)
    rig.start("poll")  # the successor owns the stream once the group notices

    def finished() -> bool:
        c = rig.cursor()
        return c is not None and not c.cursor.in_run and c.cursor.mark is not None

    eventually_sync(finished, 90)
    ids = rig.ingest_ids()
    expected = {e["id"] for e in rig.sandbox.events()}
    assert set(ids) == expected, "a polled event is missing: a page was skipped"
    repeated = sum(n - 1 for n in Counter(ids).values())
    assert repeated <= PAGE, f"{repeated} events polled twice: more than one page"
    eventually_sync(rig.dedup_caught_up, 60)
    events = rig.events()
    assert Counter(e.id for e in events) == Counter(expected), "dedup let a duplicate through"


def test_webhook_and_poll_give_one_event_and_reset_rereads_cleanly(rig: Rig) -> None:
    sent = [
        rig.sandbox.add_event("invoice.paid", {"id": f"in_{i}", "object": "invoice"})
        for i in range(6)
    ]
    _, port = rig.start("ingest,dedup,poll")
    missed = sent[2]["id"]
    for event in sent:
        if event["id"] == missed:
            continue  # the endpoint was "down" for this one
        body, headers = rig.sandbox.event_webhook(event, SECRET)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/webhooks/stripe", data=body, headers=headers, method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
    ids = {e["id"] for e in sent}

    def settled() -> list[Event] | None:
        events = [e for e in rig.events() if e.id in ids]
        return events if {e.id for e in events} == ids else None

    events = eventually_sync(settled, 60)
    by_id = {e.id: e for e in events}
    assert by_id[missed].delivery == "poll"  # recovered by the poll
    # Every id was both delivered and polled (the poll reads the whole feed).
    eventually_sync(lambda: Counter(rig.ingest_ids()).get(sent[0]["id"], 0) >= 2, 30)
    eventually_sync(rig.dedup_caught_up, 60)
    assert Counter(e.id for e in rig.events()) == Counter(ids)

    before = len(rig.ingest_ids())
    result = subprocess.run(
        [SWITCHBOARD, "offsets", "reset", "stripe.events", "--beginning", "--yes"],
        env=rig.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "applied by" in result.stdout + result.stderr
    eventually_sync(lambda: len(rig.ingest_ids()) >= before + len(sent), 60)  # read again
    eventually_sync(rig.dedup_caught_up, 60)
    assert Counter(e.id for e in rig.events()) == Counter(ids), "the re-read leaked duplicates"
