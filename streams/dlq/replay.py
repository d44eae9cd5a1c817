"""Replaying DLQ records to the topic their DLQ belongs to (or ``--to``).

Public names are re-exported by :mod:`streams.dlq`; see its docstring for
the contracts.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from core.envelopes import DLQ_HEADER_PREFIX, new_id
from core.ratelimit import TokenBucket

from .. import kafka
from ..kafka.topics import TopicNames, existing_topics, partitions_of
from ..settings import Settings
from .read import (
    DLQ_SUFFIX,
    DlqInputError,
    DlqRecord,
    DlqRef,
    _read_partition,
    _reader,
)

REPLAY_HEADER_PREFIX = "__switchboard.replay."
REPLAY_FROM = REPLAY_HEADER_PREFIX + "from"
REPLAY_AT = REPLAY_HEADER_PREFIX + "at"
REPLAY_ID = REPLAY_HEADER_PREFIX + "id"

# Why a planned record is not replayed.
SKIP_DUPLICATE = "duplicate"  # the same ref twice in one run
SKIP_REPLAYED = "already replayed"  # --skip-replayed found its marker downstream
SKIP_NO_DESTINATION = "no original topic"  # invalid error headers and no --to
# The error headers name a topic other than the DLQ topic's source, and no --to.
SKIP_FOREIGN_TOPIC = "header names another topic"

# Replayed records are stamped when produced, after their failure; the slack
# covers clock skew between the worker that failed and the replaying host.
_MARKER_SLACK = timedelta(hours=1)
_ACK_WINDOW = 1000  # sends in flight before waiting for their acks

Sleep = Callable[[float], Awaitable[None]]


def replay_headers(record: DlqRecord, run_id: str, at: datetime) -> list[tuple[str, bytes]]:
    """The headers a replayed record carries: its original headers, in order
    and byte for byte, without ``__switchboard.errors.*`` and without the
    lineage of any earlier replay, then this run's lineage headers."""
    kept = [
        (name, raw)
        for name, raw in record.headers
        if not name.startswith((DLQ_HEADER_PREFIX, REPLAY_HEADER_PREFIX))
    ]
    return [
        *kept,
        (REPLAY_FROM, str(record.ref).encode()),
        (REPLAY_AT, at.astimezone(UTC).isoformat(timespec="milliseconds").encode()),
        (REPLAY_ID, run_id.encode()),
    ]


@dataclass(frozen=True)
class ReplayItem:
    """One selected record, where it would go, and why not (``skip``)."""

    record: DlqRecord
    destination: str | None
    skip: str | None = None


@dataclass
class ReplayReport:
    """What a replay run did. ``failed`` records were sent but not acknowledged;
    ``error`` is the first such failure."""

    run_id: str
    replayed: int = 0
    failed: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    by_destination: Counter[str] = field(default_factory=Counter)
    error: str = ""


async def _replayed_refs(settings: Settings, topic: str, since: datetime | None) -> set[DlqRef]:
    """Refs named by ``__switchboard.replay.from`` headers on ``topic``,
    scanning only records stamped at or after ``since`` (all when None)."""
    refs: set[DlqRef] = set()
    partitions = await partitions_of(settings, topic) or []
    async with kafka.connect(settings, _reader(settings)) as consumer:
        tps = [TopicPartition(topic, p) for p in partitions]
        starts: dict[TopicPartition, int | None] = dict.fromkeys(tps)
        if since is not None and tps:
            stamp = int((since - _MARKER_SLACK).timestamp() * 1000)
            found = await consumer.offsets_for_times(dict.fromkeys(tps, max(0, stamp)))
            # None: nothing stamped that late, so no marker to find there.
            starts = {tp: (meta.offset if meta else -1) for tp, meta in found.items()}
        for tp, start in starts.items():
            if start == -1:
                continue
            async with contextlib.aclosing(_read_partition(consumer, tp, start=start)) as raws:
                async for raw in raws:
                    for name, value in raw.headers or ():
                        if name == REPLAY_FROM:
                            # A foreign or damaged marker is not ours to honour.
                            with contextlib.suppress(DlqInputError):
                                refs.add(DlqRef.parse(bytes(value).decode("utf-8", "replace")))
    return refs


def dlq_source(dlq_topic: str) -> str | None:
    """The topic a DLQ topic belongs to (``<topic>`` of ``<topic>.dlq``), or
    None for a name without the suffix."""
    source = dlq_topic.removesuffix(DLQ_SUFFIX)
    return source if source and source != dlq_topic else None


def _default_destination(record: DlqRecord) -> tuple[str | None, str | None]:
    """(destination, skip) without ``--to``: the DLQ topic's source, and only
    when the error headers agree. The headers are written by whoever can
    write the DLQ topic, so they may confirm the destination but never
    choose it; a disagreement is skipped, never followed."""
    source = dlq_source(record.ref.topic)
    if record.errors is None or source is None:
        return None, SKIP_NO_DESTINATION
    if record.errors.original_topic != source:
        return None, SKIP_FOREIGN_TOPIC
    return source, None


def _destination(settings: Settings, name: str, existing: set[str]) -> str:
    """``--to`` as the topics are named for reading: with the prefix first."""
    prefixed = TopicNames.from_settings(settings).prefix + name
    if prefixed in existing:
        return prefixed
    if name in existing:
        return name
    raise DlqInputError(
        f"destination topic {name} does not exist; "
        "create it (`switchboard topics create`) or choose another with --to"
    )


