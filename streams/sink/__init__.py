"""The sink: ``<c>.commands`` -> provider API calls -> ``<c>.results``.

One :class:`Sink` per connector consumes its commands topic in the consumer
group ``switchboard-sink-<c>`` (after the topic prefix) and runs each command through the
connector's one :class:`~core.client.ProviderClient` (budget, retries,
breaker, timeouts), then produces exactly one Result.

Ordering and concurrency
    Records with the same Kafka key run strictly one after the other (a
    queue per key); different keys run concurrently, at most
    ``sink.concurrency`` calls in flight. At most ``sink.max_buffered``
    records wait in the queues; past that the partitions are paused.

Offsets
    A partition's offset is committed up to the first record that is not
    finished, and a record is finished only once its Result (and DLQ record,
    if any) is acknowledged by Kafka. A crash therefore redelivers only
    records past the last commit.

At most one side effect per command id -- the ledger
    The Result for a command from commands partition P is produced to
    results partition P (key = command id, the command's offset in a
    header), so the owner of P can read back what was answered. Before a
    call to a provider without idempotency keys (``ClientSetup.idempotency
    == "ledger"``) the sink also writes a ``started`` marker to
    ``<c>.ledger`` partition P and waits for its ack. When P is assigned,
    both partitions are read back for the last ``sink.ledger_window_s``
    (and at most their last ``sink.ledger_max_ids`` records; the ledger
    forgets ids past either bound, oldest first):

    - a command whose offset already has a Result is a redelivery: skipped;
    - a command id with a *succeeded* Result (e.g. replayed twice from the
      DLQ) is not executed again: skipped;
    - a command with a ``started`` marker but no Result was in flight when
      its worker died: the provider may or may not have acted, so it is not
      sent again. Where its params declare a lookup (the provider keeps the
      command id the call carried: :mod:`core.lookup`) it is looked up
      first, and answered succeeded with ``attempts`` 0 when found;
      otherwise it is answered ``outcome_unknown`` and dead-lettered (a
      person decides; replaying that DLQ record sends it);
    - anything else is executed. Providers with keys (Stripe) get the
      command id as their idempotency key, so re-executing after a crash
      is answered by the provider from its own record (24 h for Stripe).

Drain
    When partitions are revoked or the sink stops (SIGTERM), no further
    command starts on them; the calls in flight finish and are answered
    (at most ``sink.drain_timeout_s``) and the offsets are committed
    before the group moves them on, so their next owner finds no open
    ``started`` marker (``_drain``).

Failures (``<c>.commands.dlq`` gets the record byte for byte plus the
``__switchboard.errors.*`` headers, and a failed Result is produced):

- not a Command, wrong connector, unknown type, invalid params (also
  params no safe request is built from: a path value ``..``) ->
  ``invalid_command``; no call is made;
- 400/404/422 and other request errors -> ``fatal_request``;
- retriable errors still failing at the retry deadline -> ``retries_exhausted``;
  an unusable answer -> ``bad_response``; a bug -> ``internal_error``;
- past ``expires_at`` -> a failed Result ``expired``, nothing sent, no DLQ;
- breaker open -> not a failure: the command is held, every partition is
  paused, and it is retried when the breaker lets a probe through;
- 401/403 after the auth's refresh, or a bad setting -> the sink stops
  taking commands and reports unhealthy (``/healthz``); nothing is
  dead-lettered and the offsets stay where they are for after the fix.

The package, one job per module:

- ``_sink`` -- :class:`Sink`, a partition owner: load ledgers, pause, run
  each record through the :class:`~core.executor.CommandExecutor` (held
  through open-breaker periods), answer;
- ``_partitions`` -- assigned partitions' offsets and the per-key queues;
- ``_ledger`` -- the ledger read back on assignment and its one
  ``verdict()`` per record (the skip rules above); ``_lookup`` -- an open
  marker looked up at the provider before ``outcome_unknown``;
- ``_drain`` -- releasing partitions: calls in flight finish, nothing new starts;
- ``_writer`` -- Results, DLQ records, ledger markers, ``reply_to`` copies;
- ``_offsets`` -- commits; ``_topics`` -- the topic check at start;
  ``_build`` -- which sinks run; ``_metrics`` -- metrics and the
  ``streams.sink`` logger.

The consumer group's life (rebalance listener, consumer settings, start and
stop) is :class:`streams.partitions.PartitionOwner`'s, shared with the poller.
"""

from core.outcomes import FAILURE_REASONS as DLQ_REASONS

from ._build import build_sinks, sink_setups
from ._ledger import SOURCE_OFFSET_HEADER, STATUS_HEADER
from ._sink import Sink, SinkHealth

__all__ = [
    "DLQ_REASONS",
    "SOURCE_OFFSET_HEADER",
    "STATUS_HEADER",
    "Sink",
    "SinkHealth",
    "build_sinks",
    "sink_setups",
]
