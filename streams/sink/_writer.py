"""The result writer: everything the sink produces about a command.

- the Result on ``<c>.results``, on the command's partition number, keyed by
  the command id, with the command's offset and the status in headers (what
  the ledger reads back), recorded in the partition's ledger once acked;
- for a failure, first the command record byte for byte on
  ``<c>.commands.dlq`` plus the ``__switchboard.errors.*`` headers;
- the ledger's ``started`` / ``released`` markers on ``<c>.ledger``;
- a best-effort copy of the Result to the command's ``reply_to``.

Every write but the reply copy waits for Kafka's ack and is retried while
Kafka is unavailable, with the backoff of :mod:`core.retry`. Every write,
and each try of it, is first let through by ``guard(part)``: the sink's
fence (:meth:`streams.membership.Membership.check`), which raises
:class:`~streams.membership.WorkLost` once the partition is not this
member's any more.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    KafkaError,
    KafkaTimeoutError,
    TopicAuthorizationFailedError,
    UnknownTopicOrPartitionError,
)

from core.envelopes import DlqHeaders, Result, Timings
from core.outcomes import command_result
from core.redaction import redact_text
from core.retry import Backoff, RetryPolicy

from .._command_build import topic_name_problem
from ._ledger import SOURCE_OFFSET_HEADER, STATUS_HEADER
from ._metrics import REPLY_FAILED, log
from ._partitions import PartitionState, SinkRecord

__all__ = ["ResultWriter"]

# How long a reply_to topic that failed is not tried again (its copies are
# counted as failed meanwhile): a topic created later is used after this.
_REPLY_RETRY_S = 60.0
# Producing while Kafka is unavailable is retried forever, these apart.
_SEND_BACKOFF = RetryPolicy(initial_delay=0.2, max_delay=5.0)


class ResultWriter:
    """Produces one connector's Results, DLQ records, markers and reply copies.

    ``producer()`` is the sink's producer while it runs; ``guard(part)``
    returns when the sink may still write for ``part``.
    """

    def __init__(
        self,
        name: str,
        *,
        results_topic: str,
        ledger_topic: str,
        dlq_topic: str,
        reply_timeout_s: float,
        producer: Callable[[], AIOKafkaProducer | None],
        guard: Callable[[PartitionState], Awaitable[None]],
    ) -> None:
        self.name = name
        self.results_topic = results_topic
        self.ledger_topic = ledger_topic
        self.dlq_topic = dlq_topic
        self._reply_timeout_s = reply_timeout_s
        self._producer = producer
        self._guard = guard
        self._bad_replies: dict[str, tuple[float, str]] = {}  # topic -> (when, reason)
        self._reply_logged: set[tuple[str, str]] = set()

    async def mark(
        self, part: PartitionState, record: SinkRecord, command_id: str, state: str
    ) -> None:
        """The ledger marker ``started`` (before a ledger provider's call) or ``released``."""
        value = orjson.dumps({"offset": record.offset, "state": state, "at": time.time()})
        await self._send(part, self.ledger_topic, command_id.encode(), value, [], part.tp.partition)
        part.ledger.add_marker(command_id, record.offset, state)

    async def fail(
        self,
        part: PartitionState,
        record: SinkRecord,
        command_id: str,
        command_type: str,
        reason: str,
        exc: BaseException,
        timings: Timings,
        *,
        api_version: str | None = None,
    ) -> str:
        """Dead-letter ``record`` for ``reason`` and answer it with a failed Result;
        returns ``reason``."""
        result = command_result(
            command_id, command_type, timings, exc, reason, api_version=api_version
        )
        assert result.error is not None
        dlq = DlqHeaders(
            original_topic=record.topic,
            original_partition=record.partition,
            original_offset=record.offset,
            connector=self.name,
            stage="sink",
            reason=reason,
            error_class=type(exc).__name__,
            error_message=result.error.message,
            attempts=result.attempts,
        )
        await self.answer(part, record, result, dlq=dlq)
        return reason

    async def answer(
        self,
        part: PartitionState,
        record: SinkRecord,
        result: Result,
        *,
        dlq: DlqHeaders | None = None,
        reply_to: str | None = None,
    ) -> None:
        """The DLQ record (if ``dlq``), then the Result, then its ``reply_to`` copy."""
        if dlq is not None:
            await self._send(
                part,
                self.dlq_topic,
                record.key,
                record.value,
                record.headers + dlq.to_headers(),
                None,
                timestamp_ms=record.timestamp,
            )
        headers = [
            ("content-type", b"application/json"),
            (SOURCE_OFFSET_HEADER, str(record.offset).encode()),
            (STATUS_HEADER, result.status.encode()),
        ]
        value = result.to_json()
        await self._send(
            part, self.results_topic, result.command_id.encode(), value, headers, part.tp.partition
        )
        part.ledger.add_result(result.command_id, record.offset, result.status)
        if reply_to:
            await self._guard(part)
            await self._reply(reply_to, result.command_id.encode(), value, headers)

    async def _reply(
        self, topic: str, key: bytes, value: bytes, headers: list[tuple[str, bytes]]
    ) -> None:
        """The Result's copy to ``reply_to``: best effort, bounded, never raises.

        The Result is already on ``<c>.results``; a copy that cannot be
        delivered (a name Kafka refuses, a topic that does not exist while the
        broker does not auto-create, no authorization) is counted in
        ``switchboard_sink_reply_failed_total`` and dropped, logged once per
        topic and reason. Such a topic is not tried again for
        ``_REPLY_RETRY_S``, so its commands do not each wait out the
        metadata timeout (it was: a retry every 30 s, forever, the
        partition's offset stuck behind it).
        """
        problem = topic_name_problem(topic)
        reason: str | None = "invalid_name" if problem else None
        detail = problem or ""
        failed = self._bad_replies.get(topic)
        if reason is None and failed is not None and time.monotonic() - failed[0] < _REPLY_RETRY_S:
            reason, detail = failed[1], "failed recently"
        if reason is None:
            producer = self._producer()
            assert producer is not None
            try:
                await asyncio.wait_for(
                    producer.send_and_wait(topic, value, key=key, headers=headers),
                    self._reply_timeout_s,
                )
                self._bad_replies.pop(topic, None)
                return
            except Exception as exc:  # every failure is counted, none raised
                reason, detail = _reply_failure(exc)
            self._bad_replies[topic] = (time.monotonic(), reason)
            _untrack(producer, topic)
        REPLY_FAILED.labels(self.name, reason).inc()
        if (topic, reason) not in self._reply_logged:
            self._reply_logged.add((topic, reason))
            log.warning(
                "sink %s: reply_to %r cannot be delivered (%s: %s); the Result is on %s only "
                "(counted in switchboard_sink_reply_failed_total, logged once)",
                self.name,
                topic,
                reason,
                detail,
                self.results_topic,
            )

    async def _send(
        self,
        part: PartitionState,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, bytes]],
        partition: int | None,
        *,
        timestamp_ms: int | None = None,
    ) -> None:
        """Produce and wait for the ack, retrying while Kafka is unavailable."""
        producer = self._producer()
        assert producer is not None
        backoff: Backoff | None = None  # made on the first failure only
        while True:
            await self._guard(part)
            try:
                await producer.send_and_wait(
                    topic,
                    value,
                    key=key,
                    partition=partition,
                    headers=headers,
                    timestamp_ms=timestamp_ms,
                )
                return
            except KafkaError as exc:
                if not getattr(exc, "retriable", True) and not isinstance(
                    exc, asyncio.TimeoutError
                ):
                    raise
                log.warning("sink %s: producing to %s failed (%s); retrying", self.name, topic, exc)
                backoff = backoff or Backoff(_SEND_BACKOFF)
                await asyncio.sleep(backoff.failed())


def _reply_failure(exc: BaseException) -> tuple[str, str]:
    """(reason label, detail) for a reply copy Kafka did not take."""
    if isinstance(exc, TopicAuthorizationFailedError):
        return "not_authorized", "this worker may not write to it"
    if isinstance(exc, UnknownTopicOrPartitionError | KafkaTimeoutError | TimeoutError):
        return "unknown_topic", "no such topic, and the broker does not create topics on use"
    return "error", redact_text(str(exc))[:200] or type(exc).__name__


def _untrack(producer: AIOKafkaProducer, topic: str) -> None:
    """Stop aiokafka from asking for ``topic`` in every metadata refresh (it
    keeps a topic it once waited for, and warns each minute it is missing)."""
    tracked = getattr(producer.client, "_topics", None)
    if isinstance(tracked, set) and topic in tracked:
        producer.client.set_topics(tracked - {topic})
