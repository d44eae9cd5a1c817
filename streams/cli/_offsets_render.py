"""How ``switchboard offsets`` shows a stream's state: a table row, the
current cursor before a change, times and marks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from ..offsets import StreamState
from ._text import cut, printable

__all__ = ["current", "mark", "row", "status", "to_json", "when"]


def to_json(value: Any) -> str:
    return orjson.dumps(value).decode()


def when(iso: str | None) -> str:
    if not iso:
        return "-"
    try:
        return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return cut(iso, 25)


def status(state: StreamState) -> str:
    if state.record is None:
        return "new"
    return f"{state.record.status} (pending)" if state.pending else state.record.status


def mark(state: StreamState) -> str:
    record = state.record
    if record is None:
        return "no cursor yet"
    if record.cursor.mark is None and record.backfill is not None:
        return f"from {when(record.backfill.isoformat())}"
    return "-" if record.cursor.mark is None else cut(to_json(record.cursor.mark), 32)


def row(state: StreamState) -> list[str]:
    record = state.record
    if record is None:
        return [state.stream, "new", "no cursor yet", "-", "-", "-", "-", "-"]
    return [
        printable(state.stream),
        printable(status(state)),
        mark(state),
        "yes" if record.cursor.in_run else "no",
        when(record.polled_at),
        when(record.failed_at),
        cut(record.worker or "-", 30),
        cut(record.error, 50) if record.error else "-",
    ]


def current(state: StreamState) -> list[str]:
    record = state.record
    if record is None:
        return ["current: no cursor yet (never polled)"]
    who = printable(record.worker or "?")
    head = f"current: status {printable(status(state))}, last page {when(record.polled_at)}"
    if record.failed_at:
        head += f", last failure {when(record.failed_at)}"
    lines = [f"{head}, written by {who}"]
    lines.append(f"  cursor {printable(cut(to_json(record.cursor.to_obj()), 300))}")
    if record.backfill is not None:
        lines.append(f"  backfill {record.backfill.isoformat()}")
    if record.cursor.in_run:
        lines.append("  a run is in progress (resumes at 'next'): the change drops it")
    if record.error:
        lines.append(f"  error {cut(record.error, 200)}")
    if state.pending:
        lines.append(f"  (a change not applied yet, request {printable(str(record.request))})")
    return lines
