"""`switchboard offsets set|reset` without a poller, against the real broker:
the change written, unknown streams refused, confirmation asked on a terminal,
and the wait for an echo ended by a later change."""

from __future__ import annotations

import asyncio
import os
import pty
import subprocess
import time
from datetime import UTC, datetime

import orjson
import pytest

from core.poll import Cursor
from streams.offsets import change_record, cursors_topic, read_states, wait_for_echo, write_change
from streams.offsets.cursors import CursorRecord, partition_for
from streams.settings import Settings
from tests.dlqtools import SWITCHBOARD, sb
from tests.integration import offsets_cli_support as support
from tests.integration.offsets_cli_support import POLLED_AT, cursors, produce, rows, seed, stored
from tests.kafkatools import end_offsets

pytestmark = pytest.mark.integration

env = support.env  # the shared fixtures, bound here so pytest finds them
settings = support.settings


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
