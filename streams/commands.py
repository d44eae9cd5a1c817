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
from collections.abc import Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, Self

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from core.connector import CommandParams
from core.envelopes import Command, Result
from streams.settings import Settings

from . import kafka
from ._command_build import (
    CommandInvalid,
    build_command,
    check_reply_to,
    check_request,
    command_type_of,
    topic_name_problem,
)
from ._result_reader import ResultReader
from .kafka.topics import TopicNames

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


DEFAULT_RESULT_TIMEOUT = 30.0
# A captured results end offset stays a valid starting point forever (offsets
# only grow); reusing one for this long saves a round trip per send at the
# cost of re-reading at most this much of the results partition.
_SNAPSHOT_MAX_AGE_S = 1.0


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
        reader: ResultReader | None = None,
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
        self._reader: ResultReader | None = None
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
        self._reader = ResultReader(self._consumer)
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
            check_reply_to(command.reply_to)
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

    def _clients(self) -> tuple[AIOKafkaProducer, AIOKafkaConsumer, ResultReader]:
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
