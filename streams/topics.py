"""Topic names (DESIGN.md) and their creation.

``<prefix><c>.ingest``, ``<prefix><c>.events``, ``<prefix><c>.commands``,
``<prefix><c>.results`` per connector ``<c>``, ``<prefix><c>.ledger`` (the
sink's call markers); ``<topic>.dlq`` beside any
topic whose records can fail; ``<prefix>switchboard.cursors`` (compacted)
for poll cursors. :func:`ensure_topics` is idempotent: topics that already
exist are left as they are.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from aiokafka.admin import NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from core.settings import Settings

from . import kafka

__all__ = [
    "TopicNames",
    "TopicSpec",
    "connector_topics",
    "ensure_topics",
    "existing_topics",
    "partitions_of",
]

KINDS = ("ingest", "events", "commands", "results")


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int
    config: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TopicNames:
    prefix: str = ""

    def ingest(self, connector: str) -> str:
        return f"{self.prefix}{connector}.ingest"

    def events(self, connector: str) -> str:
        return f"{self.prefix}{connector}.events"

    def commands(self, connector: str) -> str:
        return f"{self.prefix}{connector}.commands"

    def results(self, connector: str) -> str:
        return f"{self.prefix}{connector}.results"

    def ledger(self, connector: str) -> str:
        return f"{self.prefix}{connector}.ledger"

    @staticmethod
    def dlq(topic: str) -> str:
        return f"{topic}.dlq"

    @property
    def cursors(self) -> str:
        return f"{self.prefix}switchboard.cursors"

    @classmethod
    def from_settings(cls, settings: Settings) -> TopicNames:
        return cls(settings.kafka.topic_prefix)


def connector_topics(settings: Settings, connector: str) -> list[TopicSpec]:
    """Every topic one connector uses, with its configuration."""
    names = TopicNames.from_settings(settings)
    k = settings.kafka
    week = str(7 * 24 * 3600 * 1000)
    month = str(30 * 24 * 3600 * 1000)

    def spec(name: str, **config: str) -> TopicSpec:
        return TopicSpec(name, k.partitions, k.replication_factor, dict(config))

    return [
        spec(names.ingest(connector), **{"retention.ms": week}),
        spec(names.events(connector), **{"retention.ms": week}),
        spec(names.commands(connector), **{"retention.ms": week}),
        spec(names.results(connector), **{"retention.ms": week}),
        # the sink's "started" markers (see streams.sink), read back for the ledger window
        spec(names.ledger(connector), **{"retention.ms": week}),
        spec(names.dlq(names.ingest(connector)), **{"retention.ms": month}),
        spec(names.dlq(names.commands(connector)), **{"retention.ms": month}),
    ]


def shared_topics(settings: Settings) -> list[TopicSpec]:
    names = TopicNames.from_settings(settings)
    return [
        TopicSpec(
            names.cursors,
            1,
            settings.kafka.replication_factor,
            {"cleanup.policy": "compact"},
        )
    ]


async def ensure_topics(settings: Settings, specs: Iterable[TopicSpec]) -> list[str]:
    """Create the topics that do not exist yet; returns the names created."""
    specs = list(specs)
    async with kafka.connect(settings, kafka.admin(settings)) as client:
        existing = set(await client.list_topics())
        missing = [s for s in specs if s.name not in existing]
        if not missing:
            return []
        new = [
            NewTopic(s.name, s.partitions, s.replication_factor, topic_configs=s.config)
            for s in missing
        ]
        try:
            response = await client.create_topics(new, timeout_ms=15_000)
        except TopicAlreadyExistsError:
            return []
        created = []
        for topic, code, *rest in getattr(response, "topic_errors", []):
            if code == 0:
                created.append(topic)
            elif code != TopicAlreadyExistsError.errno:
                message = rest[0] if rest else ""
                raise RuntimeError(f"could not create topic {topic}: error {code} {message}")
        return created


async def partitions_of(settings: Settings, topic: str) -> list[int] | None:
    """The partition numbers of ``topic``, or None if it does not exist."""
    async with kafka.connect(settings, kafka.admin(settings)) as client:
        (described,) = await client.describe_topics([topic])
    if described["error_code"] != 0 or not described["partitions"]:
        return None
    return sorted(p["partition"] for p in described["partitions"])


async def existing_topics(settings: Settings) -> set[str]:
    async with kafka.connect(settings, kafka.admin(settings)) as client:
        return set(await client.list_topics())
