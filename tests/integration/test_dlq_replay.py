"""`switchboard dlq replay` against the real broker, checked by an independent
raw consumer (``tests.kafkatools.read_topic``): what lands where, byte for
byte, with which headers; re-runs, duplicates, the rate and the prompt; and
that the default destination is the DLQ topic's own source (``<topic>`` of
``<topic>.dlq``), never a topic a DLQ record's headers name (anyone able to
write the DLQ writes those), anywhere else only with ``--to``.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from core.envelopes import DLQ_HEADER_PREFIX, Command, DlqHeaders
from streams import kafka
from streams.dlq import (
    REPLAY_AT,
    REPLAY_FROM,
    REPLAY_ID,
    SKIP_FOREIGN_TOPIC,
    ReplayReport,
    plan_replay,
    read_dlq,
    replay,
)
from streams.kafka.topics import TopicSpec, ensure_topics
from streams.settings import Settings
from tests.dlqtools import NOW, SWITCHBOARD, Seeded, cli_run, err, records_of, sb, seed
from tests.fakeclock import FakeClock
from tests.kafkatools import end_offsets

pytestmark = pytest.mark.integration


@pytest.fixture
def seeded(prefixed_settings: Settings) -> Seeded:
    return asyncio.run(seed(prefixed_settings))


@pytest.fixture
def env(cli_env: dict[str, str], topic_prefix: str) -> dict[str, str]:
    return {**cli_env, "SWITCHBOARD_KAFKA__TOPIC_PREFIX": topic_prefix}


def test_replay_to_the_original_topic_end_to_end(seeded: Seeded, env: dict[str, str]) -> None:
    first = cli_run(env, "dlq", "replay", "--topic", "stripe.commands", "--yes")
    assert first.returncode == 0, first.stderr
    assert f"replayed 3 record(s) (3 to {seeded.commands})" in first.stdout
    run_id = first.stderr.split("replay run ", 1)[1].split()[0]

    replayed = sorted(records_of(seeded.settings, seeded.commands), key=lambda r: r.key)
    assert [r.key for r in replayed] == [b"cus_1", b"cus_2", b"cus_3"]
    for offset, record in enumerate(replayed):
        ref = f"{seeded.commands_dlq}:0:{offset}"
        assert record.value == seeded.values[ref]  # byte for byte: same command id
        headers = list(record.headers)
        assert headers[:-3] == seeded.headers[ref]  # own headers, in order, bytes equal
        assert not [n for n, _ in headers if n.startswith(DLQ_HEADER_PREFIX)]
        lineage = dict(headers[-3:])
        assert lineage[REPLAY_FROM] == ref.encode()
        assert lineage[REPLAY_ID] == run_id.encode()
        at = datetime.fromisoformat(lineage[REPLAY_AT].decode())
        assert abs(at - datetime.now(UTC)) < timedelta(minutes=5)

    # The same replay again: safe, because the values (command ids) are unchanged.
    again = cli_run(env, "dlq", "replay", "--topic", "stripe.commands", "--yes")
    assert again.returncode == 0, again.stderr
    both = records_of(seeded.settings, seeded.commands)
    assert len(both) == 6
    ids = sorted(Command.from_json(r.value).id for r in both)
    assert ids == ["cmd-a", "cmd-a", "cmd-b", "cmd-b", "cmd-c", "cmd-c"]
    assert {bytes(r.value) for r in both} == set(
        seeded.values[f"{seeded.commands_dlq}:0:{i}"] for i in range(3)
    )

    # --skip-replayed finds the earlier runs' markers and produces nothing.
    skipping = cli_run(
        env, "dlq", "replay", "--topic", "stripe.commands", "--skip-replayed", "--yes"
    )
    assert skipping.returncode == 0, skipping.stderr
    assert "3 skipped (already replayed)" in skipping.stderr
    assert len(records_of(seeded.settings, seeded.commands)) == 6

    # Nothing else was touched.
    assert asyncio.run(end_offsets(seeded.settings, seeded.ingest)) == 0


def test_replay_to_another_topic_with_a_rate(seeded: Seeded) -> None:
    result = sb(
        "dlq",
        "replay",
        "--connector",
        "stripe",
        "--to",
        "other.commands",
        "--rate",
        "40/s",
        "--yes",
    )
    assert result.exit_code == 0, result.output
    assert f"replayed 3 record(s) (3 to {seeded.other})" in result.stdout
    moved = records_of(seeded.settings, seeded.other)
    assert sorted(r.key for r in moved) == [b"cus_1", b"cus_2", b"cus_3"]
    assert asyncio.run(end_offsets(seeded.settings, seeded.commands)) == 0

    # Every DLQ topic at once: a record without error headers has no original
    # topic and is skipped, the rest go where they came from.
    everything = sb("dlq", "replay", "--yes")
    assert everything.exit_code == 0, everything.output
    assert "replayed 4 record(s)" in everything.stdout
    assert "1 skipped (no original topic)" in everything.stdout
    (event,) = records_of(seeded.settings, seeded.ingest)
    assert event.value == b"not json \xff"
    assert event.key == b"evt_1"


def test_one_run_never_replays_a_record_twice(seeded: Seeded) -> None:
    async def go() -> list[Any]:
        topic = seeded.commands_dlq
        records = [r async for r in read_dlq(seeded.settings, [topic])]
        return await plan_replay(seeded.settings, [*records, records[0], records[2]])

    plan = asyncio.run(go())
    assert [i.skip for i in plan] == [None, None, None, "duplicate", "duplicate"]

    # Through the CLI: one topic named twice, one ref named twice.
    ref = f"{seeded.commands_dlq}:0:1"
    result = sb(
        "dlq",
        "replay",
        "--topic",
        "stripe.commands",
        "--topic",
        seeded.commands_dlq,
        "--ref",
        ref,
        "--ref",
        ref,
        "--yes",
    )
    assert result.exit_code == 0, result.output
    assert "replayed 1 record(s)" in result.stdout
    (record,) = records_of(seeded.settings, seeded.commands)
    assert dict(record.headers)[REPLAY_FROM] == ref.encode()


def test_the_rate_paces_through_the_injected_clock(seeded: Seeded) -> None:
    clock = FakeClock(0.0)

    async def go() -> ReplayReport:
        records = [r async for r in read_dlq(seeded.settings, [seeded.commands_dlq])]
        plan = await plan_replay(seeded.settings, records, to=seeded.other)
        return await replay(seeded.settings, plan, rate=2.0, sleep=clock.sleep, clock=clock)

    report = asyncio.run(go())
    assert report.replayed == 3
    assert report.by_destination == {seeded.other: 3}
    assert sum(clock.sleeps) == pytest.approx(1.0)  # at 2/s the 2nd and 3rd wait 0.5 s each
    assert len(records_of(seeded.settings, seeded.other)) == 3


def test_replay_asks_at_a_terminal(seeded: Seeded, env: dict[str, str]) -> None:
    def answer(text: bytes) -> subprocess.CompletedProcess[str]:
        master, slave = os.openpty()
        try:
            proc = subprocess.Popen(
                [SWITCHBOARD, "dlq", "replay", "--topic", "stripe.commands"],
                env=env,
                stdin=slave,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            os.write(master, text)
            out, err = proc.communicate(timeout=60)
        finally:
            os.close(slave)
            os.close(master)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    declined = answer(b"n\n")
    assert declined.returncode == 1, declined.stderr
    assert f"3 record(s) selected, 3 to replay. Replay 3 to {seeded.commands}?" in declined.stderr
    assert asyncio.run(end_offsets(seeded.settings, seeded.commands)) == 0

    accepted = answer(b"y\n")
    assert accepted.returncode == 0, accepted.stderr
    assert "replayed 3 record(s)" in accepted.stdout
    assert len(records_of(seeded.settings, seeded.commands)) == 3


def test_records_kafka_refuses_are_counted_and_fail_the_run(seeded: Seeded) -> None:
    tiny = f"{seeded.other}.tiny"
    asyncio.run(
        ensure_topics(seeded.settings, [TopicSpec(tiny, 1, 1, {"max.message.bytes": "64"})])
    )
    result = sb("dlq", "replay", "--topic", "stripe.commands", "--to", tiny, "--yes")
    assert result.exit_code == 1
    assert "replayed 0 record(s) (none)" in result.stdout
    assert "error: 3 record(s) not acknowledged by Kafka:" in result.stderr
    assert asyncio.run(end_offsets(seeded.settings, tiny)) == 0


async def forge(seeded: Seeded, original_topic: str) -> str:
    """A record on the stripe commands DLQ whose error headers name
    ``original_topic``: what a writer of the DLQ topic can produce."""
    headers = DlqHeaders(
        original_topic=original_topic,
        original_partition=0,
        original_offset=99,
        **err("retries_exhausted", "ProviderUnavailable", 1),
    ).to_headers()
    producer = AIOKafkaProducer(**kafka.client_options(seeded.settings), acks="all")
    await producer.start()
    try:
        meta = await producer.send_and_wait(
            seeded.commands_dlq,
            b'{"forged": true}',
            key=b"forged",
            headers=headers,
            partition=0,
            timestamp_ms=int(NOW.timestamp() * 1000),
        )
    finally:
        await producer.stop()
    return f"{seeded.commands_dlq}:0:{meta.offset}"


def test_a_header_naming_another_topic_is_skipped_and_reported(
    seeded: Seeded, env: dict[str, str]
) -> None:
    ref = asyncio.run(forge(seeded, original_topic=seeded.other))

    dry = cli_run(env, "dlq", "replay", "--topic", "stripe.commands", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"skip   {ref} ({SKIP_FOREIGN_TOPIC})" in dry.stdout

    result = cli_run(env, "dlq", "replay", "--topic", "stripe.commands", "--yes")
    assert result.returncode == 0, result.stderr
    assert f"replayed 3 record(s) (3 to {seeded.commands}), 1 skipped" in result.stdout
    (why,) = [line for line in result.stderr.splitlines() if "--to TOPIC" in line]
    assert why.startswith("1 record(s) not replayed: their error headers name a topic")
    assert seeded.commands in why
    assert asyncio.run(end_offsets(seeded.settings, seeded.other)) == 0
    assert b"forged" not in [r.key for r in records_of(seeded.settings, seeded.commands)]

    # Sending it elsewhere is an explicit choice.
    chosen = cli_run(env, "dlq", "replay", "--ref", ref, "--to", "other.commands", "--yes")
    assert chosen.returncode == 0, chosen.stderr
    (moved,) = records_of(seeded.settings, seeded.other)
    assert moved.key == b"forged"


def test_the_plan_goes_to_the_dlq_topics_source_only(seeded: Seeded) -> None:
    # Headers naming the other DLQ's source, or the DLQ itself: neither is followed.
    asyncio.run(forge(seeded, original_topic=seeded.ingest))
    asyncio.run(forge(seeded, original_topic=seeded.commands_dlq))

    async def go() -> list[tuple[str | None, str | None]]:
        records = [r async for r in read_dlq(seeded.settings, [seeded.commands_dlq])]
        plan = await plan_replay(seeded.settings, records)
        return [(i.destination, i.skip) for i in plan]

    assert asyncio.run(go()) == [(seeded.commands, None)] * 3 + [
        (None, SKIP_FOREIGN_TOPIC),
        (None, SKIP_FOREIGN_TOPIC),
    ]
