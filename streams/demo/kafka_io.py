"""Every Kafka read and write of the demo, in one place: an event produced
and records read back, a command produced raw, the Results of a command,
the events that came after given offsets, a :class:`Watch` of topics as
records arrive, the DLQ records of a run and a poll stream's cursor.

None of these joins a consumer group or commits: the demo only looks."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from aiokafka import ConsumerRecord, TopicPartition

from core.envelopes import Event, Result

from .. import kafka
from ..dlq import DlqFilter, read_dlq
from ..kafka.topics import TopicNames, partitions_of
from ..offsets import cursors_topic, read_states
from ..settings import Settings

__all__ = [
    "PROVIDERS",
    "Watch",
    "cursor_mark",
    "dead_lettered",
    "end_offsets",
    "produce_event",
    "produce_raw",
    "read_back",
    "read_new_events",
    "read_results",
    "start_offsets",
    "wait_until",
    "watching",
]

PROVIDERS = ("stripe", "github", "slack")


async def read_back(
    settings: Settings, topic: str, partition: int, offset: int
) -> ConsumerRecord[bytes, bytes]:
    consumer = kafka.consumer(settings, group_id=None, isolation_level="read_uncommitted")
    async with kafka.connect(settings, consumer):
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, offset)
        record = await consumer.getone()
        return record


async def produce_event(settings: Settings, event: Event) -> tuple[str, int, int]:
    topic = TopicNames.from_settings(settings).events(event.provider)
    async with kafka.connect(settings, kafka.producer(settings)) as producer:
        meta = await producer.send_and_wait(
            topic,
            event.to_json(),
            key=event.key.encode(),
            headers=[("content-type", Event.CONTENT_TYPE.encode())],
        )
    return meta.topic, meta.partition, meta.offset


async def start_offsets(settings: Settings) -> dict[TopicPartition, int]:
    """End offsets of the demo's events topics now: read only what comes after."""
    names = TopicNames.from_settings(settings)
    return await end_offsets(settings, [names.events(provider) for provider in PROVIDERS])


async def read_new_events(
    settings: Settings,
    since: dict[TopicPartition, int],
    expect: int,
    timeout: float = 60,
    *,
    delivery: str = "webhook",
) -> list[tuple[str, Event]]:
    """Events that came by ``delivery`` after ``since`` on the demo's topics:
    wait for ``expect`` of them, then also read anything else already there.
    (The worker's Stripe poll adds events of its own: the sandbox's.)"""
    consumer = kafka.consumer(settings, group_id=None)
    found: list[tuple[str, Event]] = []

    def add(batch: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]) -> None:
        for records in batch.values():
            for record in records:
                event = Event.from_json(record.value or b"")
                if event.delivery == delivery:
                    found.append((record.topic, event))

    async with kafka.connect(settings, consumer):
        consumer.assign(list(since))
        for tp, offset in since.items():
            consumer.seek(tp, offset)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            add(await consumer.getmany(timeout_ms=500))
            if len(found) >= expect:
                break
        # anything that arrived together with the last one (a duplicate would show here)
        add(await consumer.getmany(timeout_ms=1000))
    return found


async def produce_raw(
    settings: Settings, topic: str, results_topic: str, command_id: str, value: bytes
) -> Result:
    """Produce ``value`` to ``topic`` as any Kafka producer could (key =
    ``command_id``, nothing validated) and wait for its Result."""
    partitions = await partitions_of(settings, results_topic) or []
    tps = [TopicPartition(results_topic, p) for p in partitions]
    consumer = kafka.consumer(settings, group_id=None)
    async with kafka.connect(settings, consumer):
        ends = await consumer.end_offsets(tps)
    async with kafka.connect(settings, kafka.producer(settings)) as producer:
        meta = await producer.send_and_wait(topic, value, key=command_id.encode())
    start = ends[TopicPartition(results_topic, meta.partition)]
    found = await read_results(settings, results_topic, meta.partition, start, command_id)
    return found[0]


