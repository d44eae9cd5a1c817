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
    both partitions are read back for the last ``sink.ledger_window_s``:

    - a command whose offset already has a Result is a redelivery: skipped;
    - a command id with a *succeeded* Result (e.g. replayed twice from the
      DLQ) is not executed again: skipped;
    - a command with a ``started`` marker but no Result was in flight when
      its worker died: the provider may or may not have acted, so it is not
      sent again but answered ``outcome_unknown`` and dead-lettered (a
      person decides; replaying that DLQ record sends it);
    - anything else is executed. Providers with keys (Stripe) get the
      command id as their idempotency key, so re-executing after a crash
      is answered by the provider from its own record (24 h for Stripe).

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
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import (
    CommitFailedError,
    KafkaError,
    KafkaTimeoutError,
    TopicAuthorizationFailedError,
    UnknownTopicOrPartitionError,
)
from prometheus_client import Counter, Gauge, Histogram
from pydantic import ValidationError

import connectors
from core import errors as e
from core.apicall import CallContext, CallResult, ClientSetup, run_command
from core.client import ProviderClient
from core.connector import Connector
from core.envelopes import (
    Command,
    DlqHeaders,
    EnvelopeError,
    ErrorInfo,
    Result,
    Timings,
    describe_validation_error,
    utcnow,
)
from core.redaction import redact_text
from core.retry import default_classifier
from core.settings import Settings

from . import kafka
from .commands import topic_name_problem
from .topics import TopicNames, partitions_of

__all__ = [
    "DLQ_REASONS",
    "SOURCE_OFFSET_HEADER",
    "STATUS_HEADER",
    "Sink",
    "SinkHealth",
    "build_sinks",
    "sink_setups",
]

log = logging.getLogger(__name__)

# Every reason the sink dead-letters with (``switchboard dlq --reason`` knows them).
DLQ_REASONS = (
    "invalid_command",
    "fatal_request",
    "retries_exhausted",
    "bad_response",
    "internal_error",
    "outcome_unknown",
)
SOURCE_OFFSET_HEADER = "__switchboard.source.offset"
STATUS_HEADER = "__switchboard.result.status"

COMMANDS = Counter(
    "switchboard_sink_commands_total", "Commands by connector and outcome", ["connector", "outcome"]
)
COMMAND_SECONDS = Histogram(
    "switchboard_sink_command_seconds", "Command processing time", ["connector"]
)
PAUSED = Gauge("switchboard_sink_paused", "1 while a sink's partitions are paused", ["connector"])
HEALTHY = Gauge(
    "switchboard_sink_healthy", "0 once a sink stopped on a config error", ["connector"]
)
REPLY_FAILED = Counter(
    "switchboard_sink_reply_failed_total",
    "Result copies to a command's reply_to that could not be delivered (dropped)",
    ["connector", "reason"],
)
# How long a reply_to topic that failed is not tried again (its copies are
# counted as failed meanwhile): a topic created later is used after this.
_REPLY_RETRY_S = 60.0


class _Invalid(Exception):
    """The record cannot be run as a command of this connector."""


class CommandExpired(e.SwitchboardError):
    """Past its ``expires_at``: not sent (a failed Result, no DLQ record)."""

    code = "expired"
    default_retryable = False


class OutcomeUnknown(e.SwitchboardError):
    """A ledger command whose worker died during the call: not sent again."""

    code = "outcome_unknown"
    default_retryable = False


@dataclass
class _Times:
    received_at: datetime = field(default_factory=utcnow)
    started_at: datetime | None = None

    def timings(self) -> Timings:
        return Timings(
            received_at=self.received_at, started_at=self.started_at, finished_at=utcnow()
        )


@dataclass
class SinkHealth:
    ok: bool = True
    detail: str = "running"


@dataclass
class _Ledger:
    """What the owner of one partition knows about command ids."""

    answered: dict[str, set[int]] = field(default_factory=dict)  # id -> offsets with a Result
    succeeded: set[str] = field(default_factory=set)
    started: dict[str, set[int]] = field(default_factory=dict)  # id -> offsets marked started

    def add_result(self, command_id: str, offset: int | None, status: str) -> None:
        if offset is not None:
            self.answered.setdefault(command_id, set()).add(offset)
        if status == "succeeded":
            self.succeeded.add(command_id)

    def add_marker(self, command_id: str, offset: int, state: str) -> None:
        offsets = self.started.setdefault(command_id, set())
        if state == "started":
            offsets.add(offset)
        else:
            offsets.discard(offset)


