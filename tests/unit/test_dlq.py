"""The pure parts of streams.dlq: refs, time and rate parsing, filters,
replay headers. The broker-backed behaviour is in
tests/integration/test_dlq_cli.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.envelopes import DLQ_HEADER_PREFIX, DlqHeaders
from streams import dlq
from streams.dlq import (
    REPLAY_AT,
    REPLAY_FROM,
    REPLAY_ID,
    DlqFilter,
    DlqInputError,
    DlqRecord,
    DlqRef,
    parse_rate,
    parse_when,
    replay_headers,
)

NOW = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)


def record(offset: int = 0, *, reason: str = "invalid_command", ago: float = 60) -> DlqRecord:
    own = [("type", b"stripe.customers.create"), ("blob", b"\xff\x00")]
    errors = DlqHeaders(
        original_topic="stripe.commands",
        original_partition=1,
        original_offset=offset,
        connector="stripe",
        stage="sink",
        reason=reason,
        error_class="CommandInvalid",
        failed_at=NOW - timedelta(seconds=ago),
    )
    return DlqRecord(
        ref=DlqRef("stripe.commands.dlq", 0, offset),
        key=b"k",
        value=b"{}",
        headers=(*own, *errors.to_headers()),
        timestamp=0,
        errors=errors,
    )


def test_public_surface() -> None:
    assert set(dlq.__all__) >= {
        "DlqFilter",
        "DlqRecord",
        "DlqRef",
        "DlqStats",
        "read_dlq",
        "read_one",
        "dlq_stats",
        "plan_replay",
        "replay",
    }
    for name in dlq.__all__:
        assert hasattr(dlq, name), name


def test_refs() -> None:
    assert DlqRef.parse("a.b-c_d.dlq:2:40") == DlqRef("a.b-c_d.dlq", 2, 40)
    assert DlqRef.parse(" a.dlq[2]@40 ") == DlqRef("a.dlq", 2, 40)  # as `tail` prints it
    assert str(DlqRef("a.dlq", 2, 40)) == "a.dlq:2:40"
    for bad in ("", "a.dlq", "a.dlq:1", "a.dlq:x:1", "a b:1:2", "a.dlq:1:-2"):
        with pytest.raises(DlqInputError, match="bad record ref"):
            DlqRef.parse(bad)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", NOW - timedelta(seconds=90)),
        ("15m", NOW - timedelta(minutes=15)),
        ("1h30m", NOW - timedelta(minutes=90)),
        ("2d", NOW - timedelta(days=2)),
        ("1w", NOW - timedelta(days=7)),
        ("1.5h", NOW - timedelta(minutes=90)),
        ("2026-11-20", datetime(2026, 11, 20, tzinfo=UTC)),
        ("2026-11-20T10:00:00Z", datetime(2026, 11, 20, 10, tzinfo=UTC)),
        ("2026-11-20T12:00:00+02:00", datetime(2026, 11, 20, 10, tzinfo=UTC)),
        ("2026-11-20T10:00", datetime(2026, 11, 20, 10, tzinfo=UTC)),  # naive = UTC
    ],
)
def test_when(text: str, expected: datetime) -> None:
    assert parse_when(text, now=NOW) == expected


@pytest.mark.parametrize("text", ["", "yesterday", "15", "m15", "2026-13-01", "1h foo"])
def test_bad_when(text: str) -> None:
    with pytest.raises(DlqInputError, match="--until"):
        parse_when(text, now=NOW, option="--until")


def test_rates() -> None:
    assert parse_rate("50") == 50
    assert parse_rate("50/s") == 50
    assert parse_rate("120/m") == 2
    assert parse_rate("0.5") == 0.5
    for bad in ("0", "-1", "fast", "5/d", "inf", "nan"):
        with pytest.raises(DlqInputError, match="--rate"):
            parse_rate(bad)


def test_filters() -> None:
    fresh, old = record(1, ago=60), record(2, reason="retries_exhausted", ago=7200)
    assert DlqFilter().matches(fresh)
    assert DlqFilter(reasons=frozenset({"retries_exhausted"})).matches(old)
    assert not DlqFilter(reasons=frozenset({"retries_exhausted"})).matches(fresh)
    assert not DlqFilter(connectors=frozenset({"github"})).matches(fresh)
    assert DlqFilter(error_classes=frozenset({"CommandInvalid"})).matches(fresh)
    hour_ago = NOW - timedelta(hours=1)
    assert DlqFilter(since=hour_ago).matches(fresh)
    assert not DlqFilter(since=hour_ago).matches(old)
    assert DlqFilter(until=hour_ago).matches(old)
    assert DlqFilter(refs=frozenset({old.ref})).matches(old)
    assert not DlqFilter(refs=frozenset({old.ref})).matches(fresh)
    with pytest.raises(DlqInputError, match="--since is after --until"):
        DlqFilter(since=NOW, until=hour_ago)

    headless = DlqRecord(DlqRef("x.dlq", 0, 0), None, None, (), 0, None, "no headers")
    assert DlqFilter().matches(headless)
    assert not DlqFilter(reasons=frozenset({"invalid_command"})).matches(headless)


def test_replay_headers_keep_own_headers_and_replace_lineage() -> None:
    original = record(5)
    first = replay_headers(original, "run-1", NOW)
    assert first[:2] == [("type", b"stripe.customers.create"), ("blob", b"\xff\x00")]
    assert first[2:] == [
        (REPLAY_FROM, b"stripe.commands.dlq:0:5"),
        (REPLAY_AT, b"2026-11-23T16:00:00.000+00:00"),
        (REPLAY_ID, b"run-1"),
    ]
    assert not [n for n, _ in first if n.startswith(DLQ_HEADER_PREFIX)]

    # Replayed, failed again, dead-lettered again: the new replay's lineage
    # replaces the old one instead of piling up.
    again = DlqRecord(
        DlqRef("stripe.commands.dlq", 0, 9), b"k", b"{}", (*first, *original.headers[2:]), 0, None
    )
    second = replay_headers(again, "run-2", NOW)
    assert [n for n, _ in second].count(REPLAY_FROM) == 1
    assert dict(second)[REPLAY_ID] == b"run-2"
    assert dict(second)[REPLAY_FROM] == b"stripe.commands.dlq:0:9"
