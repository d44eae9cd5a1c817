"""`switchboard offsets list|set|reset` against the real broker.

Each test has its own topic prefix, so its own cursors topic and poll
group. Stored state is seeded with a plain producer writing
``CursorRecord`` s the way a poller does; the echo of a change comes from a
real :class:`streams.poll.Poller` running in the test's event loop over a
poll stream of the demo sandbox (the CLI then runs in a thread, since it
runs its own event loop).
"""

from __future__ import annotations

import asyncio
import os
import pty
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

import connectors
from core.apicall import ClientSetup
from core.client import ClientPolicy
from core.envelopes import Event
from core.pagination import CursorPaginator
from core.poll import Cursor, PollStream, max_mark
from core.testing import DemoSandbox
from streams import kafka
from streams.kafka.topics import TopicNames, TopicSpec, ensure_topics, shared_topics
from streams.offsets import change_record, cursors_topic, read_states, wait_for_echo, write_change
from streams.offsets.cursors import CursorRecord, partition_for
from streams.poll import Poller, PollTarget
from streams.settings import Settings, load_settings
from tests.dlqtools import SWITCHBOARD, sb
from tests.kafkatools import end_offsets, read_topic
from tests.waiting import eventually

pytestmark = pytest.mark.integration

POLLED_AT = "2026-03-04T05:06:07+00:00"


@pytest.fixture
def env(cli_env: dict[str, str], topic_prefix: str) -> dict[str, str]:
    return {**cli_env, "SWITCHBOARD_KAFKA__TOPIC_PREFIX": topic_prefix}


@pytest.fixture
def settings(prefixed_settings: Settings) -> Settings:
    asyncio.run(ensure_topics(prefixed_settings, shared_topics(prefixed_settings)))
    return prefixed_settings


def cursors(settings: Settings) -> str:
    return TopicNames.from_settings(settings).cursors


async def produce(settings: Settings, *items: CursorRecord | tuple[str, bytes | None]) -> None:
    """Records as the poller writes them (or raw values: a tombstone, garbage)."""
    producer = AIOKafkaProducer(**kafka.client_options(settings), acks="all")
    await producer.start()
    try:
        for item in items:
            key, value = (item.stream, item.to_json()) if isinstance(item, CursorRecord) else item
            await producer.send_and_wait(
                cursors(settings), value, key=key.encode(), partition=partition_for(key, 3)
            )
    finally:
        await producer.stop()


def stored(settings: Settings, stream: str) -> list[Any]:
    """Every record of ``stream`` on the cursors topic, oldest first."""
    records = asyncio.run(read_topic(settings, cursors(settings)))
    return [r for r in records if r.key == stream.encode()]


def rows(table: str) -> dict[str, str]:
    """``offsets list`` rows by stream id."""
    return {line.split()[0]: line for line in table.splitlines()[1:] if line.strip()}


def seed(settings: Settings) -> None:
    asyncio.run(
        produce(
            settings,
            CursorRecord("stripe.events", Cursor("evt_1"), status="ok", polled_at=POLLED_AT),
            CursorRecord("stripe.events", Cursor("evt_2"), status="ok", polled_at=POLLED_AT),
            CursorRecord(
                "github.issues:octo/hello",
                Cursor(mark="2026-01-01T00:00:00Z"),
                status="failed",
                error="PaginationError: the provider repeated page token abc",
                polled_at=POLLED_AT,
            ),
            CursorRecord("gone.stream", Cursor(1)),
            ("gone.stream", None),  # a tombstone: the stream is forgotten
            ("junk", b"not json"),
        )
    )


