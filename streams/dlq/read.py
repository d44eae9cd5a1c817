"""Reading dead-letter topics: records, refs, filters, time parsing, stats.

Public names are re-exported by :mod:`streams.dlq`; see its docstring for
the contracts.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from core.envelopes import DLQ_HEADER_PREFIX, DlqHeaders, EnvelopeError

from .. import kafka
from ..kafka.topics import TopicNames, existing_topics, partitions_of
from ..settings import Settings

__all__ = [
    "DLQ_SUFFIX",
    "DlqError",
    "DlqFilter",
    "DlqInputError",
    "DlqRecord",
    "DlqRef",
    "DlqStats",
    "dlq_stats",
    "dlq_topics",
    "parse_when",
    "read_dlq",
    "read_one",
    "resolve_topics",
]

Headers = tuple[tuple[str, bytes], ...]

DLQ_SUFFIX = ".dlq"
_IDLE_LIMIT = 20  # empty fetches in a row before a partition read gives up (~10 s)


class DlqError(Exception):
    """Root of the DLQ tooling's errors; alone, a failure to read a topic."""


class DlqInputError(DlqError, ValueError):
    """Bad input from the user: unknown topic, bad ref or time, missing record.

    ``str(err)`` is one line meant for a person.
    """


@dataclass(frozen=True, order=True)
class DlqRef:
    """Where a DLQ record lives: ``topic:partition:offset``."""

    topic: str
    partition: int
    offset: int

    def __str__(self) -> str:
        return f"{self.topic}:{self.partition}:{self.offset}"

    @classmethod
    def parse(cls, text: str) -> DlqRef:
        """Parse ``T:P:O`` (what ``dlq list`` prints) or ``T[P]@O`` (what
        ``tail`` prints). Raises :class:`DlqInputError`."""
        text = text.strip()
        match = re.fullmatch(r"(?P<t>[A-Za-z0-9._-]+)\[(?P<p>\d+)\]@(?P<o>\d+)", text)
        if match is None:
            match = re.fullmatch(r"(?P<t>[A-Za-z0-9._-]+):(?P<p>\d+):(?P<o>\d+)", text)
        if match is None:
            raise DlqInputError(
                f"bad record ref {text!r}: expected TOPIC:PARTITION:OFFSET, "
                "e.g. stripe.commands.dlq:0:42"
            )
        return cls(match["t"], int(match["p"]), int(match["o"]))


@dataclass(frozen=True)
class DlqRecord:
    """One record of a DLQ topic, as stored.

    ``errors`` is None when the record's ``__switchboard.errors.*`` headers
    are missing or invalid; ``problem`` then says why.
    """

    ref: DlqRef
    key: bytes | None
    value: bytes | None
    headers: Headers
    timestamp: int  # ms since the epoch, the original record's timestamp
    errors: DlqHeaders | None
    problem: str = ""

    @classmethod
    def from_consumer_record(cls, record: ConsumerRecord[bytes, bytes]) -> DlqRecord:
        headers: Headers = tuple((name, bytes(raw)) for name, raw in record.headers or ())
        errors: DlqHeaders | None = None
        problem = ""
        try:
            errors = DlqHeaders.from_headers(headers)
        except EnvelopeError as exc:
            problem = str(exc)
        return cls(
            ref=DlqRef(record.topic, record.partition, record.offset),
            key=record.key,
            value=record.value,
            headers=headers,
            timestamp=record.timestamp,
            errors=errors,
            problem=problem,
        )

    @property
    def original_headers(self) -> Headers:
        """The record's own headers: everything but ``__switchboard.errors.*``."""
        return tuple(h for h in self.headers if not h[0].startswith(DLQ_HEADER_PREFIX))

    @property
    def failed_at(self) -> datetime:
        """When it was dead-lettered (the record timestamp if headers are bad)."""
        if self.errors is not None:
            return self.errors.failed_at
        return datetime.fromtimestamp(self.timestamp / 1000, UTC)


