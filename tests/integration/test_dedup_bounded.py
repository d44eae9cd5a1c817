"""The dedup table past its bound, against the real broker: an id within the
bound is still dropped, live and after a restart that restores the table
from its changelog; an id past it is forwarded again, as the README says
("Bounded state")."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest

from core.envelopes import Event
from streams import kafka
from streams.kafka.topics import TopicNames
from streams.settings import Settings
from tests.integration.test_dedup import dedup_settings, dedup_worker, event
from tests.kafkatools import read_topic

pytestmark = pytest.mark.integration

__all__ = ["dedup_settings"]  # the fixture, imported for pytest

BOUND = 10


async def produce_to_partition(settings: Settings, topic: str, events: list[Event]) -> None:
    """As the ingest server writes them (key = event id), all to partition 0:
    one partition, one table bound."""
    async with kafka.connect(settings, kafka.producer(settings)) as producer:
        for e in events:
            await producer.send_and_wait(topic, e.to_json(), key=e.id.encode(), partition=0)


def ids_on(records: list[object]) -> Counter[str]:
    return Counter(Event.from_json(r.value).id for r in records)  # type: ignore[attr-defined]


async def test_a_table_past_its_bound_still_drops_the_ids_within_it(
    dedup_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = dedup_settings.worker.model_copy(update={"dedup_max_ids": BOUND})
    settings = dedup_settings.model_copy(update={"worker": worker})
    names = TopicNames.from_settings(settings)
    ingest, events_topic = names.ingest("stripe"), names.events("stripe")
    run = uuid.uuid4().hex[:6]
    sent = [event(f"evt_{run}_{i}", subject=f"cus_{i}") for i in range(10 * BOUND)]
    newest, oldest = sent[-1], sent[0]
    app_id = f"dedup-bounded-{run}"
    async with dedup_worker(settings, app_id):
        await produce_to_partition(settings, ingest, sent)
        assert len(await read_topic(settings, events_topic, expect=len(sent))) == len(sent)
        # a retried delivery of the newest (within the bound) and of the oldest (past it),
        # then a fresh event: once it is out, both replays were judged
        await produce_to_partition(settings, ingest, [newest, oldest, event(f"evt_{run}_m1")])
        seen = ids_on(await read_topic(settings, events_topic, expect=len(sent) + 2))
    assert seen[newest.id] == 1
    assert seen[oldest.id] == 2
    assert seen[f"evt_{run}_m1"] == 1

    # a new worker of the same app restores the bounded table from the changelog
    async with dedup_worker(settings, app_id):
        middle = sent[len(sent) // 2]
        await produce_to_partition(settings, ingest, [newest, middle, event(f"evt_{run}_m2")])
        seen = ids_on(await read_topic(settings, events_topic, expect=len(sent) + 4))
    assert seen[newest.id] == 1
    assert seen[middle.id] == 2
    assert seen[f"evt_{run}_m2"] == 1
    assert sum(seen.values()) == len(sent) + 4
