"""Poll cursors for people: what ``switchboard offsets list|set|reset`` does.

Like Kafka Connect's offsets API, but for poll streams: every stream's
position is the latest record of its key on ``<prefix>switchboard.cursors``
(:mod:`streams.offsets.cursors`). Reading is :func:`streams.kafka.read_since` over
every partition from the start, latest record per key wins (a tombstone
deletes the key). Nothing here joins the poll group or commits an offset.

A change is written the way the poller expects one (``origin="cli"``, a
fresh ``request`` id, ``status="reset"``, keyed by the stream id, to the
partition :func:`~streams.offsets.cursors.partition_for` gives, acknowledged by
every in-sync replica); the worker owning the stream applies it between two
pages and writes it back as its own with the same request id.
:func:`wait_for_echo` reads that partition from just after the change until
the echo, a later change of the same stream, or the deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from core.poll import Cursor

from .. import kafka
from ..dlq import DlqInputError, parse_when
from ..kafka.topics import TopicNames, partitions_of
from ..settings import Settings
from .cursors import CursorRecord, new_request_id, partition_for

__all__ = [
    "CursorsTopic",
    "Echo",
    "OffsetsError",
    "OffsetsInputError",
    "StreamState",
    "Written",
    "change_record",
    "cursors_topic",
    "parse_cursor",
    "parse_from",
    "parse_mark",
    "read_states",
    "resolve",
    "wait_for_echo",
    "write_change",
]


class OffsetsError(Exception):
    """An offsets operation failed; the message is for a person."""


class OffsetsInputError(OffsetsError):
    """Bad input (an argument, an unknown stream): nothing was written."""


# -- arguments -------------------------------------------------------------------


def _json(text: str, option: str, example: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise OffsetsInputError(f"{option} is not valid JSON ({exc}); e.g. {example}") from None


def parse_mark(text: str) -> Any:
    """``--mark``: any JSON value (a string needs its own quotes)."""
    return _json(
        text,
        "--mark",
        "--mark '\"evt_123\"' or --mark '\"2026-01-01T00:00:00Z\"' (a string keeps its quotes)",
    )


def parse_cursor(text: str) -> Cursor:
    """``--cursor``: a whole Cursor object, checked by :meth:`Cursor.from_obj`."""
    example = """--cursor '{"mark": "evt_123"}'"""
    obj = _json(text, "--cursor", example)
    if not isinstance(obj, Mapping):
        raise OffsetsInputError(
            f"--cursor must be a JSON object with mark (and next, run_mark, etag); e.g. {example}"
        )
    try:
        return Cursor.from_obj(obj)
    except ValueError as exc:
        raise OffsetsInputError(f"--cursor: {exc}") from None


def parse_from(text: str, *, now: datetime | None = None) -> datetime:
    """``--from``: an ISO date or time (naive = UTC) or a duration ago (``7d``)."""
    now = now or datetime.now(UTC)
    try:
        when = parse_when(text, now=now, option="--from")
    except DlqInputError as exc:
        raise OffsetsInputError(str(exc)) from None
    if when > now:
        raise OffsetsInputError(f"--from {text!r} is in the future ({when.isoformat()})")
    return when


# -- reading ---------------------------------------------------------------------


@dataclass(frozen=True)
class CursorsTopic:
    name: str
    partitions: int

    def partition_of(self, stream: str) -> int:
        return partition_for(stream, self.partitions)


@dataclass(frozen=True)
class StreamState:
    """One stream as ``offsets list`` shows it: configured here, stored, or both."""

    stream: str
    configured: bool
    record: CursorRecord | None = None
    stored: Mapping[str, Any] | None = None  # the record's value as stored

    @property
    def pending(self) -> bool:
        """A CLI change no worker has applied yet."""
        return self.record is not None and self.record.origin == "cli"

    def to_obj(self) -> dict[str, Any]:
        """The stored record (every field; null ones for a stream without
        a record) plus ``configured``."""
        if self.stored is not None:
            return {**self.stored, "configured": self.configured}
        blank = dict.fromkeys(orjson.loads(CursorRecord(self.stream).to_json()))
        return {**blank, "stream": self.stream, "status": "new", "configured": self.configured}


async def cursors_topic(settings: Settings) -> CursorsTopic:
    """The cursors topic and its partition count; OffsetsError if it does not exist."""
    name = TopicNames.from_settings(settings).cursors
    partitions = await partitions_of(settings, name)
    if not partitions:
        raise OffsetsError(
            f"topic {name} does not exist: `switchboard worker` or "
            "`switchboard topics create` creates it"
        )
    return CursorsTopic(name, len(partitions))


async def read_states(
    settings: Settings, topic: CursorsTopic | None, configured: list[str]
) -> tuple[dict[str, StreamState], int]:
    """Every configured stream and every stream with a record, by id, and
    how many unreadable records were skipped. ``topic=None``: no topic yet."""
    latest: dict[str, tuple[CursorRecord, Mapping[str, Any]]] = {}
    unreadable = 0
    if topic is not None:
        tps = [TopicPartition(topic.name, p) for p in range(topic.partitions)]
        messages = await kafka.read_since(settings, tps, 0)
        for message in sorted(messages, key=lambda m: (m.partition, m.offset)):
            if message.value is None:  # a tombstone: the key is gone
                if message.key is not None:
                    latest.pop(message.key.decode("utf-8", "replace"), None)
                continue
            try:
                record = CursorRecord.from_json(message.value)
                stored = orjson.loads(message.value)
            except (ValueError, TypeError):
                unreadable += 1
                continue
            latest[record.stream] = (record, stored)
    wanted = set(configured)
    states = {
        sid: StreamState(sid, sid in wanted, *latest.get(sid, (None, None)))
        for sid in sorted(wanted | set(latest))
    }
    return states, unreadable


def resolve(states: Mapping[str, StreamState], stream: str) -> StreamState:
    """The state of ``stream``; OffsetsInputError listing the known ids otherwise."""
    state = states.get(stream)
    if state is None:
        known = ", ".join(states) or "none (no stream is configured here or has a cursor)"
        raise OffsetsInputError(f"unknown stream {stream!r}; known streams: {known}")
    return state


# -- changing --------------------------------------------------------------------


def change_record(
    state: StreamState, cursor: Cursor, *, backfill: datetime | None = None
) -> CursorRecord:
    """The CLI change record (fresh request id); keeps the last good page's
    time (a change is not a poll; the last failure is what it clears)."""
    return CursorRecord(
        stream=state.stream,
        cursor=cursor,
        backfill=backfill,
        origin="cli",
        request=new_request_id(),
        status="reset",
        polled_at=state.record.polled_at if state.record else None,
    )


@dataclass(frozen=True)
class Written:
    topic: str
    partition: int
    offset: int

    def __str__(self) -> str:
        return f"{self.topic}:{self.partition}:{self.offset}"


async def write_change(settings: Settings, topic: CursorsTopic, record: CursorRecord) -> Written:
    """Produce ``record`` to its stream's partition and wait for the ack (acks=all)."""
    partition = topic.partition_of(record.stream)
    producer = kafka.producer(settings, linger_ms=0)
    async with kafka.connect(settings, producer):
        try:
            meta = await producer.send_and_wait(
                topic.name, record.to_json(), key=record.stream.encode(), partition=partition
            )
        except KafkaError as exc:
            raise OffsetsError(f"the change was not acknowledged by Kafka: {exc}") from None
    return Written(topic.name, partition, meta.offset)


