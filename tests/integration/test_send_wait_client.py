"""`CommandClient` against the real broker: each awaited Result is its own
command's, found whenever it was written, across partitions, after a timeout."""

from __future__ import annotations

import asyncio
import time

import pytest

import connectors
from core.envelopes import Command, Result, new_id
from streams.commands import (
    CommandClient,
    CommandInvalid,
    ResultTimeout,
)
from streams.kafka.topics import TopicNames
from streams.settings import Settings
from tests.integration import send_wait_support as support
from tests.integration.send_wait_support import (
    CREATE,
    StandInSink,
    by_email,
    integration,
    produce_results,
    succeeded,
)
from tests.kafkatools import read_topic

stripe_topics = support.stripe_topics  # the shared fixture, bound here so pytest finds it


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
