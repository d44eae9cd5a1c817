"""Shared by the tests of sending commands and awaiting their Results: the
sink is stood in for at the Kafka boundary by :class:`StandInSink`, which keeps
the sink's contract: the Result of a command read from ``<c>.commands``
partition P goes to ``<c>.results`` partition P, keyed by the command id, as JSON.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiokafka import TopicPartition

from core.envelopes import Command, ErrorInfo, Result
from streams import kafka
from streams.kafka.topics import TopicNames, connector_topics, ensure_topics, partitions_of
from streams.settings import Settings
from tests.waiting import eventually

SWITCHBOARD = str(Path(sys.executable).parent / "switchboard")
CREATE = "stripe.customers.create"
integration = pytest.mark.integration

Answer = Callable[[Command], Result | None]


def succeeded(command: Command, **response: object) -> Result:
    return Result(
        command_id=command.id,
        type=command.type,
        status="succeeded",
        attempts=1,
        http_status=200,
        response={"id": f"cus_{command.id[:8]}", **response},
    )


def failed(command: Command) -> Result:
    return Result(
        command_id=command.id,
        type=command.type,
        status="failed",
        attempts=1,
        http_status=400,
        error=ErrorInfo(
            code="fatal_request",
            message="Invalid email address",
            provider_code="email_invalid",
            request_id="req_123",
        ),
    )


async def produce_results(settings: Settings, answers: list[tuple[int, Result]]) -> None:
    """Write each Result to results partition P, as the sink does."""
    topic = TopicNames.from_settings(settings).results("stripe")
    async with kafka.connect(settings, kafka.producer(settings)) as producer:
        for partition, result in answers:
            await producer.send_and_wait(
                topic,
                result.to_json(),
                key=result.command_id.encode(),
                partition=partition,
                headers=[("content-type", b"application/json")],
            )


class StandInSink:
    """Reads ``stripe.commands`` from the beginning; ``answer`` decides each
    command's Result (None: no answer, like a sink that is not running)."""

    def __init__(self, settings: Settings, answer: Answer) -> None:
        self.settings = settings
        self.answer = answer
        self.seen: list[tuple[int, Command]] = []

    async def read(self, count: int, timeout: float = 30.0) -> list[tuple[int, Command]]:
        """The next ``count`` commands as (partition, command), within ``timeout``."""

        async def fetch() -> int:
            if len(self.seen) < count:
                batches = await self._consumer.getmany(timeout_ms=200)
                for tp, records in batches.items():
                    self.seen += [(tp.partition, Command.from_json(r.value)) for r in records]
            return len(self.seen)

        def enough(seen: int) -> bool:
            return seen >= count

        await eventually(fetch, timeout, until=enough, what=f"{count} commands", interval=0)
        taken, self.seen = self.seen[:count], self.seen[count:]
        return taken

    async def serve(self) -> None:
        while True:
            batch = await self.read(1, timeout=3600) + self.seen
            self.seen = []
            answers = [(p, self.answer(c)) for p, c in batch]
            await produce_results(self.settings, [(p, r) for p, r in answers if r is not None])

    @asynccontextmanager
    async def running(self, *, serve: bool) -> AsyncIterator[StandInSink]:
        topic = TopicNames.from_settings(self.settings).commands("stripe")
        partitions = await partitions_of(self.settings, topic)
        assert partitions is not None
        consumer = kafka.consumer(self.settings)
        async with kafka.connect(self.settings, consumer) as self._consumer:
            tps = [TopicPartition(topic, p) for p in partitions]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            task = asyncio.create_task(self.serve()) if serve else None
            try:
                yield self
            finally:
                if task is not None:
                    task.cancel()
                    with pytest.raises(asyncio.CancelledError):
                        await task


@pytest.fixture
async def stripe_topics(prefixed_settings: Settings) -> Settings:
    await ensure_topics(prefixed_settings, connector_topics(prefixed_settings, "stripe"))
    return prefixed_settings


def by_email(command: Command) -> Result | None:
    email = str(command.params.get("email", ""))
    if email.startswith("silent"):
        return None
    return failed(command) if email.startswith("bad") else succeeded(command)
