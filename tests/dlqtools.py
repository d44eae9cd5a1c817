"""Seeding DLQ topics and running ``switchboard dlq`` in tests.

:func:`seed` creates, under the settings' topic prefix, ``stripe.commands``,
``github.ingest``, their ``.dlq`` topics and an empty ``other.commands``,
and produces five DLQ records to partition 0 with a raw aiokafka producer
(error headers from ``DlqHeaders.to_headers()`` after the record's own
headers): three stripe commands failed 180, 30 and 5 minutes ago, one
github event (not JSON) two days ago, one record without error headers.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from click.testing import CliRunner, Result

from core.envelopes import Command, DlqHeaders
from streams import kafka
from streams.cli import cli
from streams.kafka.topics import TopicNames, TopicSpec, ensure_topics
from streams.settings import Settings
from tests.kafkatools import read_topic

SWITCHBOARD = str(Path(sys.executable).parent / "switchboard")
NOW = datetime.now(UTC)
TRACEPARENT = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@dataclass
class Seeded:
    settings: Settings
    commands: str  # <prefix>stripe.commands
    commands_dlq: str
    ingest: str  # <prefix>github.ingest
    ingest_dlq: str
    other: str  # an empty topic for --to
    values: dict[str, bytes]  # ref -> value
    headers: dict[str, list[tuple[str, bytes]]]  # ref -> the record's own headers


def err(
    reason: str,
    cls: str,
    minutes: int,
    message: str = "boom",
    connector: str = "stripe",
    stage: str = "sink",
) -> dict[str, Any]:
    """The error header fields of one seeded DLQ record."""
    return {
        "connector": connector,
        "stage": stage,
        "reason": reason,
        "error_class": cls,
        "error_message": message,
        "attempts": 3,
        "failed_at": NOW - timedelta(minutes=minutes),
    }


async def seed(settings: Settings) -> Seeded:
    names = TopicNames.from_settings(settings)
    commands, ingest = names.commands("stripe"), names.ingest("github")
    cmd, ing, other = names.dlq(commands), names.dlq(ingest), f"{names.prefix}other.commands"
    await ensure_topics(settings, [TopicSpec(t, 3, 1) for t in (commands, cmd, ingest, ing, other)])

    def command(cid: str) -> bytes:
        return Command(id=cid, type="stripe.customers.create", params={"email": "a@b.c"}).to_json()

    own = [("type", b"stripe.customers.create"), ("traceparent", TRACEPARENT)]
    binary = [("type", b"stripe.customers.create"), ("blob", b"\xff\x00\x01")]
    bad = "Command.params.email: Field required"
    rows: list[tuple[str, bytes | None, bytes, list[tuple[str, bytes]], dict[str, Any] | None]] = [
        (cmd, b"cus_1", command("cmd-a"), own, err("invalid_command", "CommandInvalid", 180, bad)),
        (cmd, b"cus_2", command("cmd-b"), own, err("retries_exhausted", "ProviderUnavailable", 30,
                                                   "HTTP 503\x1b[2J")),  # an ANSI escape
        (cmd, b"cus_3", command("cmd-c"), binary, err("fatal_request", "FatalRequestError", 5)),
        (ing, b"evt_1", b"not json \xff", [], err("invalid_event", "EnvelopeError", 2880, "boom",
                                                  "github", "dedup")),
        (ing, None, b'{"no": "headers"}', [], None),  # no error headers at all
    ]  # fmt: skip
    producer = AIOKafkaProducer(**kafka.client_options(settings), acks="all")
    await producer.start()
    values: dict[str, bytes] = {}
    headers: dict[str, list[tuple[str, bytes]]] = {}
    try:
        for number, (topic, key, value, own_headers, errors) in enumerate(rows):
            failed_at = errors["failed_at"] if errors else NOW - timedelta(days=10)
            extra = (
                DlqHeaders(
                    original_topic=topic.removesuffix(".dlq"),
                    original_partition=1,
                    original_offset=10 + number,
                    **errors,
                ).to_headers()
                if errors
                else []
            )
            meta = await producer.send_and_wait(
                topic,
                value,
                key=key,
                headers=own_headers + extra,
                partition=0,
                timestamp_ms=int(failed_at.timestamp() * 1000) - 1000,
            )
            ref = f"{topic}:0:{meta.offset}"
            values[ref], headers[ref] = value, own_headers
    finally:
        await producer.stop()
    assert list(values) == [f"{cmd}:0:{i}" for i in range(3)] + [f"{ing}:0:{i}" for i in range(2)]
    return Seeded(settings, commands, cmd, ingest, ing, other, values, headers)


def sb(*args: str) -> Result:
    """Run the CLI in-process (settings from the environment the fixtures set)."""
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def cli_run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run the installed ``switchboard`` with no terminal on stdin."""
    return subprocess.run(
        [SWITCHBOARD, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def refs_in(table: str) -> list[str]:
    """The REF column of a ``dlq list`` table."""
    return [line.split()[0] for line in table.splitlines()[1:] if line.strip()]


def records_of(settings: Settings, topic: str) -> list[Any]:
    return list(asyncio.run(read_topic(settings, topic)))