@dataclass(frozen=True)
class DlqFilter:
    """Which DLQ records to select. Empty sets match anything; within a set
    any value matches. Records without valid error headers match only when
    no connector/reason/error-class filter is set."""

    connectors: frozenset[str] = frozenset()
    reasons: frozenset[str] = frozenset()
    error_classes: frozenset[str] = frozenset()
    since: datetime | None = None
    until: datetime | None = None
    refs: frozenset[DlqRef] = frozenset()

    def __post_init__(self) -> None:
        if self.since and self.until and self.since > self.until:
            raise DlqInputError("--since is after --until: nothing could match")

    def matches(self, record: DlqRecord) -> bool:
        if self.refs and record.ref not in self.refs:
            return False
        errors = record.errors
        by_header = (
            (self.connectors, errors.connector if errors else None),
            (self.reasons, errors.reason if errors else None),
            (self.error_classes, errors.error_class if errors else None),
        )
        for wanted, actual in by_header:
            if wanted and actual not in wanted:
                return False
        when = record.failed_at
        if self.since is not None and when < self.since:
            return False
        return self.until is None or when < self.until


_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_when(text: str, *, now: datetime | None = None, option: str = "--since") -> datetime:
    """An absolute time from ISO 8601 (``2026-11-23``, ``2026-11-23T16:00Z``,
    with an offset or naive = UTC) or a duration ago (``90s``, ``15m``,
    ``2h``, ``7d``, ``1w``, ``1h30m``). Raises :class:`DlqInputError`."""
    text = text.strip()
    now = now or datetime.now(UTC)
    if text and _DURATION_RE.sub("", text) == "":
        seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_RE.findall(text))
        return now - timedelta(seconds=seconds)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise DlqInputError(
            f"{option} {text!r}: expected an ISO 8601 time (2026-11-23T16:00Z) "
            "or a duration ago (15m, 2h, 7d)"
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


async def dlq_topics(settings: Settings) -> list[str]:
    """Every ``*.dlq`` topic on the broker under the settings' topic prefix."""
    prefix = TopicNames.from_settings(settings).prefix
    return sorted(
        t
        for t in await existing_topics(settings)
        if t.endswith(DLQ_SUFFIX) and t.startswith(prefix)
    )


async def resolve_topics(settings: Settings, names: Iterable[str]) -> list[str]:
    """Map user-given names to existing DLQ topics; no names means all of them.

    A name is tried with the topic prefix first, then as given, each with
    ``.dlq`` appended unless it already ends so (``stripe.commands`` finds
    ``<prefix>stripe.commands.dlq``). Raises :class:`DlqInputError` naming
    the first one that matches nothing.
    """
    names = list(dict.fromkeys(names))
    if not names:
        return await dlq_topics(settings)
    existing = await existing_topics(settings)
    prefix = TopicNames.from_settings(settings).prefix
    out: list[str] = []
    for name in names:
        base = name if name.endswith(DLQ_SUFFIX) else name + DLQ_SUFFIX
        found = next((c for c in (prefix + base, base) if c in existing), None)
        if found is None:
            raise DlqInputError(f"DLQ topic {base} does not exist; see `switchboard topics list`")
        if found not in out:
            out.append(found)
    return out


def _reader(settings: Settings) -> AIOKafkaConsumer:
    # No group, no commits: looking at a DLQ never moves anyone's offsets.
    # read_committed: records of aborted transactions were never dead-lettered.
    # A short fetch wait: the reader reassigns partition by partition, and a
    # reassignment waits for the fetch in flight (500 ms by default).
    return kafka.consumer(
        settings, group_id=None, isolation_level="read_committed", fetch_max_wait_ms=50
    )


async def _read_partition(
    consumer: AIOKafkaConsumer, tp: TopicPartition, start: int | None = None
) -> AsyncGenerator[ConsumerRecord[bytes, bytes], None]:
    """Records of ``tp`` from ``start`` (default: the beginning) up to its end
    offset as of the call; records produced later are not waited for.
    Raises :class:`DlqError` when no record arrives for ~10 s before the
    end: a short read would make counts and replays silently incomplete."""
    consumer.assign([tp])
    end = (await consumer.end_offsets([tp]))[tp]
    if start is None:
        await consumer.seek_to_beginning(tp)
    else:
        consumer.seek(tp, start)
    idle, last = 0, -1
    while (position := await consumer.position(tp)) < end:
        # Progress is the position moving: aborted transactions and their
        # markers advance it without yielding records.
        idle, last = (idle + 1, last) if position == last else (0, position)
        if idle >= _IDLE_LIMIT:
            raise DlqError(
                f"reading {tp.topic}:{tp.partition} stalled at offset {position} of {end}"
            )
        batch = await consumer.getmany(tp, timeout_ms=500, max_records=500)
        for record in batch.get(tp, []):
            if record.offset >= end:
                return
            yield record


async def read_dlq(
    settings: Settings,
    topics: Iterable[str],
    flt: DlqFilter | None = None,
    *,
    limit: int | None = None,
) -> AsyncIterator[DlqRecord]:
    """Yield the records of ``topics`` that match ``flt``, topic by topic and
    partition by partition in offset order, up to the end offsets as of the
    start of each partition; stop after ``limit`` matches.

    Never joins a consumer group and never commits. Raises
    :class:`~streams.kafka.KafkaUnavailable` when Kafka cannot be reached
    and :class:`DlqError` when a partition stops delivering before its end.
    """
    flt = flt or DlqFilter()
    wanted_topics = list(dict.fromkeys(topics))
    if flt.refs:
        wanted_topics = [t for t in wanted_topics if t in {r.topic for r in flt.refs}]
    layout = {t: await partitions_of(settings, t) or [] for t in wanted_topics}
    seen = 0
    async with kafka.connect(settings, _reader(settings)) as consumer:
        for topic, partitions in layout.items():
            for partition in partitions:
                if flt.refs and not any(
                    r.topic == topic and r.partition == partition for r in flt.refs
                ):
                    continue
                tp = TopicPartition(topic, partition)
                async with aclosing(_read_partition(consumer, tp)) as raws:
                    async for raw in raws:
                        record = DlqRecord.from_consumer_record(raw)
                        if not flt.matches(record):
                            continue
                        yield record
                        seen += 1
                        if limit is not None and seen >= limit:
                            return


async def read_one(settings: Settings, ref: DlqRef) -> DlqRecord:
    """The record at ``ref``. Raises :class:`DlqInputError` when the topic,
    partition or offset does not exist (or was removed by retention)."""
    # Listing first: a metadata request for a missing topic may create it.
    exists = ref.topic in await existing_topics(settings)
    partitions = await partitions_of(settings, ref.topic) if exists else None
    if partitions is None:
        raise DlqInputError(f"topic {ref.topic} does not exist; see `switchboard topics list`")
    if ref.partition not in partitions:
        raise DlqInputError(
            f"topic {ref.topic} has no partition {ref.partition} "
            f"(it has {', '.join(map(str, partitions))})"
        )
    async with kafka.connect(settings, _reader(settings)) as consumer:
        tp = TopicPartition(ref.topic, ref.partition)
        first = (await consumer.beginning_offsets([tp]))[tp]
        if ref.offset >= first:
            async with aclosing(_read_partition(consumer, tp, start=ref.offset)) as raws:
                async for raw in raws:
                    if raw.offset == ref.offset:
                        return DlqRecord.from_consumer_record(raw)
                    break
    raise DlqInputError(f"no record at {ref} (offsets end or were removed by retention)")


@dataclass
class DlqStats:
    """Counts of DLQ records by reason, error class, connector and topic.
    Records without valid error headers count as ``(invalid headers)``."""

    total: int = 0
    by_reason: Counter[str] = field(default_factory=Counter)
    by_error_class: Counter[str] = field(default_factory=Counter)
    by_connector: Counter[str] = field(default_factory=Counter)
    by_topic: Counter[str] = field(default_factory=Counter)

    def add(self, record: DlqRecord) -> None:
        errors = record.errors
        unknown = "(invalid headers)"
        self.total += 1
        self.by_reason[errors.reason if errors else unknown] += 1
        self.by_error_class[errors.error_class if errors else unknown] += 1
        self.by_connector[errors.connector if errors else unknown] += 1
        self.by_topic[record.ref.topic] += 1


async def dlq_stats(
    settings: Settings, topics: Iterable[str], flt: DlqFilter | None = None
) -> DlqStats:
    """Tally every record of ``topics`` matching ``flt``."""
    stats = DlqStats()
    async for record in read_dlq(settings, topics, flt):
        stats.add(record)
    return stats
