"""The consumer fixes of our faust transport (streams/_faust_transport.py):
what aiokafka drains follows faust's active partitions at drain time, never
"everything" when none is active, and holds stream records back while faust
rebalances; and seeking to the committed offsets also
rewinds partitions that have none."""

from __future__ import annotations

from collections import OrderedDict
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.consumer.fetcher import Fetcher, FetchResult

STREAM = TopicPartition("x.stripe.ingest", 1)
OTHER = TopicPartition("x.stripe.ingest", 2)
CHANGELOG = TopicPartition("x.switchboard-worker-dedup-stripe-changelog", 1)


def fetcher_holding(*tps: TopicPartition) -> Fetcher:
    """An aiokafka Fetcher with one fetched record buffered per partition."""
    fetcher = object.__new__(Fetcher)
    fetcher._subscriptions = SimpleNamespace(
        reassignment_in_progress=False, is_assigned=lambda tp: True
    )
    fetcher._wait_consume_future = None
    fetcher._records = OrderedDict()
    for tp in tps:
        result = object.__new__(FetchResult)
        result.getall = lambda max_records=None, tp=tp: [f"record of {tp.partition}"]
        result.has_more = lambda: False
        fetcher._records[tp] = result
    return fetcher


async def test_aiokafka_reads_an_empty_filter_as_every_partition() -> None:
    # The defect the filter guards against: faust passes its live set of
    # active partitions, which a rebalance empties while aiokafka waits.
    drained = await fetcher_holding(STREAM).fetched_records(set(), timeout=0)
    assert list(drained) == [STREAM]


def faust_consumer() -> SimpleNamespace:
    return SimpleNamespace(
        flow_active=True,
        app=SimpleNamespace(rebalancing=False),
        _is_changelog_tp=lambda tp: "changelog" in tp.topic,
    )


async def test_filter_follows_the_active_partitions_when_draining() -> None:
    from streams.kafka.faust_transport import _Fetchable

    consumer = faust_consumer()
    active: set[Any] = set()
    fetcher = fetcher_holding(STREAM, OTHER)
    fetchable = _Fetchable(consumer, active)
    assert fetchable  # never falsy: aiokafka would take every partition
    assert await fetcher.fetched_records(fetchable, timeout=0) == {}
    active.add(STREAM)  # resumed while the request was queued
    assert list(await fetcher.fetched_records(fetchable, timeout=0)) == [STREAM]
    active.add(OTHER)
    consumer.flow_active = False  # a rebalance stopped the flow
    assert await fetcher.fetched_records(fetchable, timeout=0) == {}
    assert OTHER in fetcher._records  # kept for later, not handed out


async def test_filter_holds_stream_records_back_until_the_rebalance_ends() -> None:
    from streams.kafka.faust_transport import _Fetchable

    consumer = faust_consumer()
    consumer.app.rebalancing = True  # recovery: changelogs read, streams resumed
    fetcher = fetcher_holding(STREAM, CHANGELOG)
    fetchable = _Fetchable(consumer, {STREAM, CHANGELOG})
    assert list(await fetcher.fetched_records(fetchable, timeout=0)) == [CHANGELOG]
    assert list(fetchable) == [CHANGELOG]
    consumer.app.rebalancing = False  # sought to committed, flow resumed
    assert list(await fetcher.fetched_records(fetchable, timeout=0)) == [STREAM]


class FakeAiokafkaConsumer:
    def __init__(self, committed: dict[TopicPartition, int | None]) -> None:
        self.committed = committed
        self.to_beginning: list[TopicPartition] = []
        self.seeks: dict[TopicPartition, int] = {}

    async def seek_to_committed(self) -> dict[TopicPartition, int | None]:
        return dict(self.committed)

    async def seek_to_beginning(self, *tps: TopicPartition) -> None:
        self.to_beginning.extend(tps)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks[tp] = offset


def consumer_thread(fake: FakeAiokafkaConsumer, reset: str = "earliest") -> Any:
    from streams.kafka.faust_transport import ConsumerThread

    thread = object.__new__(ConsumerThread)
    thread._consumer = fake
    thread.app = SimpleNamespace(conf=SimpleNamespace(consumer_auto_offset_reset=reset))  # type: ignore[assignment]
    thread.consumer = SimpleNamespace(_is_changelog_tp=lambda tp: "changelog" in tp.topic)  # type: ignore[assignment]
    return thread


async def test_seek_to_committed_rewinds_partitions_never_committed() -> None:
    fake = FakeAiokafkaConsumer({STREAM: None, OTHER: 0, CHANGELOG: None})
    committed = await consumer_thread(fake)._seek_to_committed()
    assert committed == {STREAM: None, OTHER: 0, CHANGELOG: None}  # as faust expects
    assert fake.to_beginning == [STREAM]  # changelogs are positioned by table recovery
    assert fake.seeks == {OTHER: 0}


async def test_seek_to_committed_leaves_latest_alone() -> None:
    fake = FakeAiokafkaConsumer({STREAM: None, OTHER: 7})
    await consumer_thread(fake, reset="latest")._seek_to_committed()
    assert fake.to_beginning == []
    assert fake.seeks == {}


def test_a_topic_whose_partitions_are_not_known_yet_is_not_a_mismatch() -> None:
    """faust checks a table's changelog against its source topic on the first
    write; a changelog created a moment ago shows 0 partitions in the
    consumer's metadata, and faust's PartitionsMismatch then killed the dedup
    agent (duplicates got through). 0 reads as "not known yet"; a real count
    is passed on, so a real mismatch is still one."""
    from faust.tables.base import Collection

    from streams.kafka.faust_transport import known_partitions

    snapshot = {"t.ingest": 3, "app-dedup-t-changelog": 0}
    assert known_partitions(snapshot, "app-dedup-t-changelog") is None
    assert known_partitions(snapshot, "t.ingest") == 3
    assert known_partitions(snapshot, "absent") is None

    class _Table:  # what Collection._verify_source_topic_partitions reads
        changelog_topic_name = "app-dedup-t-changelog"
        name = "dedup-t"
        _verified_source_topics_for_partitions: set[str] = set()
        app = SimpleNamespace(
            consumer=SimpleNamespace(topic_partitions=lambda t: known_partitions(snapshot, t))
        )

    Collection._verify_source_topic_partitions(_Table(), "t.ingest")  # type: ignore[arg-type]
    snapshot["app-dedup-t-changelog"] = 6
    _Table._verified_source_topics_for_partitions = set()
    from faust.exceptions import PartitionsMismatch

    with pytest.raises(PartitionsMismatch):
        Collection._verify_source_topic_partitions(_Table(), "t.ingest")  # type: ignore[arg-type]
