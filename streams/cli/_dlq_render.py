"""How ``switchboard dlq`` shows a record: a table row, JSON, the full
description, counts and replay-plan lines."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime

import orjson

from ..dlq import SKIP_FOREIGN_TOPIC, DlqRecord, ReplayItem, dlq_source
from ._text import cut, printable, text

__all__ = ["counts", "describe", "foreign_line", "plan_line", "record_json", "row", "when"]


def when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def row(record: DlqRecord) -> list[str]:
    e = record.errors
    what = (
        [e.connector, e.stage, e.reason, e.error_class, e.error_message]
        if e
        else ["-", "-", "invalid headers", "-", record.problem]
    )
    return [
        str(record.ref),
        when(record.failed_at),
        *(printable(w) for w in what[:4]),
        cut(what[4], 50),
        cut(text(record.key), 24),
    ]


def record_json(record: DlqRecord) -> bytes:
    return orjson.dumps(
        {
            "ref": str(record.ref),
            "key": None if record.key is None else record.key.decode("utf-8", "backslashreplace"),
            "timestamp": record.timestamp,
            "errors": record.errors.to_obj() if record.errors else None,
            "problem": record.problem or None,
        }
    )


def describe(record: DlqRecord) -> str:
    stamp = datetime.fromtimestamp(record.timestamp / 1000, UTC)
    lines = [
        str(record.ref),
        f"  key:         {text(record.key)}",
        f"  timestamp:   {stamp.isoformat(timespec='milliseconds')} (original record)",
    ]
    e = record.errors
    if e is None:
        lines.append(f"errors: invalid headers ({record.problem})")
    else:
        lines += [
            "errors:",
            f"  original:    {e.original_topic}:{e.original_partition}:{e.original_offset}",
            f"  connector:   {e.connector}",
            f"  stage:       {e.stage}",
            f"  reason:      {e.reason}",
            f"  error class: {e.error_class}",
            f"  attempts:    {e.attempts}",
            f"  failed at:   {e.failed_at.astimezone(UTC).isoformat()}",
            f"  message:     {e.error_message}",
        ]
    lines.append("headers:" if record.original_headers else "headers: (none)")
    lines += [f"  {name}: {text(value)}" for name, value in record.original_headers]
    lines.append(f"value: {pretty(record.value)}")
    return "\n".join(lines)


def pretty(value: bytes | None) -> str:
    if value is None:
        return "(null)"
    try:
        return "(JSON)\n" + orjson.dumps(orjson.loads(value), option=orjson.OPT_INDENT_2).decode()
    except orjson.JSONDecodeError:
        return f"({len(value)} bytes)\n{text(value, keep=chr(10))}"


def counts(title: str, counter: Counter[str]) -> list[str]:
    width = max((len(k) for k in counter), default=0)
    return [f"by {title}:", *(f"  {k.ljust(width)}  {n}" for k, n in counter.most_common())]


def foreign_line(plan: Iterable[ReplayItem], count: int) -> str:
    """Why records whose error headers name another topic were not replayed."""
    sources = sorted(
        {s for i in plan if i.skip == SKIP_FOREIGN_TOPIC and (s := dlq_source(i.record.ref.topic))}
    )
    return (
        f"{count} record(s) not replayed: their error headers name a topic other than "
        f"their DLQ topic's source ({', '.join(sources)}), and anyone able to write a DLQ "
        "writes those headers; replay them with --to TOPIC if that is where they belong"
    )


def plan_line(item: ReplayItem) -> str:
    key = cut(text(item.record.key), 40)
    if item.skip:
        return f"skip   {item.record.ref} ({item.skip}) key={key}"
    return f"replay {item.record.ref} -> {item.destination} key={key}"