async def plan_replay(
    settings: Settings,
    records: Iterable[DlqRecord],
    *,
    to: str | None = None,
    skip_replayed: bool = False,
) -> list[ReplayItem]:
    """Decide, for each selected record, its destination: ``to`` when given
    (tried with the settings' topic prefix first, then as given), else the
    source of the DLQ topic it is read from (``<topic>`` of ``<topic>.dlq``).

    Marked as skipped: a ref seen before in this plan (a run never replays a
    record twice); without ``to``, a record without valid error headers
    (:data:`SKIP_NO_DESTINATION`) and one whose headers name another
    original topic than the source (:data:`SKIP_FOREIGN_TOPIC`: anyone able
    to write a DLQ topic writes its headers, so they never pick where a
    record goes; ``to`` is how to send it elsewhere); and with ``skip_replayed``
    a record whose ref is already named by a ``__switchboard.replay.from``
    header on its destination (replayed there by an earlier run).

    Raises :class:`DlqInputError` if a destination topic does not exist or
    is the DLQ topic the record is read from.
    """
    existing = await existing_topics(settings)
    if to is not None:
        to = _destination(settings, to, existing)
    items: list[ReplayItem] = []
    seen: set[DlqRef] = set()
    for record in records:
        destination, skip = (to, None) if to is not None else _default_destination(record)
        if record.ref in seen:
            skip = SKIP_DUPLICATE
        seen.add(record.ref)
        items.append(ReplayItem(record, destination, skip))

    live = [i for i in items if i.skip is None and i.destination is not None]
    destinations = sorted({i.destination for i in live if i.destination})
    for item in live:
        if item.destination == item.record.ref.topic:
            raise DlqInputError(f"cannot replay {item.record.ref} into its own DLQ topic")
    missing = [d for d in destinations if d not in existing]
    if missing:
        raise DlqInputError(
            f"destination topic {missing[0]} does not exist; "
            "create it (`switchboard topics create`) or choose another with --to"
        )
    if skip_replayed and live:
        earliest = min(i.record.failed_at for i in live)
        done = {d: await _replayed_refs(settings, d, earliest) for d in destinations}
        items = [
            ReplayItem(i.record, i.destination, SKIP_REPLAYED)
            if i.skip is None and i.destination and i.record.ref in done[i.destination]
            else i
            for i in items
        ]
    return items


def parse_rate(text: str) -> float:
    """``50``, ``50/s``, ``2.5/s``, ``600/m`` -> records per second (> 0).
    Raises :class:`DlqInputError`."""
    number, _, unit = text.strip().partition("/")
    per = {"": 1.0, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}.get(unit.strip())
    try:
        rate = float(number)
    except ValueError:
        rate = -1.0
    if per is None or not rate > 0 or rate == float("inf"):
        raise DlqInputError(f"--rate {text!r}: expected records per second, e.g. 50 or 50/s")
    return rate / per


async def replay(
    settings: Settings,
    plan: Iterable[ReplayItem],
    *,
    run_id: str | None = None,
    rate: float | None = None,
    on_progress: Callable[[int], None] | None = None,
    sleep: Sleep = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> ReplayReport:
    """Produce every non-skipped item of ``plan`` to its destination, with
    the original key and value, :func:`replay_headers` and a fresh timestamp,
    at most ``rate`` records per second (paced with ``sleep`` against
    ``clock``; never a blocking sleep). ``on_progress(1)`` is called as each
    record is acknowledged.

    The producer is idempotent with ``acks=all``; the report counts a record
    as replayed only once Kafka acknowledged it, and as failed when Kafka
    refused it (the run goes on; the first error is kept in the report). The value, and so a
    command's id, is unchanged: a sink that already executed it answers
    from its idempotency key or ledger instead of calling the provider again.
    """
    report = ReplayReport(run_id=run_id or new_id())
    items = list(plan)
    for item in items:
        if item.skip:
            report.skipped[item.skip] += 1
    todo = [i for i in items if i.skip is None and i.destination]
    if not todo:
        return report
    bucket = TokenBucket(rate, 1.0, clock=clock) if rate else None
    pending: list[tuple[ReplayItem, asyncio.Future[object]]] = []

    def acked(future: asyncio.Future[object]) -> None:
        if on_progress is not None and not future.cancelled() and future.exception() is None:
            on_progress(1)

    async def settle() -> None:
        for item, future in pending:
            try:
                await future
            except Exception as exc:  # counted and reported; the run goes on
                report.failed += 1
                report.error = report.error or f"{type(exc).__name__}: {exc}"
            else:
                report.replayed += 1
                report.by_destination[item.destination or ""] += 1
        pending.clear()

    async with kafka.connect(settings, kafka.producer(settings)) as producer:
        for item in todo:
            if bucket is not None:
                while (wait := bucket.take()) > 0:
                    await sleep(wait)
            try:
                future = await producer.send(
                    item.destination or "",
                    value=item.record.value,
                    key=item.record.key,
                    headers=replay_headers(item.record, report.run_id, datetime.now(UTC)),
                )
            except KafkaError as exc:  # e.g. a record too large: counted, the run goes on
                report.failed += 1
                report.error = report.error or f"{type(exc).__name__}: {exc}"
                continue
            future.add_done_callback(acked)
            pending.append((item, future))
            if len(pending) >= _ACK_WINDOW:
                await settle()
        await settle()
    return report


__all__ = [
    "REPLAY_AT",
    "REPLAY_FROM",
    "REPLAY_HEADER_PREFIX",
    "REPLAY_ID",
    "SKIP_DUPLICATE",
    "SKIP_FOREIGN_TOPIC",
    "SKIP_NO_DESTINATION",
    "SKIP_REPLAYED",
    "ReplayItem",
    "ReplayReport",
    "dlq_source",
    "parse_rate",
    "plan_replay",
    "replay",
    "replay_headers",
]