async def read_results(
    settings: Settings,
    topic: str,
    partition: int,
    start: int,
    command_id: str,
    *,
    wait: bool = True,
    timeout: float = 30,
) -> list[Result]:
    """The Results keyed ``command_id`` on ``topic[partition]`` from ``start``.

    With ``wait``, reads until the first one arrives (TimeoutError after
    ``timeout`` s); without, reads up to the partition's end now.
    """
    tp = TopicPartition(topic, partition)
    consumer = kafka.consumer(settings, group_id=None)
    found: list[Result] = []
    async with kafka.connect(settings, consumer):
        consumer.assign([tp])
        consumer.seek(tp, start)
        end = None if wait else (await consumer.end_offsets([tp]))[tp]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if end is not None and await consumer.position(tp) >= end:
                return found
            if loop.time() > deadline:
                raise TimeoutError(f"no Result for {command_id} on {topic}[{partition}]")
            batch = await consumer.getmany(tp, timeout_ms=500)
            for record in batch.get(tp, []):
                if end is not None and record.offset >= end:
                    return found
                if record.key == command_id.encode():
                    found.append(Result.from_json(record.value or b""))
            if wait and found:
                return found


async def dead_lettered(
    settings: Settings, dlq_topic: str, since: datetime, id_prefix: str
) -> dict[str, str]:
    """Command id -> DLQ reason, for the records of ``dlq_topic`` that failed
    since ``since`` and whose value is a command with an id starting ``id_prefix``."""
    found = {}
    async for record in read_dlq(settings, [dlq_topic], DlqFilter(since=since)):
        try:
            command_id = str(orjson.loads(record.value or b"").get("id"))
        except (orjson.JSONDecodeError, AttributeError):
            continue  # not a command of the demo's
        if command_id.startswith(id_prefix) and record.errors is not None:
            found[command_id] = record.errors.reason
    return found


async def cursor_mark(settings: Settings, stream: str) -> Any:
    """The mark of ``stream``'s latest cursor record (None without one)."""
    topic = await cursors_topic(settings)
    states, _ = await read_states(settings, topic, [stream])
    record = states[stream].record
    return None if record is None else record.cursor.mark


async def end_offsets(settings: Settings, topics: list[str]) -> dict[TopicPartition, int]:
    """The end offsets of every partition of ``topics`` now."""
    tps = []
    for topic in topics:
        tps += [TopicPartition(topic, p) for p in await partitions_of(settings, topic) or []]
    consumer = kafka.consumer(settings, group_id=None)
    async with kafka.connect(settings, consumer):
        return dict(await consumer.end_offsets(tps))


@dataclass
class Watch:
    """Events read from some topics as they arrive (see :func:`watching`):
    ``copies[topic][event id]`` lists every record of that id, in order."""

    consumer: Any
    copies: dict[str, dict[str, list[Event]]] = field(default_factory=dict)

    def of(self, topic: str, event_id: str) -> list[Event]:
        return self.copies.get(topic, {}).get(event_id, [])

    def _add(self, record: ConsumerRecord[bytes, bytes]) -> None:
        try:
            event = Event.from_json(record.value or b"")
        except ValueError:
            return  # not an Event: dedup dead-letters it, nothing of the demo's
        self.copies.setdefault(record.topic, {}).setdefault(event.id, []).append(event)

    async def until(self, done: Callable[[], Awaitable[bool]], timeout: float) -> bool:
        """Read on until ``done()`` (checked after every batch, and at least
        every 0.25 s) or ``timeout`` s; returns whether it was done."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not await done():
            left = deadline - loop.time()
            if left <= 0:
                return False
            batch = await self.consumer.getmany(timeout_ms=int(min(left, 0.25) * 1000) + 1)
            for records in batch.values():
                for record in records:
                    self._add(record)
        return True


@contextlib.asynccontextmanager
async def watching(settings: Settings, since: dict[TopicPartition, int]) -> AsyncIterator[Watch]:
    """A :class:`Watch` of the partitions of ``since``, each from its offset there."""
    consumer = kafka.consumer(settings, group_id=None)
    async with kafka.connect(settings, consumer):
        consumer.assign(list(since))
        for tp, offset in since.items():
            consumer.seek(tp, offset)
        yield Watch(consumer)


async def wait_until(
    done: Callable[[], Awaitable[bool]], timeout: float, every: float = 0.2
) -> bool:
    """Check ``done()`` every ``every`` s until it holds (True) or ``timeout`` s
    have passed (False)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await done():
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(every)
    return True
