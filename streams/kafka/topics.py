"""Topic names and their creation.

``<prefix><c>.ingest``, ``<prefix><c>.events``, ``<prefix><c>.commands``,
``<prefix><c>.results`` per connector ``<c>``, ``<prefix><c>.ledger`` (the
sink's call markers); ``<topic>.dlq`` beside any
topic whose records can fail; ``<prefix>switchboard.cursors`` (compacted)
for poll cursors. :func:`ensure_topics` is idempotent: topics that already
exist are left as they are.

Replication: ``kafka.replication_factor`` when set, else decided by the
cluster when the topics are created (:func:`resolve_replication`): 3
replicas on a cluster of 3 or more brokers, as many as there are brokers on
a smaller one. With 3 or more replicas, ``min.insync.replicas`` is 2 unless
``kafka.min_insync_replicas`` says otherwise, so an ``acks=all`` write
survives one broker lost and is refused rather than kept on one copy.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aiokafka.admin import NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from ..settings import Settings
from . import clients as kafka

__all__ = [
    "TopicNames",
    "TopicSpec",
    "connector_topics",
    "ensure_topics",
    "existing_topics",
    "partitions_of",
    "replication_config",
    "resolve_replication",
]

log = logging.getLogger("streams.kafka")

KINDS = ("ingest", "events", "commands", "results")


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int | None  # None: as the cluster decides (resolve_replication)
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

    # events as large as a provider's largest delivery (streams.kafka.MAX_RECORD_BYTES)
    large = {"max.message.bytes": str(kafka.MAX_MESSAGE_BYTES)}
    return [
        spec(names.ingest(connector), **{"retention.ms": week}, **large),
        spec(names.events(connector), **{"retention.ms": week}, **large),
        spec(names.commands(connector), **{"retention.ms": week}),
        spec(names.results(connector), **{"retention.ms": week}),
        # the sink's "started" markers (see streams.sink), read back for the ledger window
        spec(names.ledger(connector), **{"retention.ms": week}),
        spec(names.dlq(names.ingest(connector)), **{"retention.ms": month}, **large),
        spec(names.dlq(names.commands(connector)), **{"retention.ms": month}),
    ]


def shared_topics(settings: Settings) -> list[TopicSpec]:
    names = TopicNames.from_settings(settings)
    k = settings.kafka
    return [
        # as many partitions as the poll group may have workers: a stream's
        # owner is the worker owning its cursor's partition (streams.poll)
        TopicSpec(
            names.cursors,
            k.partitions,
            settings.kafka.replication_factor,
            {"cleanup.policy": "compact"},
        )
    ]


def _replicas_for(brokers: int) -> int:
    return min(3, max(1, brokers))


def replication_config(settings: Settings, replicas: int | None = None) -> dict[str, str]:
    """The topic config that goes with ``replicas`` (default: the resolved
    ``kafka.replication_factor``): ``min.insync.replicas`` as the module says."""
    k = settings.kafka
    if k.min_insync_replicas is not None:
        return {"min.insync.replicas": str(k.min_insync_replicas)}
    if (replicas or k.replication_factor or 1) >= 3:
        return {"min.insync.replicas": "2"}
    return {}


async def resolve_replication(settings: Settings) -> Settings:
    """``settings`` with ``kafka.replication_factor`` set: as configured, or
    from the number of brokers the cluster has now (one connection to it)."""
    if settings.kafka.replication_factor is not None:
        return settings
    async with kafka.connect(settings, kafka.admin(settings)) as client:
        brokers = len((await client.describe_cluster())["brokers"])
    replicas = _replicas_for(brokers)
    k = settings.kafka.model_copy(update={"replication_factor": replicas})
    resolved = settings.model_copy(update={"kafka": k})
    if replicas > 1:
        insync = replication_config(resolved).get("min.insync.replicas", "the brokers' default")
        log.info(
            "topics are created with %d replicas (min.insync.replicas %s) on this cluster of "
            "%d brokers; set SWITCHBOARD_KAFKA__REPLICATION_FACTOR to choose",
            replicas,
            insync,
            brokers,
        )
    return resolved


async def ensure_topics(settings: Settings, specs: Iterable[TopicSpec]) -> list[str]:
    """Create the topics that do not exist yet; returns the names created."""
    specs = list(specs)
    async with kafka.connect(settings, kafka.admin(settings)) as client:
        existing = set(await client.list_topics())
        missing = [s for s in specs if s.name not in existing]
        if not missing:
            return []
        if any(s.replication_factor is None for s in missing):
            settings = await resolve_replication(settings)
        new = []
        for s in missing:
            replicas = s.replication_factor or settings.kafka.replication_factor or 1
            config = {**replication_config(settings, replicas), **s.config}
            new.append(NewTopic(s.name, s.partitions, replicas, topic_configs=config))
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
        await _wait_visible(client, [s.name for s in missing])
        return created


async def _wait_visible(client: Any, topics: list[str], timeout: float = 30.0) -> None:
    """Wait until every broker's metadata shows ``topics`` with their partitions.

    CreateTopics returns once the controller committed the topics; each
    broker's metadata cache follows a moment later (longer on a busy
    controller), and a client asking one in between is told they do not
    exist: on a cluster, a sink started right after creation saw its topics
    as missing when only one broker had been asked.
    """
    from aiokafka.protocol.metadata import MetadataRequest

    brokers = [b["node_id"] for b in (await client.describe_cluster())["brokers"]]
    deadline = asyncio.get_running_loop().time() + timeout
    pending = {(node, topic) for node in brokers for topic in topics}
    while pending:
        for node in sorted({node for node, _ in pending}):
            asked = sorted(topic for n, topic in pending if n == node)
            try:
                # the admin client asks one random broker; this asks each in turn
                response = await client._send_request_to_node(node, MetadataRequest(asked))
            except Exception as exc:  # a broker not answering yet: asked again
                log.debug("broker %s did not answer a metadata request: %r", node, exc)
                continue
            for described in response.to_object()["topics"]:
                if described["error_code"] == 0 and described["partitions"]:
                    pending.discard((node, described["topic"]))
        if pending and asyncio.get_running_loop().time() > deadline:
            missing = sorted({topic for _, topic in pending})
            raise RuntimeError(f"topics not visible {timeout:g} s after creation: {missing}")
        if pending:
            await asyncio.sleep(0.05)  # polling interval of a deadline loop


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