@dataclass
class _Partition:
    tp: TopicPartition
    ledger: _Ledger = field(default_factory=_Ledger)
    ready: asyncio.Event = field(default_factory=asyncio.Event)  # ledger loaded
    order: deque[int] = field(default_factory=deque)  # offsets fetched, in order
    finished: set[int] = field(default_factory=set)
    next_offset: int | None = None  # one past the highest fetched
    committed: int | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def track(self, offset: int) -> None:
        self.order.append(offset)
        self.next_offset = offset + 1

    def finish(self, offset: int) -> None:
        self.finished.add(offset)
        while self.order and self.order[0] in self.finished:
            self.finished.discard(self.order.popleft())

    @property
    def buffered(self) -> int:
        return len(self.order)

    def commit_position(self) -> int | None:
        """First offset not finished (what to commit), None if nothing fetched."""
        if self.order:
            return self.order[0]
        return self.next_offset


class _Record:
    """A consumed command record (the fields the sink keeps)."""

    __slots__ = ("headers", "key", "offset", "partition", "timestamp", "topic", "value")

    def __init__(self, message: Any) -> None:
        self.topic: str = message.topic
        self.partition: int = message.partition
        self.offset: int = message.offset
        self.key: bytes | None = message.key
        self.value: bytes | None = message.value
        self.headers: list[tuple[str, bytes]] = list(message.headers or [])
        self.timestamp: int | None = message.timestamp


def _sink_classifier(exc: BaseException) -> bool | float | None:
    # An open breaker is the sink's to wait out (pausing its partitions),
    # not the retry loop's: a held command never runs out of deadline.
    if isinstance(exc, e.CircuitOpenError):
        return None
    return default_classifier(exc)


