"""``streams.tokenstore.KafkaTokenStore``, the path README names; the store is
part of the Kafka plumbing, in :mod:`streams.kafka.tokenstore`."""

from .kafka.tokenstore import KafkaTokenStore, tokens_topic

__all__ = ["KafkaTokenStore", "tokens_topic"]
