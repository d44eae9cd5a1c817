"""The sink's orchestration: consume, hand records to their key's queue, run
each through the executor, answer, commit (see :mod:`streams.sink`).

The consumer-group life (the consumer's settings, start and stop, loading
each assigned partition before its records run, releasing revoked ones) is
:class:`streams.partitions.PartitionOwner`'s, shared with the poller; the
sink's part is the ledger it loads, the queues it fills, the pause before
each fetch, the commit after it, and the drain and commit on release.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from core import errors as e
from core.apicall import CallResult, ClientSetup
from core.client import ProviderClient, guard_attempts
from core.connector import CommandParams, Connector
from core.envelopes import Command, utcnow
from core.executor import CommandExecutor, InvalidCommand
from core.outcomes import CommandExpired, command_result, failure_reason
from core.retry import RetryPolicy, default_classifier
from streams.settings import Settings

from ..kafka.topics import TopicNames
from ..membership import WorkLost
from ..partitions import PartitionOwner
from ._drain import drain, slot
from ._ledger import read_ledgers
from ._lookup import look_up
from ._metrics import COMMAND_SECONDS, COMMANDS, HEALTHY, PAUSED, log
from ._offsets import OffsetCommitter
from ._partitions import KeyQueues, PartitionState, SinkRecord
from ._times import CommandTimes
from ._topics import check_sink_topics
from ._writer import ResultWriter

__all__ = ["Sink", "SinkHealth"]

# Reading the ledger on assignment is retried until it works, these apart
# (fully jittered: the members of a group that lost Kafka do not retry in step).
_LEDGER_BACKOFF = RetryPolicy(initial_delay=0.5, max_delay=10.0)


@dataclass
class SinkHealth:
    ok: bool = True
    detail: str = "running"


def _sink_classifier(exc: BaseException) -> bool | float | None:
    # An open breaker is the sink's to wait out (pausing its partitions),
    # not the retry loop's: a held command never runs out of deadline.
    if isinstance(exc, e.CircuitOpenError):
        return None
    return default_classifier(exc)


class Sink(PartitionOwner[PartitionState]):
    """Runs one connector's commands. ``await sink.run()`` until :meth:`stop`."""

    fetch_timeout_ms = 100
    max_records = 500
    load_retry = _LEDGER_BACKOFF

    def __init__(
        self,
        settings: Settings,
        connector: Connector,
        setup: ClientSetup,
        *,
        client: ProviderClient | None = None,
        group_id: str | None = None,
    ) -> None:
        names = TopicNames.from_settings(settings)
        super().__init__(
            settings,
            topic=names.commands(connector.name),
            group_id=group_id or f"{settings.kafka.topic_prefix}switchboard-sink-{connector.name}",
            role=f"sink {connector.name}",
        )
        self.connector = connector
        self.name = connector.name
        self.setup = setup
        self.section = settings.section(self.name)
        self.executor = CommandExecutor(
            connector, self.section, setup=setup, client=client, classifier=_sink_classifier
        )
        self.client = self.executor.client
        cfg = settings.sink
        self.cfg = cfg
        self.commands_topic = names.commands(self.name)
        self.results_topic = names.results(self.name)
        self.ledger_topic = names.ledger(self.name)
        self.health = SinkHealth()
        self.writer = ResultWriter(
            self.name,
            results_topic=self.results_topic,
            ledger_topic=self.ledger_topic,
            dlq_topic=names.dlq(self.commands_topic),
            reply_timeout_s=settings.kafka.connect_timeout_s,
            producer=lambda: self._producer,
            guard=self.membership.check,
        )
        # More calls in flight than the client has connections only queue in
        # its gate (measured: slower, and p50 9 -> 66 ms at 64 vs 10).
        self._slots = asyncio.Semaphore(min(cfg.concurrency, setup.policy.limits.max_connections))
        self._queues = KeyQueues(self.name, self._handle)
        self._held = 0
        self._config_error: e.SwitchboardError | None = None
        self._committer = OffsetCommitter(self.name, cfg.commit_interval_s)

    # the partition owner's part --------------------------------------------
    async def prepare(self) -> None:
        await check_sink_topics(
            self.settings, self.name, self.commands_topic, self.results_topic, self.ledger_topic
        )

    def consumer_options(self) -> dict[str, Any]:
        return {
            "max_poll_records": 500,
            "rebalance_timeout_ms": int((self.cfg.drain_timeout_s + 30) * 1000),
        }

    def on_started(self) -> None:
        HEALTHY.labels(self.name).set(1)
        log.info("sink %s: consuming %s as %s", self.name, self.commands_topic, self.group_id)

    def before_fetch(self, consumer: AIOKafkaConsumer) -> None:
        """Pause every partition while a config error, an open breaker or
        full queues say so; resume them when none does."""
        buffered = sum(p.buffered for p in self._parts.values())
        pause = (
            self._config_error is not None or self._held > 0 or buffered >= self.cfg.max_buffered
        )
        assigned = [p.tp for p in self._parts.values()]
        if pause and assigned:
            consumer.pause(*assigned)
        elif not pause and self.paused_all and assigned:
            consumer.resume(*assigned)
        if pause != self.paused_all:
            PAUSED.labels(self.name).set(1 if pause else 0)
            if self._held and pause:
                log.warning("sink %s: breaker open, consumption paused", self.name)
        self.paused_all = pause

    def new_partition(self, tp: TopicPartition) -> PartitionState:
        return PartitionState(tp)

    def take(self, part: PartitionState, messages: Sequence[Any]) -> None:
        """Queue the records; a partition not ready yet: its key tasks wait for the ledger."""
        for message in messages:
            self._queues.enqueue(part, SinkRecord(message))

    async def after_fetch(self) -> None:
        await self._commit()

    async def close(self) -> None:
        await self.executor.aclose()

    # partitions ------------------------------------------------------------
    async def assigned(self, tps: Sequence[TopicPartition]) -> None:
        self.paused_all = False  # aiokafka resets pauses on assignment
        await super().assigned(tps)

    async def load(self, parts: Sequence[PartitionState]) -> None:
        """Read the ledgers of newly assigned partitions."""
        ledgers = await read_ledgers(
            self.settings,
            self.results_topic,
            self.ledger_topic,
            [p.tp.partition for p in parts],
            self.cfg.ledger_window_s,
            self.cfg.ledger_max_ids,
        )
        for part in parts:
            part.ledger = ledgers[part.tp.partition]

    def load_failed(self, exc: Exception) -> None:
        self.health = SinkHealth(False, f"cannot read the ledger: {exc}")
        log.warning("sink %s: reading the ledger failed (%s); retrying", self.name, exc)

    async def loaded(self, parts: Sequence[PartitionState], seconds: float) -> None:
        if self._config_error is None:
            self.health = SinkHealth()
        log.info(
            "sink %s: partitions %s assigned (ledger of %d ids read in %.2f s)",
            self.name,
            sorted(p.tp.partition for p in parts),
            sum(p.ledger.size for p in parts),
            seconds,
        )

    async def release(self, parts: Sequence[PartitionState], *, stopping: bool) -> None:
        """Drain and commit revoked partitions (all of them on stop)."""
        await self._drain(parts)
        await self._commit(force=True, parts=parts)
        self._queues.drop(p.tp.partition for p in parts)

    async def _drain(self, parts: Sequence[PartitionState]) -> None:
        """Let the calls in flight finish (bounded), start no other (see ``_drain``)."""
        # Commands blocked by a config error will not finish: do not wait for them.
        timeout = 0 if self._config_error is not None else self.cfg.drain_timeout_s
        if cancelled := await drain(parts, timeout):
            log.warning("sink %s: cancelled %d commands still running", self.name, cancelled)

    # commands ----------------------------------------------------------------
    async def _handle(self, part: PartitionState, record: SinkRecord) -> bool:
        """One record of a key's queue; False (stop this key) if Kafka refused its Result."""
        began = time.perf_counter()
        try:
            outcome = await self._process(part, record)
        except asyncio.CancelledError:
            raise
        except WorkLost as exc:  # a zombie: its new owner runs it (streams.membership)
            log.warning(
                "sink %s: %s@%d not answered: %s", self.name, record.key, record.offset, exc
            )
            return False
        except Exception:  # Kafka refused the Result: stop here, never skip it
            log.exception(
                "sink %s: cannot answer %s@%d",
                self.name,
                (part.tp.partition, record.key),
                record.offset,
            )
            self._stop_on_config_error(e.SwitchboardError("cannot produce Results"))
            return False
        COMMANDS.labels(self.name, outcome).inc()
        COMMAND_SECONDS.labels(self.name).observe(time.perf_counter() - began)
        return True

    async def _process(self, part: PartitionState, record: SinkRecord) -> str:
        """Run one record to its Result; returns the outcome for the metrics."""
        times = CommandTimes()
        try:
            command, params = self.executor.decode(record.value or b"", where=record.topic)
        except InvalidCommand as exc:
            await self.writer.fail(
                part,
                record,
                record.fallback_id(),
                "?",
                "invalid_command",
                exc,
                times.timings(),
                api_version=self.executor.api_version(),
            )
            return "invalid"
        marked = self.executor.safety(params) == "ledger"  # only then were calls marked
        verdict = part.ledger.verdict(command.id, record.offset, "ledger" if marked else "key")
        if verdict == "redelivered":
            log.info("sink %s: %s already answered (redelivery)", self.name, command.id)
            return verdict
        if verdict == "duplicate":
            log.info("sink %s: %s already succeeded; not sent again", self.name, command.id)
            return verdict
        if verdict == "outcome_unknown":  # unless the provider lets us find the call
            with guard_attempts(lambda: self.membership.check(part)):
                found = await look_up(self.executor, params, command.id, part.ledger.at(command.id))
            if isinstance(found, CallResult):
                return await self._answer(part, record, command, params, found, times)
            return await self._fail(part, record, command, params, verdict, found, times)
        try:
            call = await self._call(part, record, command, params, times)
        except CommandExpired as exc:  # a failed Result, no DLQ record
            return await self._answer(part, record, command, params, exc, times)
        except e.SwitchboardError as exc:
            reason = failure_reason(exc)
            return await self._fail(part, record, command, params, reason, exc, times)
        except WorkLost:
            raise
        except Exception as exc:  # a bug must not crash-loop the worker
            log.exception("sink %s: command %s failed unexpectedly", self.name, command.id)
            return await self._fail(part, record, command, params, "internal_error", exc, times)
        return await self._answer(part, record, command, params, call, times)

    async def _fail(
        self,
        part: PartitionState,
        record: SinkRecord,
        command: Command,
        params: CommandParams,
        reason: str,
        exc: BaseException,
        times: CommandTimes,
    ) -> str:
        """Dead-letter ``command`` for ``reason`` with its failed Result."""
        version = self.executor.api_version(params)
        return await self.writer.fail(
            part,
            record,
            command.id,
            command.type,
            reason,
            exc,
            times.timings(),
            api_version=version,
        )

    async def _answer(
        self,
        part: PartitionState,
        record: SinkRecord,
        command: Command,
        params: CommandParams,
        outcome: CallResult | e.SwitchboardError,
        times: CommandTimes,
    ) -> str:
        """Answer ``command`` (and its ``reply_to``) without dead-lettering it."""
        result = command_result(
            command.id,
            command.type,
            times.timings(),
            outcome,
            api_version=self.executor.api_version(params),
        )
        await self.writer.answer(part, record, result, reply_to=command.reply_to)
        return result.error.code if result.error is not None else result.status

    async def _call(
        self,
        part: PartitionState,
        record: SinkRecord,
        command: Command,
        params: CommandParams,
        times: CommandTimes,
    ) -> CallResult:
        """The call, retried through open-breaker periods (the command is held)."""
        marked = maybe_sent = False
        try:
            while True:
                if command.is_expired():
                    raise CommandExpired(f"expired at {command.expires_at}; not sent")
                # marked once a slot is held: a command waiting for one leaves no marker
                async with slot(self._slots, part):
                    if not marked and self.executor.safety(params) == "ledger":
                        await self.writer.mark(part, record, command.id, "started")
                        marked = True
                    times.started_at = times.started_at or utcnow()
                    maybe_sent = True
                    try:
                        with guard_attempts(lambda: self.membership.check(part)):
                            return await self.executor.call(params, command.id)
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
                await self.writer.mark(part, record, command.id, "released")
            await self._stopping.wait()  # never dead-letter: the offset stays for after the fix
            raise asyncio.CancelledError from None
        except BaseException:
            # Provably not sent: release the marker so a later owner may run
            # it. Otherwise the marker stays, and a later owner answers
            # outcome_unknown instead of calling a second time.
            if marked and not maybe_sent:
                with contextlib.suppress(Exception):
                    await asyncio.shield(self.writer.mark(part, record, command.id, "released"))
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

    async def _commit(
        self, *, force: bool = False, parts: Sequence[PartitionState] | None = None
    ) -> None:
        chosen = parts if parts is not None else list(self._parts.values())
        await self._committer.commit(self._consumer, chosen, force=force)
