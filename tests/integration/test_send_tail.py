"""`switchboard send` and `tail` against the real broker, checked by an
independent client (a raw aiokafka consumer)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from core.envelopes import Command
from streams.kafka.topics import TopicNames, connector_topics, ensure_topics
from streams.settings import Settings

pytestmark = pytest.mark.integration

SWITCHBOARD = str(Path(sys.executable).parent / "switchboard")


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SWITCHBOARD, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def env(cli_env: dict[str, str], topic_prefix: str) -> dict[str, str]:
    return {**cli_env, "SWITCHBOARD_KAFKA__TOPIC_PREFIX": topic_prefix}


async def read_all(bootstrap: str, topic: str) -> list[Any]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(3)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        records = []
        while [tp for tp in tps if await consumer.position(tp) < end[tp]]:
            batch = await consumer.getmany(timeout_ms=1000)
            for rs in batch.values():
                records.extend(rs)
        return records
    finally:
        await consumer.stop()


async def test_send_produces_a_valid_command_an_independent_client_reads(
    env: dict[str, str], prefixed_settings: Settings, kafka_bootstrap: str
) -> None:
    created = cli(env, "topics", "create", "stripe")
    assert created.returncode == 0, created.stderr
    topic = TopicNames.from_settings(prefixed_settings).commands("stripe")
    assert f"created  {topic}" in created.stdout

    result = cli(
        env,
        "send",
        "stripe.customers.create",
        "--json",
        '{"email": "ada@example.com", "name": "Ada"}',
        "--key",
        "cus_ada",
        "--meta",
        "team=billing",
    )
    assert result.returncode == 0, result.stderr
    command_id = result.stdout.strip()

    records = await read_all(kafka_bootstrap, topic)
    assert len(records) == 1
    record = records[0]
    assert record.key == b"cus_ada"
    assert dict(record.headers)["type"] == b"stripe.customers.create"
    command = Command.from_json(record.value)
    assert command.id == command_id
    assert command.params == {"email": "ada@example.com", "name": "Ada"}
    assert command.metadata == {"team": "billing"}

    # An invalid command against a reachable broker: exit 2, nothing produced.
    bad = cli(env, "send", "stripe.customers.create", "--json", '{"email": 5}')
    assert bad.returncode == 2
    assert len(await read_all(kafka_bootstrap, topic)) == 1

    # tail reads it back, pretty-printed.
    tailed = cli(env, "tail", topic, "--from-beginning", "--limit", "1", "--timeout", "30")
    assert tailed.returncode == 0, tailed.stderr
    assert f"{topic}[" in tailed.stdout
    assert f"command stripe.customers.create id={command_id}" in tailed.stdout
    assert '"email": "ada@example.com"' in tailed.stdout
    raw = cli(env, "tail", topic, "--from-beginning", "--limit", "1", "--raw")
    assert orjson.loads(raw.stdout)["id"] == command_id


def test_send_to_a_missing_topic_says_how_to_create_it(env: dict[str, str]) -> None:
    result = cli(
        env, "send", "github.issues.create", "--json", '{"owner":"o","repo":"r","title":"t"}'
    )
    assert result.returncode == 2
    assert "switchboard topics create github" in result.stderr


def test_tail_of_a_missing_topic(env: dict[str, str]) -> None:
    result = cli(env, "tail", "no.such.topic", "--limit", "1")
    assert result.returncode == 2
    assert "topic no.such.topic does not exist" in result.stderr


async def test_topic_naming_scheme_and_idempotent_creation(
    prefixed_settings: Settings, topic_prefix: str
) -> None:
    specs = connector_topics(prefixed_settings, "github")
    names = {s.name for s in specs}
    assert names == {
        f"{topic_prefix}github.{kind}"
        for kind in ("ingest", "events", "commands", "results", "ledger")
    } | {f"{topic_prefix}github.ingest.dlq", f"{topic_prefix}github.commands.dlq"}
    assert set(await ensure_topics(prefixed_settings, specs)) == names
    assert await ensure_topics(prefixed_settings, specs) == []
