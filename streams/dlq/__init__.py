"""Dead-letter topics: read, inspect, count and replay (``switchboard dlq``).

A DLQ record (``<topic>.dlq``) is the failed record byte for byte plus the
``__switchboard.errors.*`` headers of :class:`core.envelopes.DlqHeaders`.

Reading (:func:`read_dlq`, :func:`read_one`, :func:`dlq_stats`) never joins
a consumer group and never commits: looking at a DLQ moves nobody's
offsets. A read covers each partition up to its end offset as of the start
of the read; records arriving later are not waited for.

Replaying is two steps so a caller can show or confirm the plan first:

- :func:`plan_replay` picks each record's destination (``--to``, else the
  DLQ topic's source: ``<topic>`` of ``<topic>.dlq``) and marks records to
  skip: a ref selected twice (a run never replays a record twice), no valid
  error headers, error headers naming another original topic than the
  source (whoever can write a DLQ topic writes those headers, so without
  ``--to`` they are never followed), or, with ``skip_replayed``, already
  replayed to that destination by an earlier run (found by its
  ``__switchboard.replay.from`` header).
- :func:`replay` produces the rest with an idempotent ``acks=all``
  producer: original key and value, original headers in order without
  ``__switchboard.errors.*``, plus lineage headers
  ``__switchboard.replay.from`` (``dlq-topic:partition:offset``),
  ``__switchboard.replay.at`` (ISO 8601 UTC) and ``__switchboard.replay.id``
  (the run id). Lineage headers of an earlier replay are replaced, so a
  record carries the lineage of its latest replay only. The timestamp is the
  replay time: the original one stays on the DLQ record, and an old
  timestamp would make the replayed record due for retention at once.

Re-running a replay is safe for commands: the value, and so the command id
(the provider idempotency key / ledger key), is unchanged, so a sink that
already executed a command does not call the provider again.

Modules: :mod:`.read` (reading, filters, counts), :mod:`.replay` (plan and
replay); the commands are in :mod:`streams.cli._dlq`.

Errors: :class:`DlqInputError` (a ``ValueError``) for anything the user got
wrong (unknown topic, bad ref, bad time or rate, missing record or
destination); :class:`~streams.kafka.KafkaUnavailable` when Kafka is down.
"""

from __future__ import annotations

from .read import (
    DLQ_SUFFIX,
    DlqError,
    DlqFilter,
    DlqInputError,
    DlqRecord,
    DlqRef,
    DlqStats,
    dlq_stats,
    dlq_topics,
    parse_when,
    read_dlq,
    read_one,
    resolve_topics,
)
from .replay import (
    REPLAY_AT,
    REPLAY_FROM,
    REPLAY_HEADER_PREFIX,
    REPLAY_ID,
    SKIP_DUPLICATE,
    SKIP_FOREIGN_TOPIC,
    SKIP_NO_DESTINATION,
    SKIP_REPLAYED,
    ReplayItem,
    ReplayReport,
    dlq_source,
    parse_rate,
    plan_replay,
    replay,
    replay_headers,
)

__all__ = [
    "DLQ_SUFFIX",
    "REPLAY_AT",
    "REPLAY_FROM",
    "REPLAY_HEADER_PREFIX",
    "REPLAY_ID",
    "SKIP_DUPLICATE",
    "SKIP_FOREIGN_TOPIC",
    "SKIP_NO_DESTINATION",
    "SKIP_REPLAYED",
    "DlqError",
    "DlqFilter",
    "DlqInputError",
    "DlqRecord",
    "DlqRef",
    "DlqStats",
    "ReplayItem",
    "ReplayReport",
    "dlq_source",
    "dlq_stats",
    "dlq_topics",
    "parse_rate",
    "parse_when",
    "plan_replay",
    "read_dlq",
    "read_one",
    "replay",
    "replay_headers",
    "resolve_topics",
]