@dataclass(frozen=True)
class Echo:
    """How a change ended: ``applied`` (``record`` is the poller's echo),
    ``superseded`` (``record`` is a later change of the same stream, which
    the poller applies instead) or ``timeout`` (``record`` is None)."""

    outcome: Literal["applied", "superseded", "timeout"]
    record: CursorRecord | None = None


async def wait_for_echo(
    settings: Settings, written: Written, change: CursorRecord, timeout: float
) -> Echo:
    """Read the change's partition after it until the poller echoes ``change.request``."""
    tp = TopicPartition(written.topic, written.partition)
    consumer = kafka.consumer(settings, group_id=None)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with kafka.connect(settings, consumer):
        consumer.assign([tp])
        consumer.seek(tp, written.offset + 1)
        while (left := deadline - loop.time()) > 0:
            # getmany returns as soon as a record arrives: this waits for data, not for time
            batch = await consumer.getmany(tp, timeout_ms=max(1, int(min(left, 1.0) * 1000)))
            for message in batch.get(tp, []):
                echo = _echo_of(message.value, change)
                if echo is not None:
                    return echo
    return Echo("timeout")


def _echo_of(raw: bytes | None, change: CursorRecord) -> Echo | None:
    if raw is None:
        return None
    try:
        record = CursorRecord.from_json(raw)
    except (ValueError, TypeError):
        return None
    if record.stream != change.stream:
        return None
    if record.request == change.request and record.origin == "poller":
        return Echo("applied", record)
    if record.origin == "cli" and record.request != change.request:
        return Echo("superseded", record)
    return None
