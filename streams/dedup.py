"""The dedup processor: ``<c>.ingest`` -> ``<c>.events``, one event per id.

One faust agent per connector reads ``<c>.ingest`` (keyed by the Event's
``dedup_key``, so every copy of one event lands on the same partition) and
keeps, in a changelog-backed table keyed the same way, when each key was
first seen. A record whose key was seen within the retention window
(default 7 days) is dropped; any other is forwarded to ``<c>.events`` keyed
by subject.

The key is the provider event id, except for providers that sign no id
(GitHub, Shopify, Twilio, a generic HMAC without ``{id}``): their Events
carry ``bodydigest``, the SHA-256 of the signed body, and dedup keys on that,
so a captured delivery replayed under a new (unsigned) id or event type is
dropped like a retry. A digest, not "id and digest": the table is
partitioned like its input, and only one key can decide the partition, so
a second lookup on a key of another partition would miss on every worker
but the one owning both.

Bounds (:mod:`streams._seen`): an entry older than the window counts as
unseen, and after each write the partition's entries past the window or
past ``worker.dedup_max_ids`` (oldest first) are deleted from the table, in
the partition the key lives in (what a faust table needs). The changelog
is compacted and also deleted past the window, so restoring reads about the
live entries.

Processing guarantee: at-least-once into the table, with a fixed order per
record: the event is sent and acknowledged first, then the table entry is
written, then (later, in batches) the offset is committed. A crash therefore
never loses an event; the only duplicates it can cause are records past the
crashed worker's last committed offset whose event was acknowledged but
whose table entry was not yet — re-processing them after the restart or
rebalance forwards them again. (faust's ``exactly_once`` would close that
window, but with more than one worker its transactional producers are
fenced after a rebalance and the app crashes; see the README.)

A record on ``<c>.ingest`` that is not a valid Event is dead-lettered to
``<c>.ingest.dlq`` with the error headers, and processing continues.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from prometheus_client import Counter

from core.envelopes import DlqHeaders, EnvelopeError, Event

from ._seen import SeenBounds, seen_at
from .kafka.topics import TopicNames, replication_config
from .settings import Settings

__all__ = ["DedupProbe", "dedup_readiness", "register_dedup"]

log = logging.getLogger(__name__)

DEDUP = Counter(
    "switchboard_dedup_total", "Ingest records by connector and outcome", ["connector", "outcome"]
)
DEDUP_FORGOTTEN = Counter(
    "switchboard_dedup_forgotten_total",
    "Seen ids dropped from the dedup table (past the window or the per-partition cap)",
    ["connector"],
)


def register_dedup(app: Any, settings: Settings, connector: str) -> Any:
    """Add the dedup agent for ``connector`` to the faust ``app``."""
    names = TopicNames.from_settings(settings)
    retention = settings.worker.dedup_retention_s
    ingest_name = names.ingest(connector)
    ingest = app.topic(ingest_name, key_serializer="raw", value_serializer="raw")
    events_name = names.events(connector)
    dlq_name = names.dlq(ingest_name)
    seen = app.Table(
        f"dedup-{connector}",
        default=None,
        key_type=bytes,
        value_type=str,
        partitions=settings.kafka.partitions,
        help=f"first-seen time of each {connector} event id",
        extra_topic_configs={**replication_config(settings), **changelog_config(retention)},
    )
    bounds = SeenBounds(
        seen, retention, settings.worker.dedup_max_ids, lambda: int(app.rebalancing_count)
    )

    async def dedup(stream: Any) -> None:
        async for record in stream.events():
            message = record.message
            key: bytes | None = message.key
            value: bytes | None = message.value
            now = time.time()
            try:
                event = Event.from_json(value or b"")
            except EnvelopeError as exc:
                await _dead_letter(app, dlq_name, message, connector, exc)
                DEDUP.labels(connector, "dead_lettered").inc()
                continue
            # bodydigest first: a record keyed by id (an older ingest server)
            # still dedups on the digest, on the worker that owns both keys
            event_id = event.bodydigest.encode() if event.bodydigest else key or event.id.encode()
            previous = seen.get(event_id)
            if previous is not None and now - seen_at(previous) < retention:
                DEDUP.labels(connector, "duplicate").inc()
                continue
            await send_with_input(
                app,
                message,
                events_name,
                event.key.encode(),
                value,
                [("content-type", Event.CONTENT_TYPE.encode())],
            )
            # Only after the event is acknowledged: a crash in between can
            # duplicate this event, never lose it.
            evicted = bounds.record(event_id, message.partition, now)
            DEDUP.labels(connector, "forwarded").inc()
            if evicted:
                DEDUP_FORGOTTEN.labels(connector).inc(evicted)

    return app.agent(ingest, name=f"dedup-{connector}")(dedup)


def dedup_readiness(app: Any) -> tuple[bool, str]:
    """Whether the dedup agents of ``app`` can judge duplicates, and why not.

    Not ready until the app's first rebalance has ended, and again during
    every later one: faust (``faust.tables.recovery``) sets
    ``app.rebalancing`` when a rebalance starts and clears it only in
    ``on_rebalance_end``, after the assigned partitions' tables are restored
    from their changelogs and the streams are seeked to their committed
    offsets; ``app.in_recovery`` is true while it reads the changelogs.
    Before that an event could be judged against a half-restored table.
    """
    if app.in_recovery:
        remaining = app.tables.recovery.active_remaining_total()
        return False, f"recovering tables ({remaining} changelog records to read)"
    if app.rebalancing_count == 0:
        return False, "waiting for partitions"
    if app.rebalancing:
        return False, "recovering tables (rebalancing)"
    return True, "tables restored"


def changelog_config(retention_s: float) -> dict[str, str]:
    """The seen-ids changelog: compacted (one record per live key, deletions
    tombstoned) and also deleted past the window, in segments of at most an
    hour, so a restore reads about the live ids, never the whole history."""
    window_ms = int(retention_s * 1000)
    return {
        "cleanup.policy": "compact,delete",
        "retention.ms": str(window_ms),
        "segment.ms": str(min(window_ms, 3_600_000)),
    }


class DedupProbe:
    """The stall watchdog's view of the dedup agents' faust consumer
    (:class:`streams.watchdog.StallProbe`): the assigned ingest partitions,
    all excused while faust rebalances or restores tables."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def assigned(self) -> set[Any]:
        changelogs = self.app.tables.changelog_topics
        return {tp for tp in self.app.consumer.assignment() if tp.topic not in changelogs}

    def excused(self) -> set[Any]:
        app = self.app
        holding = app.in_recovery or app.rebalancing or app.rebalancing_count == 0
        return self.assigned() if holding else set()

    async def positions(self, tps: Any) -> dict[Any, int | None]:
        return {tp: await self.app.consumer.position(tp) for tp in tps}

    async def end_offsets(self, tps: Any) -> dict[Any, int]:
        return dict(await self.app.consumer.highwaters(*tps))

    async def recover(self, tp: Any, position: int) -> None:
        consumer = self.app.consumer
        consumer.resume_partitions([tp])  # faust's active set (faust-streaming#629)
        await consumer._thread.recover_partition(tp, position)  # aiokafka's pause