def test_list_shows_the_latest_record_of_every_stream(settings: Settings) -> None:
    seed(settings)
    result = sb("offsets", "list")
    assert result.exit_code == 0, result.output
    head = result.stdout.splitlines()[0].split()
    assert head == [
        "STREAM", "STATUS", "MARK", "IN", "RUN", "LAST", "PAGE", "LAST", "FAILURE", "WORKER",
        "ERROR",
    ]  # fmt: skip
    table = rows(result.stdout)
    assert sorted(table) == ["github.issues:octo/hello", "stripe.events"]
    stripe = table["stripe.events"].split()
    assert stripe[1:6] == ["ok", '"evt_2"', "no", "2026-03-04T05:06:07Z", "-"]
    github = table["github.issues:octo/hello"]
    assert "failed" in github
    assert "PaginationError: the provider repeated page token" in github
    assert "not configured here: github.issues:octo/hello, stripe.events" in result.stderr
    assert "1 unreadable record(s) skipped" in result.stderr

    as_json = sb("offsets", "list", "--json")
    lines = [orjson.loads(line) for line in as_json.stdout.splitlines()]
    assert [line["stream"] for line in lines] == ["github.issues:octo/hello", "stripe.events"]
    assert lines[1]["cursor"] == {"mark": "evt_2"}
    assert lines[1]["origin"] == "poller"
    assert lines[1]["configured"] is False
    assert lines[0]["error"].startswith("PaginationError")


