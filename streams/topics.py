"""The topic names and their creation now live in :mod:`streams.kafka.topics`;
this path stays for the modules that still import it from here (the sink,
the poller, the command client) until they import the Kafka plumbing's."""

from .kafka.topics import (
    TopicNames,
    TopicSpec,
    connector_topics,
    ensure_topics,
    existing_topics,
    partitions_of,
    shared_topics,
)

__all__ = [
    "TopicNames",
    "TopicSpec",
    "connector_topics",
    "ensure_topics",
    "existing_topics",
    "partitions_of",
    "shared_topics",
]
