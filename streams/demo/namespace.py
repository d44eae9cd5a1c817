"""The demo's own namespace on a broker it shares with the user.

Every name the worker and the CLI derive from settings starts with the
topic prefix: the topics (``<prefix><c>.ingest`` ...), the poll cursors'
topic (``<prefix>switchboard.cursors``, so a cursor the demo writes is never
the user's), the faust app id and with it the dedup group and its changelog
topics, the sink's and the poll's consumer groups. A demo run therefore gets
a prefix of its own under the user's, ``<user prefix>demo.<UTC time>-<run>.``:
nothing a user or an earlier run left on the broker (a backlog on
``stripe.ingest``, old events, a cursor) reaches it, and nothing it writes
reaches theirs. At the end it deletes its topics and groups; a run killed
before that is recognised by its name and deleted by the next run once it
is older than :data:`STALE_AFTER_S`.

aiokafka's admin client (0.14) has no ``delete_consumer_groups``; the
DeleteGroups request it ships in ``aiokafka.protocol.admin`` is sent to each
group's coordinator the way its own ``describe_consumer_groups`` does.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.protocol.admin import DeleteGroupsRequest

from .. import kafka
from ..settings import Settings

__all__ = [
    "STALE_AFTER_S",
    "Namespace",
    "backlog",
    "delete_namespace",
    "interrupted_runs",
    "new_namespace",
    "sink_group",
    "worker_group",
]

STALE_AFTER_S = 30 * 60  # far longer than a demo can take (its waits add up to ~7 min)
_STAMP = "%Y%m%dT%H%M%S"
_RUN = re.compile(r"demo\.(\d{8}T\d{6})-[0-9a-f]{8}\.")


@dataclass(frozen=True)
class Namespace:
    """One demo run's names: ``settings`` are the user's with ``prefix``."""

    prefix: str
    run_id: str
    settings: Settings


def new_namespace(settings: Settings, now: datetime | None = None) -> Namespace:
    """A namespace unique to this run, under the user's topic prefix (a
    shared broker's ACLs may allow that one only)."""
    run_id = uuid.uuid4().hex[:8]
    stamp = (now or datetime.now(UTC)).strftime(_STAMP)
    prefix = f"{settings.kafka.topic_prefix}demo.{stamp}-{run_id}."
    kafka_settings = settings.kafka.model_copy(update={"topic_prefix": prefix})
    return Namespace(prefix, run_id, settings.model_copy(update={"kafka": kafka_settings}))


def worker_group(settings: Settings) -> str:
    """The dedup group: the faust app id (``streams.worker.build_faust_app``)."""
    return f"{settings.kafka.topic_prefix}switchboard-worker"


def sink_group(settings: Settings, connector: str) -> str:
    """The group of ``connector``'s sink (``streams.sink.Sink``)."""
    return f"{settings.kafka.topic_prefix}switchboard-sink-{connector}"


async def interrupted_runs(settings: Settings, now: datetime | None = None) -> list[str]:
    """Prefixes of earlier demo runs under the user's prefix that left topics
    behind and are older than :data:`STALE_AFTER_S` (a run still going is younger)."""
    user = settings.kafka.topic_prefix
    now = now or datetime.now(UTC)
    async with kafka.connect(settings, kafka.admin(settings)) as admin:
        topics = await admin.list_topics()
    found = set()
    for topic in topics:
        if not topic.startswith(user):
            continue
        match = _RUN.match(topic, len(user))
        if match is None:
            continue
        started = datetime.strptime(match.group(1), _STAMP).replace(tzinfo=UTC)
        if (now - started).total_seconds() > STALE_AFTER_S:
            found.add(user + match.group(0))
    return sorted(found)


async def delete_namespace(settings: Settings, prefix: str) -> tuple[int, int]:
    """Delete the topics and the consumer groups named ``prefix...``;
    returns how many of each were deleted. A group that still has members
    (a worker that could not be stopped) is left; it expires on its own."""
    async with kafka.connect(settings, kafka.admin(settings)) as admin:
        topics = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if topics:
            await admin.delete_topics(topics, timeout_ms=30_000)
        groups = [g[0] for g in await admin.list_consumer_groups() if g[0].startswith(prefix)]
        deleted = 0
        for group in groups:
            with contextlib.suppress(KafkaError):
                node = await admin.find_coordinator(group)
                response = await admin._send_request(DeleteGroupsRequest([group]), node)
                deleted += sum(1 for _name, code in response.results if code == 0)
    return len(topics), deleted


async def backlog(settings: Settings, group: str, topics: list[str]) -> str:
    """What ``group`` has not consumed of ``topics`` yet, as one phrase, e.g.
    ``group g: 47,012 of 47,024 record(s) on t not consumed``: the first
    thing to look at when a record does not come out the other side."""
    async with kafka.connect(settings, kafka.admin(settings)) as admin:
        committed = await admin.list_consumer_group_offsets(group)
        described = await admin.describe_topics(topics)
    tps = [TopicPartition(d["topic"], p["partition"]) for d in described for p in d["partitions"]]
    consumer = kafka.consumer(settings, group_id=None)
    async with kafka.connect(settings, consumer):
        starts = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
    phrases = []
    for topic in topics:
        mine = [tp for tp in tps if tp.topic == topic]
        total = sum(ends[tp] - starts[tp] for tp in mine)
        # without a committed offset the group starts at the earliest record
        behind = sum(
            ends[tp] - max(starts[tp], committed[tp].offset if tp in committed else -1)
            for tp in mine
        )
        note = "" if any(tp in committed for tp in mine) else ", nothing committed yet"
        phrases.append(f"{behind:,} of {total:,} record(s) on {topic} not consumed{note}")
    return f"group {group}: " + "; ".join(phrases)
