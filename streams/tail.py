"""Reading a topic back for people: ``switchboard tail``.

:func:`tail` yields records from every partition of a topic, from the end
(default) or the beginning, without joining a consumer group and without
committing anything: looking at a topic never moves anyone's offsets.
:func:`format_record` renders one record: a header line (topic, partition,
offset, key, timestamp, envelope kind) and the value as indented JSON.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import ConsumerRecord, TopicPartition

from . import kafka
from .kafka.topics import partitions_of
from .settings import Settings

__all__ = ["TopicMissing", "envelope_kind", "format_record", "tail"]


class TopicMissing(LookupError):
    pass


def envelope_kind(value: Any) -> str:
    """Which Switchboard envelope a decoded value looks like."""
    if not isinstance(value, dict):
        return "raw"
    if value.get("specversion") == "1.0":
        return "event"
    if "command_id" in value and "status" in value:
        return "result"
    if "params" in value and "type" in value:
        return "command"
    return "json"


def format_record(record: ConsumerRecord[bytes, bytes], *, color: bool = False) -> str:
    try:
        value: Any = orjson.loads(record.value) if record.value is not None else None
        body = orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()
    except orjson.JSONDecodeError:
        value = None
        body = repr(record.value)
    kind = envelope_kind(value) if value is not None else "raw"
    key = record.key.decode("utf-8", "replace") if record.key is not None else "-"
    when = datetime.fromtimestamp(record.timestamp / 1000, UTC).isoformat(timespec="milliseconds")
    summary = ""
    if kind in {"event", "command"}:
        summary = f" {value.get('type')} id={value.get('id')}"
    elif kind == "result":
        summary = f" {value.get('type')} {value.get('status')} command_id={value.get('command_id')}"
    head = f"{record.topic}[{record.partition}]@{record.offset} key={key} {when} {kind}{summary}"
    headers = "".join(
        f"\n  {name}: {raw.decode('utf-8', 'replace')}" for name, raw in record.headers or ()
    )
    if color:
        head = f"\x1b[1;36m{head}\x1b[0m"
    return f"{head}{headers}\n{body}"


async def tail(
    settings: Settings,
    topic: str,
    *,
    from_beginning: bool = False,
    limit: int | None = None,
    timeout: float | None = None,
) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    """Yield records of ``topic`` until ``limit`` records or ``timeout``
    seconds have passed (whichever first; neither means forever)."""
    partitions = await partitions_of(settings, topic)
    if partitions is None:
        raise TopicMissing(f"topic {topic} does not exist")
    consumer = kafka.consumer(
        settings,
        group_id=None,
        auto_offset_reset="earliest" if from_beginning else "latest",
        isolation_level="read_uncommitted",
    )
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    seen = 0
    async with kafka.connect(settings, consumer):
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        if from_beginning:
            await consumer.seek_to_beginning(*tps)
        else:
            await consumer.seek_to_end(*tps)
        while limit is None or seen < limit:
            wait_ms = 500
            if deadline is not None:
                left = deadline - loop.time()
                if left <= 0:
                    return
                wait_ms = max(1, min(500, int(left * 1000)))
            batches = await consumer.getmany(timeout_ms=wait_ms, max_records=100)
            for records in batches.values():
                for record in records:
                    yield record
                    seen += 1
                    if limit is not None and seen >= limit:
                        return