class Sink:
    """Runs one connector's commands. ``await sink.run()`` until :meth:`stop`."""

    def __init__(
        self,
        settings: Settings,
        connector: Connector,
        setup: ClientSetup,
        *,
        client: ProviderClient | None = None,
        group_id: str | None = None,
    ) -> None:
        self.settings = settings
        self.connector = connector
        self.name = connector.name
        self.setup = setup
        self.section = settings.section(self.name)
        self.client = client or setup.client(classifier=_sink_classifier)
        self._own_client = client is None
        cfg = settings.sink
        self.cfg = cfg
        names = TopicNames.from_settings(settings)
        self.commands_topic = names.commands(self.name)
        self.results_topic = names.results(self.name)
        self.ledger_topic = names.ledger(self.name)
        self.dlq_topic = names.dlq(self.commands_topic)
        self.group_id = group_id or f"{settings.kafka.topic_prefix}switchboard-sink-{self.name}"
        self.health = SinkHealth()
        # More calls in flight than the client has connections only queue in
        # its gate (measured: slower, and p50 9 -> 66 ms at 64 vs 10).
        self._slots = asyncio.Semaphore(min(cfg.concurrency, setup.policy.limits.max_connections))
        self._parts: dict[int, _Partition] = {}
        self._keys: dict[tuple[int, bytes], deque[_Record]] = {}
        self._held = 0
        self._hold_until = 0.0
        self._config_error: e.SwitchboardError | None = None
        self._stopping = asyncio.Event()
        self._paused = False
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._last_commit = 0.0
        self._bad_replies: dict[str, tuple[float, str]] = {}  # topic -> (when, reason)
        self._reply_logged: set[tuple[str, str]] = set()
        self.started = asyncio.Event()

    # lifecycle -------------------------------------------------------------
    async def run(self) -> None:
        """Consume until :meth:`stop`; raises KafkaUnavailable if Kafka is down at start."""
        settings = self.settings
        producer = kafka.producer(settings, linger_ms=1)
        consumer = kafka.consumer(
            settings,
            group_id=self.group_id,
            max_poll_records=500,
            session_timeout_ms=int(settings.worker.session_timeout_s * 1000),
            heartbeat_interval_ms=int(settings.worker.session_timeout_s * 1000 / 10),
            rebalance_timeout_ms=int((self.cfg.drain_timeout_s + 30) * 1000),
            max_poll_interval_ms=300_000,
        )
        await self._check_partitions()
        async with kafka.connect(settings, producer), kafka.connect(settings, consumer):
            self._producer, self._consumer = producer, consumer
            consumer.subscribe([self.commands_topic], listener=_Listener(self))
            HEALTHY.labels(self.name).set(1)
            log.info("sink %s: consuming %s as %s", self.name, self.commands_topic, self.group_id)
            try:
                await self._loop(consumer)
            finally:
                await self._drain(list(self._parts.values()))
                await self._commit(force=True)
                if self._own_client:
                    await self.client.aclose()
                self._producer = self._consumer = None

    def stop(self) -> None:
        self._stopping.set()

    async def _check_partitions(self) -> None:
        counts = {}
        for topic in (self.commands_topic, self.results_topic, self.ledger_topic):
            found = await partitions_of(self.settings, topic)
            if found is None:
                raise e.PolicyError(
                    f"topic {topic} does not exist: run `switchboard topics create {self.name}`",
                    setting="kafka",
                )
            counts[topic] = len(found)
        need = counts[self.commands_topic]
        for topic in (self.results_topic, self.ledger_topic):
            if counts[topic] < need:
                raise e.PolicyError(
                    f"{topic} has {counts[topic]} partitions but {self.commands_topic} has "
                    f"{need}: the sink writes partition P of both for commands of partition P; "
                    "add partitions to it",
                    setting="kafka.partitions",
                )

    async def _loop(self, consumer: AIOKafkaConsumer) -> None:
        self.started.set()
        while not self._stopping.is_set():
            self._apply_pause(consumer)
            batch = await consumer.getmany(timeout_ms=100, max_records=500)
            for tp, messages in batch.items():
                part = self._partition(consumer, tp)
                if part is None:  # revoked while the fetch was on its way: not committed
                    continue
                for message in messages:
                    self._enqueue(part, _Record(message))
            await self._commit()

    def _apply_pause(self, consumer: AIOKafkaConsumer) -> None:
        buffered = sum(p.buffered for p in self._parts.values())
        pause = (
            self._config_error is not None or self._held > 0 or buffered >= self.cfg.max_buffered
        )
        assigned = [p.tp for p in self._parts.values()]
        if pause and assigned:
            consumer.pause(*assigned)
        elif not pause and self._paused and assigned:
            consumer.resume(*assigned)
        if pause != self._paused:
            PAUSED.labels(self.name).set(1 if pause else 0)
            if self._held and pause:
                log.warning("sink %s: breaker open, consumption paused", self.name)
        self._paused = pause

    # partitions ------------------------------------------------------------
    def _partition(self, consumer: AIOKafkaConsumer, tp: TopicPartition) -> _Partition | None:
        """The state of an assigned partition. aiokafka starts fetching a new
        assignment before the rebalance listener has run, so records may
        arrive first: they wait in their queues until the ledger is loaded."""
        part = self._parts.get(tp.partition)
        if part is None and tp in consumer.assignment():
            part = self._parts[tp.partition] = _Partition(tp)
        return part

    async def assigned(self, tps: Iterable[TopicPartition]) -> None:
        new = [tp for tp in tps if tp.topic == self.commands_topic]
        parts = [self._parts.setdefault(tp.partition, _Partition(tp)) for tp in new]
        parts = [p for p in parts if not p.ready.is_set()]
        self._paused = False  # aiokafka resets pauses on assignment
        if not parts:
            return
        started = time.monotonic()
        delay = 0.5
        while True:
            try:
                ledgers = await self._load_ledgers([p.tp.partition for p in parts])
                break
            except Exception as exc:  # aiokafka would swallow it: keep trying, visibly
                self.health = SinkHealth(False, f"cannot read the ledger: {exc}")
                log.warning("sink %s: reading the ledger failed (%s); retrying", self.name, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
        if self._config_error is None:
            self.health = SinkHealth()
        for part in parts:
            part.ledger = ledgers[part.tp.partition]
            part.ready.set()
        log.info(
            "sink %s: partitions %s assigned (ledger of %d ids read in %.2f s)",
            self.name,
            sorted(p.tp.partition for p in parts),
            sum(len(x.answered) + len(x.started) for x in ledgers.values()),
            time.monotonic() - started,
        )

    async def revoked(self, tps: Iterable[TopicPartition]) -> None:
        parts = [self._parts[tp.partition] for tp in tps if tp.partition in self._parts]
        await self._drain(parts)
        await self._commit(force=True, parts=parts)
        for part in parts:
            self._parts.pop(part.tp.partition, None)
        for key in [k for k in self._keys if k[0] not in self._parts]:
            del self._keys[key]

    async def _drain(self, parts: Sequence[_Partition]) -> None:
        """Let the calls in flight finish (bounded), then cancel the rest."""
        tasks = {t for p in parts for t in p.tasks}
        if not tasks:
            return
        # Commands blocked by a config error will not finish: do not wait for them.
        timeout = 0 if self._config_error is not None else self.cfg.drain_timeout_s
        _done, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
            log.warning("sink %s: cancelled %d commands still running", self.name, len(pending))

    async def _load_ledgers(self, partitions: list[int]) -> dict[int, _Ledger]:
        ledgers = {p: _Ledger() for p in partitions}
        since_ms = int((time.time() - self.cfg.ledger_window_s) * 1000)
        tps = [
            TopicPartition(t, p)
            for t in (self.results_topic, self.ledger_topic)
            for p in partitions
        ]
        for message in await kafka.read_since(self.settings, tps, since_ms):
            ledger = ledgers[message.partition]
            command_id = (message.key or b"").decode("utf-8", "replace")
            if message.topic == self.results_topic:
                headers = dict(message.headers or [])
                raw_offset = headers.get(SOURCE_OFFSET_HEADER)
                status = headers.get(STATUS_HEADER, b"").decode()
                ledger.add_result(command_id, int(raw_offset) if raw_offset else None, status)
            else:
                marker = orjson.loads(message.value or b"{}")
                ledger.add_marker(command_id, int(marker["offset"]), str(marker["state"]))
        return ledgers

    # commands ----------------------------------------------------------------
    def _enqueue(self, part: _Partition, record: _Record) -> None:
        part.track(record.offset)
        key = (part.tp.partition, record.key if record.key is not None else b"%d" % record.offset)
        queue = self._keys.get(key)
        if queue is not None:
            queue.append(record)
            return
        self._keys[key] = deque([record])
        task = asyncio.create_task(self._run_key(part, key), name=f"sink-{self.name}-{key!r}")
        part.tasks.add(task)
        task.add_done_callback(part.tasks.discard)

    async def _run_key(self, part: _Partition, key: tuple[int, bytes]) -> None:
        queue = self._keys[key]
        await part.ready.wait()
        while queue:
            record = queue[0]
            began = time.perf_counter()
            try:
                outcome = await self._process(part, record)
            except asyncio.CancelledError:
                raise
            except Exception:  # Kafka refused the Result: stop here, never skip it
                log.exception("sink %s: cannot answer %s@%d", self.name, key, record.offset)
                self._stop_on_config_error(e.SwitchboardError("cannot produce Results"))
                return
            COMMANDS.labels(self.name, outcome).inc()
            COMMAND_SECONDS.labels(self.name).observe(time.perf_counter() - began)
            queue.popleft()
            part.finish(record.offset)
        if self._keys.get(key) is queue:
            del self._keys[key]

    async def _process(self, part: _Partition, record: _Record) -> str:
        """Run one record to its Result; returns the outcome for the metrics."""
        times = _Times()
        try:
            command, params = self._decode(record)
        except _Invalid as exc:
            await self._fail(part, record, _fallback_id(record), "?", "invalid_command", exc, times)
            return "invalid"
        ledger = part.ledger
        if record.offset in ledger.answered.get(command.id, ()):
            log.info("sink %s: %s already answered (redelivery)", self.name, command.id)
            return "redelivered"
        if command.id in ledger.succeeded:
            log.info("sink %s: %s already succeeded; not sent again", self.name, command.id)
            return "duplicate"
        if self.setup.idempotency == "ledger" and record.offset in ledger.started.get(
            command.id, ()
        ):
            unknown = OutcomeUnknown(
                "the worker running this command stopped during the call; the provider "
                "may or may not have acted, so it is not sent again (replay it to send it)"
            )
            await self._fail(part, record, command.id, command.type, unknown.code, unknown, times)
            return unknown.code
        try:
            call = await self._call(part, record, command, params, times)
        except CommandExpired as exc:
            result = Result(
                command_id=command.id,
                type=command.type,
                status="failed",
                error=exc.to_error_info(),
                timings=times.timings(),
            )
            await self._answer(part, record, result, dlq=None, command=command)
            return exc.code
        except e.SwitchboardError as exc:
            reason = _reason(exc)
            await self._fail(part, record, command.id, command.type, reason, exc, times)
            return reason
        except Exception as exc:  # a bug must not crash-loop the worker
            log.exception("sink %s: command %s failed unexpectedly", self.name, command.id)
            await self._fail(part, record, command.id, command.type, "internal_error", exc, times)
            return "internal_error"
        result = Result(
            command_id=command.id,
            type=command.type,
            status="succeeded",
            attempts=call.attempts,
            http_status=call.status,
            response=call.data,
            timings=times.timings(),
        )
        await self._answer(part, record, result, dlq=None, command=command)
        return "succeeded"

    def _decode(self, record: _Record) -> tuple[Command, Any]:
        try:
            command = Command.from_json(record.value or b"")
        except EnvelopeError as exc:
            raise _Invalid(f"not a Command: {exc}") from None
        if command.connector != self.name:
            raise _Invalid(f"{command.type} sent to {record.topic}, the topic of {self.name}")
        try:
            _connector, model = connectors.command_model(command.type)
        except connectors.UnknownCommandType as exc:
            raise _Invalid(str(exc)) from None
        try:
            params = model.model_validate(command.params)
        except ValidationError as exc:
            _field, message = describe_validation_error(exc, prefix="params")
            raise _Invalid(f"{command.type}: {message}") from None
        return command, params

    async def _call(
        self, part: _Partition, record: _Record, command: Command, params: Any, times: _Times
    ) -> CallResult:
        """The call, retried through open-breaker periods (the command is held)."""
        marked = maybe_sent = False
        try:
            while True:
                if command.is_expired():
                    raise CommandExpired(f"expired at {command.expires_at}; not sent")
                if self.setup.idempotency == "ledger" and not marked:
                    await self._mark(part, record, command.id, "started")
                    marked = True
                async with self._slots:
                    times.started_at = times.started_at or utcnow()
                    maybe_sent = True
                    try:
                        return await run_command(
                            self.setup, self.client, params, CallContext(command.id, self.section)
                        )
                    except e.CircuitOpenError as exc:
                        maybe_sent = False
                        retry_in = exc.retry_after() or 1.0
                    except e.SwitchboardError as exc:
                        maybe_sent = exc.sent and not isinstance(exc, e.FatalConfigError)
                        raise
                await self._hold(retry_in)
        except e.FatalConfigError as exc:
            self._stop_on_config_error(exc)
            if marked:
                await self._mark(part, record, command.id, "released")
            await self._stopping.wait()  # never dead-letter: the offset stays for after the fix
            raise asyncio.CancelledError from None
        except BaseException:
            # Provably not sent: release the marker so a later owner may run
            # it. Otherwise the marker stays, and a later owner answers
            # outcome_unknown instead of calling a second time.
            if marked and not maybe_sent:
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._mark(part, record, command.id, "released"))
            raise

    async def _hold(self, delay: float) -> None:
        self._held += 1
        try:
            await asyncio.sleep(max(0.01, delay))
        finally:
            self._held -= 1

    def _stop_on_config_error(self, exc: e.SwitchboardError) -> None:
        if self._config_error is None:
            self._config_error = exc
            self.health = SinkHealth(
                False, f"stopped: {exc} (fix the {self.name} settings and restart the worker)"
            )
            HEALTHY.labels(self.name).set(0)
            log.error("sink %s: %s", self.name, self.health.detail)

    # output --------------------------------------------------------------------
    async def _mark(self, part: _Partition, record: _Record, command_id: str, state: str) -> None:
        value = orjson.dumps({"offset": record.offset, "state": state, "at": time.time()})
        await self._send(self.ledger_topic, command_id.encode(), value, [], part.tp.partition)
        part.ledger.add_marker(command_id, record.offset, state)

    async def _fail(
        self,
        part: _Partition,
        record: _Record,
        command_id: str,
        command_type: str,
        reason: str,
        exc: BaseException,
        times: _Times,
    ) -> None:
        info = _error_info(exc, reason)
        result = Result(
            command_id=command_id,
            type=command_type,
            status="failed",
            attempts=getattr(exc, "attempts", 0) or 0,
            http_status=getattr(exc, "status", None),
            error=info,
            timings=times.timings(),
        )
        dlq = DlqHeaders(
            original_topic=record.topic,
            original_partition=record.partition,
            original_offset=record.offset,
            connector=self.name,
            stage="sink",
            reason=reason,
            error_class=type(exc).__name__ if not isinstance(exc, _Invalid) else "InvalidCommand",
            error_message=info.message,
            attempts=result.attempts,
        )
        await self._answer(part, record, result, dlq=dlq)

    async def _answer(
        self,
        part: _Partition,
        record: _Record,
        result: Result,
        *,
        dlq: DlqHeaders | None,
        command: Command | None = None,
    ) -> None:
        if dlq is not None:
            await self._send(
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
            self.results_topic, result.command_id.encode(), value, headers, part.tp.partition
        )
        part.ledger.add_result(result.command_id, record.offset, result.status)
        if command is not None and command.reply_to:
            await self._reply(command.reply_to, result.command_id.encode(), value, headers)

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
            producer = self._producer
            assert producer is not None
            try:
                await asyncio.wait_for(
                    producer.send_and_wait(topic, value, key=key, headers=headers),
                    self.settings.kafka.connect_timeout_s,
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
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, bytes]],
        partition: int | None,
        *,
        timestamp_ms: int | None = None,
    ) -> None:
        """Produce and wait for the ack, retrying while Kafka is unavailable."""
        assert self._producer is not None
        delay = 0.2
        while True:
            try:
                await self._producer.send_and_wait(
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
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _commit(
        self, *, force: bool = False, parts: Sequence[_Partition] | None = None
    ) -> None:
        now = time.monotonic()
        if not force and now - self._last_commit < self.cfg.commit_interval_s:
            return
        self._last_commit = now
        consumer = self._consumer
        if consumer is None:
            return
        offsets: dict[TopicPartition, int] = {}
        for part in parts if parts is not None else list(self._parts.values()):
            position = part.commit_position()
            if position is not None and position != part.committed:
                offsets[part.tp] = position
        if not offsets:
            return
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:
            log.warning("sink %s: commit failed (%s); will retry", self.name, exc)
            return
        for tp, position in offsets.items():
            part_ = self._parts.get(tp.partition)
            if part_ is not None:
                part_.committed = position


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self.sink.revoked(revoked)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        await self.sink.assigned(assigned)


def _reason(exc: e.SwitchboardError) -> str:
    if isinstance(exc, e.InvalidParamsError):  # params no request can be built from
        return "invalid_command"
    if isinstance(exc, e.FatalRequestError):
        return "fatal_request"
    if isinstance(exc, e.BadResponseError) and not exc.retryable:
        return "bad_response"
    if exc.retryable:
        return "retries_exhausted"
    return "fatal_request"


def _error_info(exc: BaseException, reason: str) -> ErrorInfo:
    if isinstance(exc, e.SwitchboardError):
        info = exc.to_error_info()
        return info if info.code != "error" else info.model_copy(update={"code": reason})
    return ErrorInfo(code=reason, message=redact_text(str(exc))[:500] or type(exc).__name__)


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


def _fallback_id(record: _Record) -> str:
    """The id of a record that is not a valid Command: its own if readable."""
    with contextlib.suppress(Exception):
        value = orjson.loads(record.value or b"")
        if isinstance(value, dict) and isinstance(value.get("id"), str) and value["id"]:
            return str(value["id"])[:255]
    return f"{record.topic}/{record.partition}/{record.offset}"


def sink_setups(settings: Settings) -> list[tuple[Connector, ClientSetup]]:
    """The connectors to run sinks for, with their client setups.

    ``sink.connectors`` names them explicitly (a missing setting is then an
    error: :class:`~core.errors.PolicyError`); by default every connector
    whose ``api`` settings are complete. Cheap: nothing is connected, so the
    CLI calls it to refuse bad settings before anything starts.
    """
    wanted = settings.sink.connectors
    found: list[tuple[Connector, ClientSetup]] = []
    for name in wanted if wanted is not None else connectors.names():
        connector = connectors.get(name)
        if connector.api is None or not connector.commands:
            if wanted is not None:
                raise e.PolicyError(
                    f"connector {name} has no commands to sink", setting="sink.connectors"
                )
            continue
        try:
            setup = connector.api(settings.section(name))
        except e.PolicyError as exc:
            if wanted is not None:
                raise
            log.info("sink %s: not started (%s)", name, exc)
            continue
        found.append((connector, setup))
    return found


def build_sinks(settings: Settings) -> list[Sink]:
    """A sink for every connector that is configured to send commands (see
    :func:`sink_setups`)."""
    return [Sink(settings, connector, setup) for connector, setup in sink_setups(settings)]
