"""Sending commands and awaiting their Results (`CommandClient`, `send --wait`).

The sink is stood in for at the Kafka boundary by :class:`StandInSink`,
which keeps the sink's contract: the Result of a command read from
``<c>.commands`` partition P goes to ``<c>.results`` partition P, keyed by
the command id, as JSON.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiokafka import TopicPartition

import connectors
from core.envelopes import Command, ErrorInfo, Result, new_id
from streams import kafka
from streams.commands import (
    CommandClient,
    CommandInvalid,
    ResultTimeout,
    build_command,
    command_type_of,
)
from streams.kafka.topics import TopicNames, connector_topics, ensure_topics, partitions_of
from streams.settings import Settings, load_settings
from tests.integration.sink_support import sink_ready
from tests.kafkatools import read_topic
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

        await eventually(
            fetch, timeout, until=lambda n: n >= count, what=f"{count} commands", interval=0
        )
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


# --- Python API -----------------------------------------------------------------------------


@integration
async def test_the_awaited_result_is_this_commands_among_many(stripe_topics: Settings) -> None:
    settings = stripe_topics
    first_id = f"cmd-{new_id()}"
    # A Result with the first command's id from before it was sent: not its Result.
    stale = Result(command_id=first_id, type=CREATE, status="succeeded", response={"stale": 1})
    await produce_results(settings, [(p, stale) for p in range(3)])

    async with (
        CommandClient(settings) as client,
        StandInSink(settings, by_email).running(serve=False) as sink,
    ):
        sent = [
            await client.send(
                CREATE,
                {"email": f"n{i}@example.com"},
                key="cus_same",
                command_id=first_id if i == 0 else None,
            )
            for i in range(8)
        ]
        assert len({s.partition for s in sent}) == 1  # one key: one partition
        commands = await sink.read(8)
        # Answer newest first, each after a Result of some other command.
        answers: list[tuple[int, Result]] = []
        for index, (partition, command) in reversed(list(enumerate(commands))):
            other = Command(type=CREATE, params={})
            answers += [(partition, succeeded(other)), (partition, succeeded(command, n=index))]
        await produce_results(settings, answers)

        results = [await s.result(timeout=30) for s in sent]

    assert [r.command_id for r in results] == [s.command.id for s in sent]
    assert [r.response["n"] for r in results] == list(range(8))
    assert results[0].command_id == first_id


@integration
async def test_a_result_written_before_result_is_called_is_found(stripe_topics: Settings) -> None:
    settings = stripe_topics
    _, customers_create = connectors.command_model(CREATE)
    async with (
        CommandClient(settings) as client,
        StandInSink(settings, by_email).running(serve=False) as sink,
    ):
        # A typed params instance: its command type is looked up.
        sent = await client.send(
            customers_create.model_validate({"email": "ada@example.com"}), key="cus_ada"
        )
        assert sent.command.type == CREATE
        assert sent.command.params == {"email": "ada@example.com"}
        [(partition, command)] = await sink.read(1)
        assert (partition, command.id) == (sent.partition, sent.command.id)
        await produce_results(settings, [(partition, succeeded(command))])
        on_topic = await read_topic(settings, sent.results_topic, expect=1)
        assert [r.key for r in on_topic] == [sent.command.id.encode()]

        result = await sent.result(timeout=30)

    assert (result.status, result.command_id) == ("succeeded", sent.command.id)
    assert await sent.result() is result  # remembered: no second read


@integration
async def test_send_and_wait_concurrently_across_partitions(stripe_topics: Settings) -> None:
    settings = stripe_topics
    async with (
        CommandClient(settings) as client,
        StandInSink(settings, by_email).running(serve=True),
    ):
        emails = [f"{'bad' if i % 3 == 0 else 'ok'}{i}@example.com" for i in range(12)]
        results = await asyncio.gather(
            *(
                client.send_and_wait(CREATE, {"email": e}, key=f"cus_{i}", timeout=30)
                for i, e in enumerate(emails)
            )
        )
        partitions = {
            p for p, c in await read_topic_commands(settings) if c.params["email"] in emails
        }
    assert len(partitions) > 1  # several results partitions read at once
    assert len({r.command_id for r in results}) == 12
    assert [r.status for r in results] == [
        "failed" if e.startswith("bad") else "succeeded" for e in emails
    ]


async def read_topic_commands(settings: Settings) -> list[tuple[int, Command]]:
    topic = TopicNames.from_settings(settings).commands("stripe")
    return [(r.partition, Command.from_json(r.value)) for r in await read_topic(settings, topic)]


@integration
async def test_no_result_times_out_cleanly_and_a_later_one_is_still_found(
    stripe_topics: Settings,
) -> None:
    settings = stripe_topics
    async with (
        CommandClient(settings) as client,
        StandInSink(settings, by_email).running(serve=False) as sink,
    ):
        sent = await client.send(CREATE, {"email": "late@example.com"})
        began = time.monotonic()
        with pytest.raises(ResultTimeout) as info:
            await sent.result(timeout=1)
        assert 1 <= time.monotonic() - began < 10
        assert info.value.command_id == sent.command.id
        assert "switchboard worker --roles sink" in str(info.value)
        assert f"{sent.results_topic}[{sent.partition}]" in str(info.value)

        [(partition, command)] = await sink.read(1)
        await produce_results(settings, [(partition, succeeded(command))])
        assert (await sent.result(timeout=30)).command_id == sent.command.id


@integration
async def test_missing_topics_are_rejected_before_producing(prefixed_settings: Settings) -> None:
    async with CommandClient(prefixed_settings) as client:
        with pytest.raises(CommandInvalid, match="switchboard topics create stripe"):
            await client.send(CREATE, {"email": "a@example.com"})


# --- the models side, no broker ---------------------------------------------------------------


def test_a_typed_params_instance_builds_the_same_command_as_a_mapping() -> None:
    _, customers_create = connectors.command_model(CREATE)
    typed = build_command(
        CREATE, customers_create.model_validate({"email": "a@example.com", "name": "A"})
    )
    plain = build_command(CREATE, {"email": "a@example.com", "name": "A"})
    assert typed.params == plain.params == {"email": "a@example.com", "name": "A"}
    assert command_type_of(customers_create.model_validate({"email": "a@example.com"})) == CREATE


def test_a_params_instance_of_another_command_is_rejected() -> None:
    _, customers_create = connectors.command_model(CREATE)
    with pytest.raises(CommandInvalid, match="must be a CustomersUpdate"):
        build_command(
            "stripe.customers.update", customers_create.model_validate({"email": "a@example.com"})
        )


@pytest.mark.parametrize("reply_to", ["bad topic!", ".", "..", "x" * 250, "a/b", ""])
async def test_a_reply_to_that_is_not_a_topic_name_is_refused(reply_to: str) -> None:
    """Before connecting, for a command built here or one built elsewhere."""
    with pytest.raises(CommandInvalid, match=r"reply_to .* is not a valid Kafka topic name"):
        build_command(CREATE, {"email": "a@example.com"}, reply_to=reply_to)
    built = Command.model_construct(**{**build_command(CREATE, {}).__dict__, "reply_to": reply_to})
    client = CommandClient(load_settings(sections=connectors.settings_sections()))
    with pytest.raises(CommandInvalid, match="not a valid Kafka topic name"):
        await client.send(built)  # not started: refused before any Kafka call
    assert build_command(CREATE, {}, reply_to="my-app.replies_1").reply_to == "my-app.replies_1"


# --- the CLI ----------------------------------------------------------------------------------


async def cli(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        SWITCHBOARD,
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


@pytest.fixture
def env(cli_env: dict[str, str], topic_prefix: str) -> dict[str, str]:
    return {**cli_env, "SWITCHBOARD_KAFKA__TOPIC_PREFIX": topic_prefix}


@integration
async def test_cli_wait_prints_the_result_and_exits_by_its_status(
    stripe_topics: Settings, env: dict[str, str]
) -> None:
    async with StandInSink(stripe_topics, by_email).running(serve=True):
        ok = await cli(env, "send", CREATE, "--json", '{"email": "ok@example.com"}', "--wait")
        bad = await cli(
            env,
            "send",
            CREATE,
            "--json",
            '{"email": "bad@example.com"}',
            "--wait",
            "--timeout",
            "30",
        )

    code, stdout, stderr = ok
    assert code == 0, stderr
    command_id, outcome, *rest = stdout.splitlines()
    assert outcome == f"succeeded  {CREATE}  command_id={command_id}"
    assert "  http status:   200" in rest
    assert "  attempts:      1" in rest
    assert f'      "id": "cus_{command_id[:8]}"' in rest
    assert "waiting up to 30 s for its Result on" in stderr

    code, stdout, stderr = bad
    assert code == 1, stderr
    command_id, outcome, *rest = stdout.splitlines()
    assert outcome == f"failed  {CREATE}  command_id={command_id}"
    assert "  http status:   400" in rest
    assert "  error:         fatal_request: Invalid email address" in rest
    assert "  provider code: email_invalid" in rest
    assert "  request id:    req_123" in rest


@integration
async def test_cli_wait_timeout_is_one_line_and_exit_124(
    stripe_topics: Settings, env: dict[str, str]
) -> None:
    code, stdout, stderr = await cli(
        env, "send", CREATE, "--json", '{"email": "silent@example.com"}', "--wait", "--timeout", "1"
    )
    assert code == 124
    command_id = stdout.strip()
    [error] = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert f"no Result for command {command_id}" in error
    assert "within 1 s" in error
    assert "`switchboard worker --roles sink`" in error
    assert "Traceback" not in stderr


# --- with the real sink ------------------------------------------------------------------------


@integration
async def test_with_the_real_sink_and_the_stripe_sandbox(
    kafka_bootstrap: str, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from streams.sink import Sink

    stripe = connectors.get("stripe")
    assert stripe.sandbox is not None
    assert stripe.api is not None
    async with stripe.sandbox() as sandbox:
        for name, value in {
            "KAFKA__BOOTSTRAP_SERVERS": kafka_bootstrap,
            "KAFKA__TOPIC_PREFIX": topic_prefix,
            "STRIPE__BASE_URL": sandbox.url,
            "STRIPE__API_KEY": "sk_test_sandbox",
        }.items():
            monkeypatch.setenv(f"SWITCHBOARD_{name}", value)
        settings = load_settings(sections=connectors.settings_sections())
        await ensure_topics(settings, connector_topics(settings, "stripe"))
        sink = Sink(settings, stripe, stripe.api(settings.section("stripe")))
        sink_task = asyncio.create_task(sink.run())
        try:
            await eventually(lambda: sink_ready(sink, sink_task), 30)
            async with CommandClient(settings) as client:
                created, missing = await asyncio.gather(
                    client.send_and_wait(CREATE, {"email": "ada@example.com"}, timeout=60),
                    client.send_and_wait(
                        "stripe.customers.update",
                        {"customer": "cus_nobody"},
                        key="cus_nobody",
                        timeout=60,
                    ),
                )
        finally:
            sink.stop()
            await sink_task
    assert (created.status, created.http_status) == ("succeeded", 200)
    assert created.response["email"] == "ada@example.com"
    assert (missing.status, missing.http_status) == ("failed", 404)
    assert missing.error is not None
    assert missing.error.code == "fatal_request"
