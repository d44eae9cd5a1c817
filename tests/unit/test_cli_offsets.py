"""`switchboard offsets` argument handling (no broker needed).

Every bad argument is refused with exit 2 and one line before anything
connects: the broker address points at a closed port, so a command that
tried to connect would fail with exit 1 instead.
"""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta, timezone

import pytest
from click.testing import CliRunner, Result

from core.poll import Cursor
from streams.cli import cli
from streams.offsets import (
    OffsetsInputError,
    StreamState,
    parse_cursor,
    parse_from,
    parse_mark,
    read_states,
)
from streams.settings import load_settings


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def offsets(*args: str) -> Result:
    env = {
        "SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{closed_port()}",
        "SWITCHBOARD_KAFKA__CONNECT_TIMEOUT_S": "2",
    }
    return CliRunner().invoke(cli, ["offsets", *args], env=env)


def assert_usage_error(result: Result, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "cannot reach Kafka" not in result.stderr
    for needle in needles:
        assert needle in result.stderr


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--mark", "evt_123"], ["--mark is not valid JSON", """--mark '"evt_123"'"""]),
        (["--mark", "{nope"], ["--mark is not valid JSON"]),
        ([], ["exactly one of --mark and --cursor"]),
        (["--mark", "1", "--cursor", '{"mark": 1}'], ["exactly one of --mark and --cursor"]),
        (
            ["--cursor", "{nope"],
            ["--cursor is not valid JSON", """--cursor '{"mark": "evt_123"}'"""],
        ),
        (["--cursor", "[1]"], ["--cursor must be a JSON object"]),
        (["--cursor", '{"mark": 1, "colour": 2}'], ["--cursor: unknown cursor field(s): colour"]),
        (["--cursor", '{"next": 5}'], ["--cursor: cursor 'next' is an object"]),
        (["--cursor", '{"next": {"url": 7}}'], ["cursor 'next.url' is a string"]),
        (["--cursor", '{"etag": 1}'], ["cursor 'etag' is a string"]),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)
def test_set_rejects_bad_arguments_before_connecting(args: list[str], needles: list[str]) -> None:
    assert_usage_error(offsets("set", "stripe.events", *args, "--yes"), *needles)


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--from", "last tuesday"], ["--from 'last tuesday'", "ISO 8601"]),
        (["--from", "2999-01-01"], ["is in the future"]),
        (["--from", "2026-01-01", "--beginning"], ["at most one of --from and --beginning"]),
    ],
)
def test_reset_rejects_bad_arguments_before_connecting(args: list[str], needles: list[str]) -> None:
    assert_usage_error(offsets("reset", "stripe.events", *args, "--yes"), *needles)


def test_a_negative_timeout_is_a_usage_error() -> None:
    result = offsets("set", "stripe.events", "--mark", "1", "--timeout", "-1", "--yes")
    assert result.exit_code == 2
    assert "--timeout" in result.stderr


@pytest.mark.parametrize(
    "args", [["set", "stripe.events", "--mark", '"evt_1"'], ["reset", "stripe.events"]]
)
def test_without_a_terminal_a_change_needs_yes(args: list[str]) -> None:
    # CliRunner's stdin is not a terminal
    assert_usage_error(offsets(*args), "stdin is not a terminal", "pass --yes")


@pytest.mark.parametrize(
    "args",
    [["list"], ["set", "stripe.events", "--mark", "1", "--yes"], ["reset", "x.y", "--yes"]],
    ids=" ".join,
)
def test_unreachable_kafka_is_the_usual_one_line(args: list[str]) -> None:
    result = offsets(*args)
    assert result.exit_code == 1, result.output
    assert "cannot reach Kafka" in result.stderr
    assert "switchboard kafka start" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_help_explains_the_backfill_and_dedup() -> None:
    text = " ".join(CliRunner().invoke(cli, ["offsets", "reset", "--help"]).output.split())
    assert "re-reads from --from or from the beginning" in text
    assert "dedup keeps <c>.events clean" in text
    assert "dedup retention window" in text


def test_parse_mark_takes_any_json_value() -> None:
    assert parse_mark('"evt_123"') == "evt_123"
    assert parse_mark("42") == 42
    assert parse_mark("null") is None
    assert parse_mark('{"a": [1]}') == {"a": [1]}


def test_parse_cursor_builds_a_cursor() -> None:
    cursor = parse_cursor('{"mark": 5, "next": {"params": {"page": 3}}, "run_mark": 9}')
    assert cursor.mark == 5
    assert cursor.in_run
    assert cursor.next is not None
    assert dict(cursor.next.params) == {"page": 3}
    assert cursor.run_mark == 9
    assert parse_cursor('{"mark": "x", "etag": "W/1"}') == Cursor("x", etag="W/1")


def test_parse_from_is_timezone_aware() -> None:
    now = datetime(2026, 6, 1, 12, tzinfo=UTC)
    assert parse_from("2026-01-01", now=now) == datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_from("2026-01-01T10:00:00", now=now) == datetime(2026, 1, 1, 10, tzinfo=UTC)
    plus2 = parse_from("2026-01-01T10:00:00+02:00", now=now)
    assert plus2.utcoffset() == timezone(timedelta(hours=2)).utcoffset(None)
    assert plus2 == datetime(2026, 1, 1, 8, tzinfo=UTC)
    assert parse_from("2026-01-01T10:00:00Z", now=now) == datetime(2026, 1, 1, 10, tzinfo=UTC)
    assert parse_from("7d", now=now) == now - timedelta(days=7)
    with pytest.raises(OffsetsInputError, match="in the future"):
        parse_from("2026-06-02", now=now)


async def test_a_configured_stream_without_a_record_has_no_cursor_yet() -> None:
    settings = load_settings()
    states, unreadable = await read_states(settings, None, ["generic.items", "stripe.events"])
    assert list(states) == ["generic.items", "stripe.events"]
    assert unreadable == 0
    state = states["generic.items"]
    assert state == StreamState("generic.items", configured=True)
    assert not state.pending
    obj = state.to_obj()
    assert obj["stream"] == "generic.items"
    assert obj["status"] == "new"
    assert obj["cursor"] is None
    assert obj["configured"] is True
    assert {"backfill", "origin", "request", "polled_at", "worker"} <= set(obj)
