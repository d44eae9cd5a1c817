"""Producing commands and awaiting their Results.

:func:`build_command` is the single place a command is validated before it
reaches Kafka (the CLI and the Python API both use it), with the sink's own
validation (:func:`core.executor.validate_params`), so an invalid command
is rejected where it is made instead of being dead-lettered later.

:class:`CommandClient` is the producer API: one idempotent producer for
every send, and one group-less consumer that reads Results back::

    async with CommandClient(settings) as client:
        sent = await client.send(stripe.CustomersCreate(email="ada@example.com"), key="ada")
        result = await sent.result(timeout=30)          # raises ResultTimeout
        result = await client.send_and_wait("stripe.customers.create", {"email": "b@x.io"})

How a Result is found (the sink's contract): the Result of a command
produced to ``<c>.commands`` partition P is the record keyed by the command
id on ``<c>.results`` partition P. Before producing, the client captures the
end offsets of ``<c>.results``; :meth:`SentCommand.result` reads partition P
from that offset, so a Result written before ``result()`` is called is still
found, and a Result of an earlier command with the same id is not mistaken
for this one. Partitions are assigned by hand: no consumer group, no
offsets committed, nothing anyone else reads is moved.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, Self

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

import connectors
from core import errors as e
from core.apicall import CallContext
from core.connector import CommandParams
from core.envelopes import Command, EnvelopeError, Result
from core.executor import InvalidCommand, validate_params
from core.settings import Settings

from . import kafka
from .topics import TopicNames

__all__ = [
    "DEFAULT_RESULT_TIMEOUT",
    "CommandClient",
    "CommandInvalid",
    "ResultTimeout",
    "SentCommand",
    "build_command",
    "check_request",
    "command_type_of",
    "send_command",
    "topic_name_problem",
]

log = logging.getLogger(__name__)

DEFAULT_RESULT_TIMEOUT = 30.0
# A captured results end offset stays a valid starting point forever (offsets
# only grow); reusing one for this long saves a round trip per send at the
# cost of re-reading at most this much of the results partition.
_SNAPSHOT_MAX_AGE_S = 1.0


_TOPIC_NAME = re.compile(r"[a-zA-Z0-9._-]{1,249}")


def topic_name_problem(name: str) -> str | None:
    """Why ``name`` is not a valid Kafka topic name (None if it is one).

    Kafka's own rule: 1 to 249 of ``a-z A-Z 0-9 . _ -``, and not ``.`` or ``..``.
    """
    if _TOPIC_NAME.fullmatch(name) and name not in {".", ".."}:
        return None
    return (
        f"{name!r} is not a valid Kafka topic name "
        "(1 to 249 of a-z A-Z 0-9 . _ -, and not '.' or '..')"
    )


class CommandInvalid(ValueError):
    """The command cannot be sent: unknown type, invalid params/envelope, or
    its topics do not exist. Nothing was produced."""


class ResultTimeout(TimeoutError):
    """No Result arrived for a sent command within the timeout.

    The command itself was produced (and may still be answered later).
    """

    def __init__(self, command_id: str, topic: str, partition: int, timeout: float) -> None:
        self.command_id = command_id
        self.topic = topic
        self.partition = partition
        self.timeout = timeout
        super().__init__(
            f"no Result for command {command_id} on {topic}[{partition}] within {timeout:g} s; "
            "the sink may not be running: start it with `switchboard worker --roles sink`"
        )


def command_type_of(params: CommandParams) -> str:
    """The registered command type whose model is exactly ``type(params)``.

    Raises :class:`CommandInvalid` if no connector (or more than one)
    registers that model.
    """
    model = type(params)
    found = [
        f"{connector.name}.{name}"
        for connector in connectors.registry().values()
        for name, candidate in connector.commands.items()
        if candidate is model
    ]
    if len(found) != 1:
        reason = "no registered command" if not found else f"several commands ({', '.join(found)})"
        raise CommandInvalid(
            f"{model.__qualname__} is the params model of {reason}; pass the command type too"
        )
    return found[0]


def build_command(
    command_type: str,
    params: Mapping[str, Any] | CommandParams,
    *,
    command_id: str | None = None,
    reply_to: str | None = None,
    expires_at: datetime | None = None,
    metadata: Mapping[str, str] | None = None,
) -> Command:
    """A validated :class:`Command`; raises :class:`CommandInvalid` (one line).

    ``params`` is a mapping validated by the type's model, or an instance of
    exactly that model (``connectors.command_model(command_type)``); the
    validation is :func:`core.executor.validate_params`, the sink's own.
    """
    try:
        connector, _model = connectors.command_model(command_type)
        validated = validate_params(connector, command_type, params)
    except (connectors.UnknownCommandType, InvalidCommand) as exc:
        raise CommandInvalid(str(exc)) from None
    _check_reply_to(reply_to)
    envelope: dict[str, Any] = {
        "type": command_type,
        "params": validated.model_dump(mode="json", exclude_unset=True),
        "reply_to": reply_to,
        "expires_at": expires_at,
        "metadata": dict(metadata or {}),
    }
    if command_id is not None:
        envelope["id"] = command_id
    try:
        return Command.from_obj({k: v for k, v in envelope.items() if v is not None})
    except EnvelopeError as exc:
        raise CommandInvalid(str(exc)) from None


def check_request(settings: Settings, command: Command) -> None:
    """Build ``command``'s request from this process's connector settings, as
    the sink will (no I/O); raises :class:`CommandInvalid` if it cannot be
    built (e.g. ``generic.request`` naming a template that is not configured).

    The CLI's ``send`` checks this; a producer whose settings lack the
    sink's connector section should not (it would refuse good commands).
    """
    connector, _model = connectors.command_model(command.type)
    try:
        params = validate_params(connector, command.type, command.params)
    except InvalidCommand as exc:
        raise CommandInvalid(str(exc)) from None
    try:
        params.api_call(CallContext(command.id, settings.section(command.connector)))
    except e.SwitchboardError as exc:
        raise CommandInvalid(
            f"{command.type}: {exc} (checked with the {command.connector} settings here; "
            "the sink would fail it the same way)"
        ) from None


def _check_reply_to(reply_to: str | None) -> None:
    problem = None if reply_to is None else topic_name_problem(reply_to)
    if problem:
        raise CommandInvalid(f"reply_to {problem}")


class SentCommand:
    """A command Kafka acknowledged, and where its Result will be.

    ``topic``/``partition``/``offset``: where the command was written;
    ``results_topic``/``partition``, from ``results_offset`` on: where its
    Result is looked for.
    """

    __slots__ = (
        "_reader",
        "_result",
        "command",
        "offset",
        "partition",
        "results_offset",
        "results_topic",
        "topic",
    )

    def __init__(
        self,
        command: Command,
        topic: str,
        partition: int,
        offset: int,
        *,
        results_topic: str = "",
        results_offset: int = 0,
        reader: _ResultReader | None = None,
    ) -> None:
        self.command = command
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.results_topic = results_topic
        self.results_offset = results_offset
        self._reader = reader
        self._result: Result | None = None

    async def result(self, timeout: float | None = DEFAULT_RESULT_TIMEOUT) -> Result:
        """This command's Result (succeeded or failed: check ``.status``).

        Waits up to ``timeout`` seconds (None: forever) and raises
        :class:`ResultTimeout` if none arrived. Needs the
        :class:`CommandClient` that sent the command to be open.
        """
        if self._result is not None:
            return self._result
        if self._reader is None:
            raise RuntimeError(
                "this command was sent without a way to read Results: "
                "send it with a CommandClient that is still open"
            )
        tp = TopicPartition(self.results_topic, self.partition)
        future = await self._reader.watch(tp, self.command.id, self.results_offset)
        try:
            self._result = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise ResultTimeout(
                self.command.id, self.results_topic, self.partition, timeout or 0
            ) from None
        finally:
            self._reader.unwatch(tp, self.command.id, future)
        return self._result


_Waiter = tuple[int, "asyncio.Future[Result]"]  # (first offset that may hold it, future)


class _ResultReader:
    """One consumer serving every pending ``result()`` of a client.

    Only partitions with someone waiting are assigned; each is read from the
    lowest starting offset among its waiters (re-reading is harmless: a
    record is matched by key and offset, a future resolves once).
    """

    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self._consumer = consumer
        self._waiting: dict[TopicPartition, dict[str, list[_Waiter]]] = {}
        self._task: asyncio.Task[None] | None = None

    async def watch(
        self, tp: TopicPartition, command_id: str, start: int
    ) -> asyncio.Future[Result]:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(tp, {}).setdefault(command_id, []).append((start, future))
        if tp not in self._consumer.assignment():
            # assign() forgets every position: place each partition again.
            self._consumer.assign(list(self._waiting))
            for assigned in self._waiting:
                self._consumer.seek(assigned, self._lowest_start(assigned))
        elif start < await self._consumer.position(tp):
            # Registered before reading the position, so records past it
            # reach this waiter; only what is behind needs reading again.
            self._consumer.seek(tp, self._lowest_start(tp))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._read(), name="switchboard-results")
        return future

    def unwatch(self, tp: TopicPartition, command_id: str, future: asyncio.Future[Result]) -> None:
        by_id = self._waiting.get(tp, {})
        entries = [entry for entry in by_id.get(command_id, []) if entry[1] is not future]
        if entries:
            by_id[command_id] = entries
        else:
            by_id.pop(command_id, None)
        if not by_id:
            self._waiting.pop(tp, None)  # stays assigned until the next assign(): harmless
        future.cancel()

    def _lowest_start(self, tp: TopicPartition) -> int:
        return min(start for entries in self._waiting[tp].values() for start, _ in entries)

    async def _read(self) -> None:
        try:
            while True:
                batches = await self._consumer.getmany(timeout_ms=1_000)
                for tp, records in batches.items():
                    by_id = self._waiting.get(tp, {})
                    for record in records if by_id else ():
                        key = (record.key or b"").decode("utf-8", "replace")
                        pending = [
                            future
                            for start, future in by_id.get(key, ())
                            if record.offset >= start and not future.done()
                        ]
                        if pending:
                            self._resolve(pending, record.value, tp, record.offset)
        except Exception as exc:
            # Every waiter hears of it; the next watch() starts a new reader.
            log.warning("reading Results failed", extra={"error": repr(exc)})
            self._fail_all(exc)

    @staticmethod
    def _resolve(
        futures: list[asyncio.Future[Result]], value: bytes | None, tp: TopicPartition, offset: int
    ) -> None:
        try:
            result = Result.from_json(value or b"")
        except EnvelopeError as exc:
            log.warning(
                "skipping a record that is not a Result",
                extra={
                    "topic": tp.topic,
                    "partition": tp.partition,
                    "offset": offset,
                    "error": str(exc),
                },
            )
            return
        for future in futures:
            future.set_result(result)

    def _fail_all(self, exc: BaseException) -> None:
        for by_id in self._waiting.values():
            for entries in by_id.values():
                for _start, future in entries:
                    if not future.done():
                        future.set_exception(exc)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        self._fail_all(RuntimeError("the CommandClient was closed"))


class CommandClient:
    """Send validated commands and await their Results.

    Use as ``async with CommandClient(settings) as client``; entering
    connects (raising :class:`kafka.KafkaUnavailable` if Kafka cannot be
    reached within ``kafka.connect_timeout_s``), leaving closes both
    clients. One producer serves every send; safe to use from many tasks.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._names = TopicNames.from_settings(settings)
        self._stack = contextlib.AsyncExitStack()
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._reader: _ResultReader | None = None
        self._ready: set[str] = set()
        self._snapshots: dict[str, tuple[float, dict[int, int]]] = {}
        self._snapshot_lock = asyncio.Lock()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> None:
        try:
            self._producer = await self._stack.enter_async_context(
                kafka.connect(self.settings, kafka.producer(self.settings))
            )
            self._consumer = await self._stack.enter_async_context(
                kafka.connect(self.settings, kafka.consumer(self.settings))
            )
        except BaseException:
            await self._stack.aclose()
            raise
        self._reader = _ResultReader(self._consumer)
        self._stack.push_async_callback(self._reader.close)

    async def close(self) -> None:
        await self._stack.aclose()
        self._producer = self._consumer = self._reader = None

    async def send(
        self,
        command: str | CommandParams | Command,
        params: Mapping[str, Any] | CommandParams | None = None,
        *,
        key: str | None = None,
        command_id: str | None = None,
        reply_to: str | None = None,
        expires_at: datetime | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> SentCommand:
        """Validate, produce and wait for Kafka's ack (``acks=all``).

        ``command`` is a command type with ``params`` (a mapping or the
        type's model instance; none means ``{}``), a model instance alone
        (its type is looked up), or a :class:`Command` built with
        :func:`build_command`. The record key is ``key`` (the ordering key)
        or, without one, the command id.

        Raises :class:`CommandInvalid` (nothing produced) for an invalid
        command or missing topics, :class:`kafka.KafkaUnavailable` if Kafka
        is down.
        """
        if isinstance(command, Command):
            if params is not None or command_id or reply_to or expires_at or metadata:
                raise TypeError("a built Command takes no params, command_id, reply_to, ...")
            _check_reply_to(command.reply_to)
            built = command
        else:
            if isinstance(command, CommandParams):
                if params is not None:
                    raise TypeError("pass params either as the first argument or the second")
                command_type, params = command_type_of(command), command
            else:
                command_type = command
            built = build_command(
                command_type,
                {} if params is None else params,
                command_id=command_id,
                reply_to=reply_to,
                expires_at=expires_at,
                metadata=metadata,
            )
        try:
            return await self._produce(built, key)
        except KafkaError as exc:  # the broker went away after we connected
            raise kafka.KafkaUnavailable(
                f"Kafka at {self.settings.bootstrap_servers} failed while sending "
                f"({type(exc).__name__}): {kafka.HOW_TO_START}"
            ) from exc

    async def send_and_wait(
        self,
        command: str | CommandParams | Command,
        params: Mapping[str, Any] | CommandParams | None = None,
        *,
        timeout: float | None = DEFAULT_RESULT_TIMEOUT,
        key: str | None = None,
        command_id: str | None = None,
        reply_to: str | None = None,
        expires_at: datetime | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> Result:
        """:meth:`send`, then its :meth:`SentCommand.result` within ``timeout``."""
        sent = await self.send(
            command,
            params,
            key=key,
            command_id=command_id,
            reply_to=reply_to,
            expires_at=expires_at,
            metadata=metadata,
        )
        return await sent.result(timeout)

    def _clients(self) -> tuple[AIOKafkaProducer, AIOKafkaConsumer, _ResultReader]:
        if self._producer is None or self._consumer is None or self._reader is None:
            raise RuntimeError("the CommandClient is not started: use `async with`")
        return self._producer, self._consumer, self._reader

    async def _produce(self, command: Command, key: str | None) -> SentCommand:
        producer, _consumer, reader = self._clients()
        connector = command.connector
        await self._check_topics(connector)
        starts = await self._results_ends(connector)  # before producing: see module docstring
        meta = await producer.send_and_wait(
            self._names.commands(connector),
            command.to_json(),
            key=(key or command.id).encode(),
            headers=[("content-type", b"application/json"), ("type", command.type.encode())],
        )
        return SentCommand(
            command,
            meta.topic,
            meta.partition,
            meta.offset,
            results_topic=self._names.results(connector),
            results_offset=starts[meta.partition],
            reader=reader,
        )

    async def _check_topics(self, connector: str) -> None:
        if connector in self._ready:
            return
        producer, consumer, _reader = self._clients()
        commands, results = self._names.commands(connector), self._names.results(connector)
        existing = await consumer.topics()
        for topic in (commands, results):
            if topic not in existing:
                raise CommandInvalid(
                    f"topic {topic} does not exist: create it with "
                    f"`switchboard topics create {connector}`"
                )
        counts = [len(await producer.partitions_for(t)) for t in (commands, results)]
        if counts[0] != counts[1]:
            raise CommandInvalid(
                f"{commands} has {counts[0]} partitions but {results} has {counts[1]}: "
                "a Result goes to its command's partition number, so they must be equal"
            )
        self._ready.add(connector)

    async def _results_ends(self, connector: str) -> dict[int, int]:
        producer, consumer, _reader = self._clients()
        loop = asyncio.get_running_loop()
        async with self._snapshot_lock:  # concurrent senders share one capture
            snapshot = self._snapshots.get(connector)
            if snapshot is None or loop.time() - snapshot[0] > _SNAPSHOT_MAX_AGE_S:
                taken = loop.time()
                topic = self._names.results(connector)
                partitions = await producer.partitions_for(topic)
                ends = await consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
                snapshot = (taken, {tp.partition: offset for tp, offset in ends.items()})
                self._snapshots[connector] = snapshot
            return snapshot[1]


async def send_command(
    settings: Settings, command: Command, *, key: str | None = None
) -> SentCommand:
    """Produce one ``command`` to ``<c>.commands`` and wait for Kafka's ack.

    A one-off :class:`CommandClient` send: the returned command cannot await
    its Result (use a client for that). Raises :class:`CommandInvalid` if
    the topics do not exist, :class:`kafka.KafkaUnavailable` if Kafka is down.
    """
    async with CommandClient(settings) as client:
        sent = await client.send(command, key=key)
    return SentCommand(sent.command, sent.topic, sent.partition, sent.offset)
