"""The poller against a real broker and a real HTTP sandbox (demo datasets).

The stream is a small declared one over the demo sandbox's cursor-paged
dataset; the connector object is the generic connector's (its topics).
These tests check the poller's own promises: a page's cursor is stored only
after its records are acknowledged, a run resumes at the page after the last
stored cursor, a repeated page token stops the stream with an error, 429s
slow a poll without losing anything, a CLI change is applied and echoed,
and streams moving between two pollers of one group are not polled again.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

import connectors
from core.apicall import ClientSetup
from core.client import ClientPolicy
from core.envelopes import Event
from core.pagination import CursorPaginator
from core.poll import Cursor, PollStream, max_mark
from core.retry import RetryPolicy
from core.testing import DemoSandbox
from streams import kafka
from streams.kafka.topics import TopicNames, connector_topics, ensure_topics, shared_topics
from streams.offsets.cursors import CursorRecord, partition_for
from streams.poll import Poller, PollTarget
from streams.settings import Settings
from tests.kafkatools import read_topic
from tests.waiting import eventually

pytestmark = pytest.mark.integration

ITEMS = 95
STREAM_ID = "generic.items"


def to_events(record: Any) -> Sequence[Event]:
    return [
        Event(
            id=f"item-{record['id']}",
            source="switchboard/generic",
            type="generic.item.listed",
            provider="generic",
            delivery="poll",
            data=record,
        )
    ]


def items_stream(interval_s: float = 3600.0, name: str = "items") -> PollStream:
    return PollStream(
        name=name,
        path="/datasets/items/cursor",
        paginator=lambda: CursorPaginator(limit=10, has_more_path="has_more"),
        to_events=to_events,
        advance=max_mark("id"),
        interval_s=interval_s,
    )


@pytest.fixture
async def sandbox() -> AsyncIterator[DemoSandbox]:
    async with DemoSandbox(items=ITEMS) as sb:
        yield sb


@pytest.fixture
async def env(prefixed_settings: Settings) -> Settings:
    await ensure_topics(
        prefixed_settings,
        shared_topics(prefixed_settings) + connector_topics(prefixed_settings, "generic"),
    )
    fast_retry = prefixed_settings.poll.model_copy(
        update={"retry_min_s": 0.2, "retry_max_s": 1, "jitter": 0}
    )
    return prefixed_settings.model_copy(update={"poll": fast_retry})


def target(sandbox: DemoSandbox, stream: PollStream | None = None, **policy: Any) -> PollTarget:
    client_policy = ClientPolicy(
        connector="generic",
        base_url=sandbox.url,
        retry=RetryPolicy(attempts=2, initial_delay=0.01, max_delay=0.05, deadline=5),
        **policy,
    )
    setup = ClientSetup(client_policy)
    return PollTarget(connectors.get("generic"), stream or items_stream(), setup)


async def cursor_records(settings: Settings) -> list[CursorRecord]:
    records = await read_topic(settings, TopicNames.from_settings(settings).cursors)
    return [CursorRecord.from_json(r.value) for r in records if r.key == STREAM_ID.encode()]


class Running:
    def __init__(self, poller: Poller) -> None:
        self.poller = poller
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Poller:
        self.task = asyncio.create_task(self.poller.run())
        await asyncio.wait_for(self.poller.started.wait(), 30)
        return self.poller

    async def __aexit__(self, *exc: object) -> None:
        self.poller.stop()
        assert self.task is not None
        await asyncio.wait_for(self.task, 30)


async def ingest_ids(settings: Settings, expect: int | None = None) -> list[str]:
    topic = TopicNames.from_settings(settings).ingest("generic")
    return [r.key.decode() for r in await read_topic(settings, topic, expect=expect, timeout=30)]


async def test_a_poll_produces_every_record_and_stores_a_cursor_per_page(
    env: Settings, sandbox: DemoSandbox
) -> None:
    async with Running(Poller(env, [target(sandbox)])):
        ids = await ingest_ids(env, expect=ITEMS)

        async def finished() -> list[CursorRecord]:
            records = await cursor_records(env)
            return records if records and not records[-1].cursor.in_run else []

        records = await eventually(finished)
    assert sorted(ids) == sorted(f"item-{i}" for i in range(1, ITEMS + 1))
    assert len(ids) == ITEMS
    assert [r.pages for r in records] == list(range(1, 11))
    assert records[-1].cursor.mark == ITEMS
    assert all(r.origin == "poller" and r.status == "ok" for r in records)


async def test_a_stored_mid_run_cursor_resumes_at_the_next_page(
    env: Settings, sandbox: DemoSandbox
) -> None:
    # A worker died after page 4's cursor was stored: the next owner starts at page 5.
    stream = items_stream()
    first_pages = [p async for p in _pages(stream, sandbox, 4)]
    stored = CursorRecord(STREAM_ID, cursor=first_pages[-1].cursor)
    names = TopicNames.from_settings(env)
    async with kafka.connect(env, kafka.producer(env)) as producer:
        partitions = len(await producer.partitions_for(names.cursors))
        await producer.send_and_wait(
            names.cursors,
            stored.to_json(),
            key=STREAM_ID.encode(),
            partition=partition_for(STREAM_ID, partitions),
        )
    async with Running(Poller(env, [target(sandbox)])):
        ids = await ingest_ids(env, expect=ITEMS - 40)

        async def finished() -> bool:
            records = await cursor_records(env)
            return records[-1].cursor.mark == ITEMS and not records[-1].cursor.in_run

        await eventually(finished)
    assert sorted(ids) == sorted(f"item-{i}" for i in range(41, ITEMS + 1))
    assert len(ids) == ITEMS - 40  # no page before the stored cursor was polled again


async def _pages(stream: PollStream, sandbox: DemoSandbox, n: int) -> AsyncIterator[Any]:
    from core.client import ProviderClient
    from core.poll import poll_run

    async with ProviderClient(ClientPolicy(connector="generic", base_url=sandbox.url)) as client:
        async for page in poll_run(stream, client, Cursor()):
            yield page
            if page.number == n:
                return


async def test_a_repeated_page_token_stops_the_stream_with_an_error(
    env: Settings, sandbox: DemoSandbox
) -> None:
    sandbox.repeat_cursor = True
    async with Running(Poller(env, [target(sandbox)])) as poller:

        async def failed() -> CursorRecord | None:
            records = await cursor_records(env)
            return records[-1] if records and records[-1].status == "failed" else None

        record = await eventually(failed)
        assert "already fetched" in (record.error or "")
        health = poller.health()[f"poll:{STREAM_ID}"]
        assert health[0] is False
        requests = len(sandbox.requests_to("/datasets/items/cursor"))
        assert requests == 2  # it stopped; it did not loop
    assert sorted(await ingest_ids(env)) == sorted(f"item-{i}" for i in range(1, 21))


async def test_429s_slow_the_poll_and_lose_nothing(env: Settings, sandbox: DemoSandbox) -> None:
    sandbox.throttle_next(6, retry_after=1)
    async with Running(Poller(env, [target(sandbox)])):
        ids = await ingest_ids(env, expect=ITEMS)

        async def done() -> bool:
            records = await cursor_records(env)
            return bool(records) and records[-1].cursor.mark == ITEMS

        await eventually(done)
        statuses = {r.status for r in await cursor_records(env)}
    assert sorted(set(ids)) == sorted(f"item-{i}" for i in range(1, ITEMS + 1))
    assert "throttled" in statuses  # the run stopped and was tried again later
    assert "failed" not in statuses


async def test_a_cli_change_is_applied_between_pages_and_echoed(
    env: Settings, sandbox: DemoSandbox
) -> None:
    async with Running(Poller(env, [target(sandbox)])):
        await ingest_ids(env, expect=ITEMS)
        names = TopicNames.from_settings(env)
        change = CursorRecord(STREAM_ID, cursor=Cursor(), origin="cli", request="r1")
        async with kafka.connect(env, kafka.producer(env)) as producer:
            partitions = len(await producer.partitions_for(names.cursors))
            await producer.send_and_wait(
                names.cursors,
                change.to_json(),
                key=STREAM_ID.encode(),
                partition=partition_for(STREAM_ID, partitions),
            )

        async def echoed() -> bool:
            return any(
                r.origin == "poller" and r.request == "r1" for r in await cursor_records(env)
            )

        await eventually(echoed)
        # The reset cursor has no mark: the stream reads everything again.
        ids = await ingest_ids(env, expect=2 * ITEMS)
    assert len(ids) == 2 * ITEMS


def names_over(partitions: int, per_partition: int = 2) -> list[str]:
    """Stream names whose ids fill every cursors partition."""
    found: dict[int, list[str]] = {p: [] for p in range(partitions)}
    n = 0
    while any(len(names) < per_partition for names in found.values()):
        bucket = found[partition_for(f"generic.items{n}", partitions)]
        if len(bucket) < per_partition:
            bucket.append(f"items{n}")
        n += 1
    return sorted(name for names in found.values() for name in names)


async def test_streams_moving_between_two_pollers_are_not_polled_again(
    env: Settings, sandbox: DemoSandbox, unique: str
) -> None:
    # Streams are hour-long: a new owner that read the stored state on
    # assignment waits out the interval of a stream polled a moment ago.
    names = names_over(env.kafka.partitions)
    ids = {f"generic.{n}" for n in names}
    group = f"{env.kafka.topic_prefix}poll-{unique}"
    streams = [target(sandbox, items_stream(name=n)) for n in names]
    first, second = Poller(env, streams, group_id=group), Poller(env, streams, group_id=group)

    async def settled() -> bool:
        latest = {}
        for r in await read_topic(env, TopicNames.from_settings(env).cursors):
            record = CursorRecord.from_json(r.value)
            latest[record.stream] = record
        return set(latest) == ids and all(
            r.status == "ok" and r.cursor.mark == ITEMS and not r.cursor.in_run
            for r in latest.values()
        )

    async def first_owns_all() -> bool:
        return set(first.owned()) == ids

    async def split() -> bool:
        return bool(first.owned()) and bool(second.owned())

    async with Running(first):
        await eventually(first_owns_all)
        await eventually(settled)
        async with Running(second):
            await eventually(split)
            assert set(first.owned()) | set(second.owned()) == ids
            assert not set(first.owned()) & set(second.owned())
        await eventually(first_owns_all)  # the second left: its streams came back
    polled = Counter(await ingest_ids(env))
    assert polled == Counter({f"item-{i}": len(names) for i in range(1, ITEMS + 1)})