def test_a_configured_stream_without_a_record_has_no_cursor_yet(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWITCHBOARD_STRIPE__API_KEY", "sk_test_offsets")
    monkeypatch.setenv("SWITCHBOARD_POLL__STREAMS", '["stripe.events"]')
    result = sb("offsets", "list")
    assert result.exit_code == 0, result.output
    assert rows(result.stdout)["stripe.events"].split()[1:5] == ["new", "no", "cursor", "yet"]
    assert "1 stream(s), 1 configured here" in result.stderr
    (line,) = sb("offsets", "list", "--json").stdout.splitlines()
    obj = orjson.loads(line)
    assert (obj["stream"], obj["status"], obj["cursor"], obj["configured"]) == (
        "stripe.events",
        "new",
        None,
        True,
    )


def test_set_without_a_poller_writes_the_change_and_says_nobody_applied_it(
    settings: Settings,
) -> None:
    seed(settings)
    began = time.monotonic()
    result = sb("offsets", "set", "stripe.events", "--mark", '"evt_9"', "--yes", "--timeout", "1")
    assert result.exit_code == 0, result.output
    assert time.monotonic() - began < 10
    assert "current: status ok" in result.stderr
    assert '{"mark":"evt_2"}' in result.stderr
    assert 'new:     cursor {"mark":"evt_9"}' in result.stderr
    assert "not applied yet: no worker with the poll role acknowledged" in result.stdout
    assert "takes effect when one owns stripe.events" in result.stdout

    last = stored(settings, "stripe.events")[-1]
    assert last.partition == partition_for("stripe.events", settings.kafka.partitions)
    change = CursorRecord.from_json(last.value)
    assert change.origin == "cli"
    assert change.status == "reset"
    assert change.cursor == Cursor("evt_9")
    assert change.request is not None
    assert len(change.request) == 32
    assert f"request {change.request}" in result.stdout
    assert change.polled_at == POLLED_AT  # the last good page stays what it was

    listed = rows(sb("offsets", "list").stdout)["stripe.events"]
    assert "reset (pending)" in listed
    assert '"evt_9"' in listed


def test_reset_writes_an_empty_cursor_with_the_backfill(settings: Settings) -> None:
    seed(settings)
    sid = "github.issues:octo/hello"
    result = sb("offsets", "reset", sid, "--from", "2026-01-01", "--yes", "--timeout", "0")
    assert result.exit_code == 0, result.output
    assert "re-reads from 2026-01-01T00:00:00+00:00 (--from)" in result.stderr
    assert "not waiting" in result.stdout
    change = CursorRecord.from_json(stored(settings, sid)[-1].value)
    assert (change.origin, change.status, change.error) == ("cli", "reset", None)
    assert change.cursor == Cursor()
    assert change.backfill == datetime(2026, 1, 1, tzinfo=UTC)
    assert "from 2026-01-01T00:00:00Z" in rows(sb("offsets", "list").stdout)[sid]

    # --beginning is the default, and the confirmation text says so
    result = sb("offsets", "reset", sid, "--yes", "--timeout", "0")
    assert result.exit_code == 0, result.output
    assert "re-reads from the beginning (--beginning, the default)" in result.stderr
    change = CursorRecord.from_json(stored(settings, sid)[-1].value)
    assert change.cursor == Cursor()
    assert change.backfill is None
    assert orjson.loads(stored(settings, sid)[-1].value)["backfill"] is None


def test_an_unknown_stream_is_exit_2_with_the_known_ones(settings: Settings) -> None:
    seed(settings)
    before = asyncio.run(end_offsets(settings, cursors(settings)))
    for args in (["set", "stripe.evnts", "--mark", "1"], ["reset", "gone.stream"]):
        result = sb("offsets", *args, "--yes")
        assert result.exit_code == 2, result.output
        assert "unknown stream" in result.stderr
        assert "known streams: github.issues:octo/hello, stripe.events" in result.stderr
    assert asyncio.run(end_offsets(settings, cursors(settings))) == before


def test_an_unknown_stream_is_named_before_the_missing_confirmation(settings: Settings) -> None:
    seed(settings)
    for args in (["reset", "stripe.event"], ["set", "stripe.event", "--mark", "1"]):
        result = sb("offsets", *args)  # no --yes, and stdin is not a terminal
        assert result.exit_code == 2, result.output
        assert "unknown stream" in result.stderr
        assert "stripe.events" in result.stderr
        assert "not a terminal" not in result.stderr
    result = sb("offsets", "reset", "stripe.events")  # a known one: the confirmation is next
    assert result.exit_code == 2, result.output
    assert "stdin is not a terminal" in result.stderr


async def test_a_later_change_of_the_stream_ends_the_wait(settings: Settings) -> None:
    """The poller applies only the latest change: waiting for an earlier one is pointless."""
    await produce(settings, CursorRecord("stripe.events", Cursor("evt_2")))
    topic = await cursors_topic(settings)
    states, _ = await read_states(settings, topic, [])
    first = change_record(states["stripe.events"], Cursor("evt_3"))
    second = change_record(states["stripe.events"], Cursor("evt_4"))
    assert first.request != second.request
    written = await write_change(settings, topic, first)
    await write_change(settings, topic, second)
    began = time.monotonic()
    echo = await wait_for_echo(settings, written, first, timeout=20)
    assert time.monotonic() - began < 5
    assert echo.outcome == "superseded"
    assert echo.record is not None
    assert echo.record.request == second.request


def on_a_terminal(
    env: dict[str, str], answer: bytes, *args: str
) -> subprocess.CompletedProcess[str]:
    """Run the installed ``switchboard`` with a pseudo-terminal as stdin,
    typing ``answer`` (the terminal buffers it until the prompt reads it)."""
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            [SWITCHBOARD, *args],
            env=env,
            stdin=slave,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        os.write(master, answer)
        out, err = proc.communicate(timeout=60)
    finally:
        os.close(slave)
        os.close(master)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_the_change_waits_for_confirmation(settings: Settings, env: dict[str, str]) -> None:
    seed(settings)
    before = asyncio.run(end_offsets(settings, cursors(settings)))
    args = ("offsets", "set", "stripe.events", "--mark", '"evt_7"', "--timeout", "0")
    declined = on_a_terminal(env, b"n\n", *args)
    assert declined.returncode == 1, declined.stderr
    assert "Change the cursor of stripe.events? [y/N]" in declined.stderr
    assert '{"mark":"evt_2"}' in declined.stderr  # current
    assert '{"mark":"evt_7"}' in declined.stderr  # new
    assert asyncio.run(end_offsets(settings, cursors(settings))) == before

    accepted = on_a_terminal(env, b"y\n", *args)
    assert accepted.returncode == 0, accepted.stderr
    assert asyncio.run(end_offsets(settings, cursors(settings))) == before + 1
    assert CursorRecord.from_json(stored(settings, "stripe.events")[-1].value).cursor == Cursor(
        "evt_7"
    )


# -- with a real poller ------------------------------------------------------------------

ITEMS = 30
SID = "generic.items"


def items_stream() -> PollStream:
    """The demo sandbox's cursor-paginated dataset as a poll stream; the
    first request carries the mark (``after``) or the backfill (``since``)."""

    def first(mark: Any, backfill: datetime | None) -> dict[str, Any]:
        if mark is not None:
            return {"after": mark}
        return {"since": backfill.isoformat()} if backfill else {}

    def to_events(record: dict[str, Any]) -> list[Event]:
        return [
            Event(
                id=f"item-{record['id']}",
                source="switchboard/generic",
                type="generic.item",
                provider="generic",
                delivery="poll",
                data=record,
            )
        ]

    return PollStream(
        name="items",
        path="/datasets/items/cursor",
        paginator=lambda: CursorPaginator(limit=10),
        to_events=to_events,
        first=first,
        advance=max_mark("id"),
        interval_s=3600,  # one run at start (no jitter), then only what the CLI wakes
    )


async def latest(settings: Settings) -> CursorRecord | None:
    records = [r for r in await read_topic(settings, cursors(settings)) if r.key == SID.encode()]
    return CursorRecord.from_json(records[-1].value) if records else None


async def until_stored(settings: Settings, check: Callable[[CursorRecord], bool]) -> CursorRecord:
    record = await eventually(
        lambda: latest(settings),
        8,
        until=lambda r: r is not None and check(r),
        what="the stream's stored cursor record",
    )
    assert record is not None
    return record


async def test_a_running_poller_applies_set_and_reset_and_echoes_them(
    kafka_bootstrap: str, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS", kafka_bootstrap)
    monkeypatch.setenv("SWITCHBOARD_KAFKA__TOPIC_PREFIX", topic_prefix)
    monkeypatch.setenv("SWITCHBOARD_POLL__JITTER", "0")
    settings = load_settings(sections=connectors.settings_sections())
    names = TopicNames.from_settings(settings)
    await ensure_topics(
        settings, [*shared_topics(settings), TopicSpec(names.ingest("generic"), 1, 1)]
    )
    async with DemoSandbox(items=ITEMS) as sandbox:
        setup = ClientSetup(policy=ClientPolicy(connector="generic", base_url=sandbox.url))
        poller = Poller(settings, [PollTarget(connectors.get("generic"), items_stream(), setup)])
        running = asyncio.create_task(poller.run())

        def requests() -> list[dict[str, str]]:
            return [dict(r.query) for r in sandbox.requests_to("/datasets/items/cursor")]

        async def applied(*args: str) -> CursorRecord:
            """Run ``offsets *args``; it reports the poller's echo, now the latest record."""
            result = await asyncio.to_thread(sb, "offsets", *args, "--yes", "--timeout", "8")
            assert result.exit_code == 0, result.output
            assert result.stdout.startswith("applied by ")
            echo = await latest(settings)
            assert echo is not None
            assert (echo.origin, echo.status) == ("poller", "reset")
            assert f"request {echo.request}" in result.stderr
            return echo

        try:
            # the first run reads everything: the stream now has a record
            await until_stored(settings, lambda r: r.status == "ok" and r.cursor.mark == ITEMS)
            sandbox.hold()  # the run a change starts stays at its first request

            echo = await applied("set", SID, "--mark", "10")
            assert echo.cursor == Cursor(10)
            # the stream re-polls from the new mark
            await eventually(lambda: requests()[-1].get("after") == "10", 8)
            listed = await asyncio.to_thread(sb, "offsets", "list")
            row = rows(listed.stdout)[SID].split()
            assert row[1:3] == ["reset", "10"]
            assert "pending" not in listed.stdout

            sandbox.release()
            await until_stored(settings, lambda r: r.status == "ok" and r.cursor.mark == ITEMS)
            sandbox.hold()
            echo = await applied("reset", SID, "--from", "2026-01-01")
            assert echo.cursor == Cursor()
            assert echo.backfill == datetime(2026, 1, 1, tzinfo=UTC)
            # the stream re-reads from the backfill date
            await eventually(lambda: requests()[-1].get("since") == "2026-01-01T00:00:00+00:00", 8)
        finally:
            sandbox.release()
            poller.stop()
            await asyncio.wait_for(running, 30)
