"""The Kafka plumbing every part of ``streams`` stands on.

- :mod:`.clients`: aiokafka producers, consumers and admin clients built
  from settings (security and durability set once), and :func:`connect`,
  which turns a broker that does not answer into :class:`KafkaUnavailable`;
- :mod:`.probe`: is a broker there (:func:`kafka_ready`, one ApiVersions call);
- :mod:`.topics`: the topic names and their creation;
- :mod:`.tokenstore`: the OAuth token store on a compacted topic;
- :mod:`.faust_transport`: faust's transport, fixed (imported by faust only).

The clients' names are re-exported here, so ``from streams import kafka``
then ``kafka.producer(settings)`` reads as what it does.
"""

from __future__ import annotations

from .clients import (
    HOW_TO_START,
    MAX_MESSAGE_BYTES,
    MAX_RECORD_BYTES,
    KafkaUnavailable,
    admin,
    client_options,
    connect,
    consumer,
    iter_since,
    producer,
    read_since,
    ssl_context,
)
from .probe import kafka_ready

__all__ = [
    "HOW_TO_START",
    "MAX_MESSAGE_BYTES",
    "MAX_RECORD_BYTES",
    "KafkaUnavailable",
    "admin",
    "client_options",
    "connect",
    "consumer",
    "iter_since",
    "kafka_ready",
    "producer",
    "read_since",
    "ssl_context",
]