async def send_with_input(
    app: Any,
    message: Any,
    topic: str,
    key: bytes | None,
    value: bytes | None,
    headers: list[tuple[str, bytes]],
    timestamp: float | None = None,
) -> None:
    """Produce ``value`` as part of the work on ``message``.

    Under exactly-once the record goes into the transaction of the input
    record's partition, the one faust commits that partition's offset and
    the table's changelog in. (faust's own ``topic.send`` picks the
    transaction of the *output* partition, which is only right when output
    and input partitions match; the events topic is re-keyed by subject, so
    they do not, and a killed worker could leave an event committed whose
    offset and table entry were rolled back.) The transactional producer
    chooses the output partition from the key, as any producer would.
    """
    if app.in_transaction:
        group = app.assignor.group_for_topic(message.topic)
        transactional_id = f"{app.conf.id}-{group}-{message.partition}"
        producer = app.consumer.transactions.producer
        fut = await producer.send(
            topic, key, value, None, timestamp, headers, transactional_id=transactional_id
        )
    else:
        fut = await app.producer.send(topic, key, value, None, timestamp, headers)
    await fut


async def _dead_letter(app: Any, dlq: str, message: Any, connector: str, exc: Exception) -> None:
    headers = DlqHeaders(
        original_topic=message.topic,
        original_partition=message.partition,
        original_offset=message.offset,
        connector=connector,
        stage="dedup",
        reason="invalid_event",
        error_class=type(exc).__name__,
        error_message=str(exc),
        attempts=1,
    ).to_headers()
    original = list(message.headers or [])
    await send_with_input(
        app, message, dlq, message.key, message.value, original + headers, message.timestamp
    )
