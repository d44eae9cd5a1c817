"""`switchboard dlq list|show|stats|replay` against the real broker.

DLQ records are seeded with a raw aiokafka producer (error headers from
``DlqHeaders.to_headers()`` after the record's own headers) and replays are
checked by an independent raw consumer (``tests.kafkatools.read_topic``).
Each test has its own topic prefix. Most checks go through click's
CliRunner; a few run the installed ``switchboard`` as a subprocess.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from click.testing import CliRunner, Result

from core.envelopes import DLQ_HEADER_PREFIX, Command, DlqHeaders
from core.settings import Settings
from streams import kafka
from streams.cli import cli
from streams.dlq import (
    REPLAY_AT,
    REPLAY_FROM,
    REPLAY_ID,
    ReplayReport,
    plan_replay,
    read_dlq,
    replay,
)
from streams.topics import TopicNames, TopicSpec, ensure_topics
from tests.conftest import free_port
from tests.kafkatools import end_offsets, read_topic

pytestmark = pytest.mark.integration

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


def _dlq(
    topic: str,
    offset: int,
    connector: str,
    stage: str,
    reason: str,
    cls: str,
    ago: timedelta,
    message: str = "boom",
) -> list[tuple[str, bytes]]:
    return DlqHeaders(
        original_topic=topic,
        original_partition=1,
        original_offset=offset,
        connector=connector,
        stage=stage,  # type: ignore[arg-type]
        reason=reason,
        error_class=cls,
        error_message=message,
        attempts=3,
        failed_at=NOW - ago,
    ).to_headers()


async def _seed(settings: Settings) -> Seeded:
    names = TopicNames.from_settings(settings)
    commands, ingest = names.commands("stripe"), names.ingest("github")
    other = f"{names.prefix}other.commands"
    topics = [commands, names.dlq(commands), ingest, names.dlq(ingest), other]
    await ensure_topics(settings, [TopicSpec(t, 3, 1) for t in topics])

    def command(cid: str) -> bytes:
        return Command(id=cid, type="stripe.customers.create", params={"email": "a@b.c"}).to_json()

    own = [("type", b"stripe.customers.create"), ("traceparent", TRACEPARENT)]
    binary = [("type", b"stripe.customers.create"), ("blob", b"\xff\x00\x01")]
    a, b, c = command("cmd-a"), command("cmd-b"), command("cmd-c")
    rows: list[tuple[str, bytes | None, bytes, list[tuple[str, bytes]], timedelta]] = [
        (
            names.dlq(commands),
            b"cus_1",
            a,
            own
            + _dlq(
                commands,
                10,
                "stripe",
                "sink",
                "invalid_command",
                "CommandInvalid",
                timedelta(hours=3),
                "Command.params.email: Field required",
            ),
            timedelta(hours=3),
        ),
        (
            names.dlq(commands),
            b"cus_2",
            b,
            own
            + _dlq(
                commands,
                11,
                "stripe",
                "sink",
                "retries_exhausted",
                "ProviderUnavailable",
                timedelta(minutes=30),
            ),
            timedelta(minutes=30),
        ),
        (
            names.dlq(commands),
            b"cus_3",
            c,
            binary
            + _dlq(
                commands,
                12,
                "stripe",
                "sink",
                "fatal_request",
                "FatalRequestError",
                timedelta(minutes=5),
            ),
            timedelta(minutes=5),
        ),
        (
            names.dlq(ingest),
            b"evt_1",
            b"not json \xff",
            _dlq(ingest, 7, "github", "dedup", "invalid_event", "EnvelopeError", timedelta(days=2)),
            timedelta(days=2),
        ),
        (names.dlq(ingest), None, b'{"no": "headers"}', [], timedelta(days=10)),
    ]
    producer = AIOKafkaProducer(**kafka.client_options(settings), acks="all")
    await producer.start()
    values: dict[str, bytes] = {}
    headers: dict[str, list[tuple[str, bytes]]] = {}
    offsets: dict[str, int] = {}
    try:
        for topic, key, value, hdrs, ago in rows:
            stamp = int((NOW - ago - timedelta(seconds=1)).timestamp() * 1000)
            meta = await producer.send_and_wait(
                topic, value, key=key, headers=hdrs, partition=0, timestamp_ms=stamp
            )
            assert meta.offset == offsets.setdefault(topic, 0)
            offsets[topic] += 1
            ref = f"{topic}:0:{meta.offset}"
            values[ref] = value
            headers[ref] = [h for h in hdrs if not h[0].startswith(DLQ_HEADER_PREFIX)]
    finally:
        await producer.stop()
    return Seeded(
        settings, commands, names.dlq(commands), ingest, names.dlq(ingest), other, values, headers
    )


@pytest.fixture
def seeded(prefixed_settings: Settings) -> Seeded:
    return asyncio.run(_seed(prefixed_settings))


def sb(*args: str, input: str | None = None) -> Result:
    """Run the CLI in-process (settings from the environment the fixtures set)."""
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def refs_in(output: str) -> list[str]:
    return [line.split()[0] for line in output.splitlines()[1:] if line.strip()]


def records_of(settings: Settings, topic: str) -> list[Any]:
    return asyncio.run(read_topic(settings, topic))


# --- list, show, stats ------------------------------------------------------------


def test_list_and_every_filter(seeded: Seeded) -> None:
    cmd_dlq, ing_dlq = seeded.commands_dlq, seeded.ingest_dlq
    a, b, c = (f"{cmd_dlq}:0:{i}" for i in range(3))
    d, e = f"{ing_dlq}:0:0", f"{ing_dlq}:0:1"

    everything = sb("dlq", "list")
    assert everything.exit_code == 0, everything.output
    head = everything.stdout.splitlines()[0].split()
    assert head[:3] == ["REF", "FAILED", "AT"]
    # topics in name order, each partition in offset order
    assert refs_in(everything.stdout) == [d, e, a, b, c]
    assert "5 record(s) in 2 DLQ topic(s)" in everything.stderr
    row_a = everything.stdout.splitlines()[3]
    for text in ("stripe", "sink", "invalid_command", "CommandInvalid", "Command.params", "cus_1"):
        assert text in row_a
    assert "invalid headers" in everything.stdout.splitlines()[2]

    def listed(*args: str) -> list[str]:
        result = sb("dlq", "list", *args)
        assert result.exit_code == 0, result.output
        return refs_in(result.stdout)

    # --topic without the prefix and without .dlq; the full name works too.
    assert listed("--topic", "stripe.commands") == [a, b, c]
    assert listed("--topic", ing_dlq) == [d, e]
    assert listed("--connector", "github") == [d]
    assert listed("--connector", "github", "--connector", "stripe") == [d, a, b, c]
    assert listed("--reason", "retries_exhausted") == [b]
    assert listed("--error-class", "FatalRequestError") == [c]
    assert listed("--since", "1h") == [b, c]
    assert listed("--until", "1h") == [d, e, a]
    assert listed("--since", "4h", "--until", "20m") == [a, b]
    since = (NOW - timedelta(minutes=10)).isoformat()
    assert listed("--since", since) == [c]
    assert listed("--ref", d) == [d]

    limited = sb("dlq", "list", "--limit", "2")
    assert refs_in(limited.stdout) == [d, e]
    assert "more match" in limited.stderr

    as_json = sb("dlq", "list", "--json", "--reason", "invalid_command")
    (line,) = as_json.stdout.splitlines()
    row = orjson.loads(line)
    assert row["ref"] == a
    assert row["key"] == "cus_1"
    assert row["errors"]["original_topic"] == seeded.commands
    assert row["errors"]["attempts"] == 3


def test_show_one_record(seeded: Seeded) -> None:
    ref = f"{seeded.commands_dlq}:0:0"
    shown = sb("dlq", "show", ref)
    assert shown.exit_code == 0, shown.output
    out = shown.stdout
    assert out.splitlines()[0] == ref
    assert "key:         cus_1" in out
    assert f"original:    {seeded.commands}:1:10" in out
    assert "reason:      invalid_command" in out
    assert "error class: CommandInvalid" in out
    assert "message:     Command.params.email: Field required" in out
    assert f"traceparent: {TRACEPARENT.decode()}" in out
    assert '"id": "cmd-a"' in out  # indented JSON
    assert '  "params": {' in out

    # TOPIC PARTITION OFFSET form, a record with a non-JSON value
    odd = sb("dlq", "show", seeded.ingest_dlq, "0", "0")
    assert odd.exit_code == 0, odd.output
    assert "reason:      invalid_event" in odd.stdout
    assert "headers: (none)" in odd.stdout
    assert "(10 bytes)" in odd.stdout

    raw = sb("dlq", "show", "--raw", f"{seeded.ingest_dlq}[0]@0")
    assert raw.stdout_bytes == b"not json \xff"


def test_stats_counts(seeded: Seeded) -> None:
    result = sb("dlq", "stats")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("5 record(s) in 2 DLQ topic(s)")
    assert "by reason:" in result.stdout
    assert "by error class:" in result.stdout

    counts = orjson.loads(sb("dlq", "stats", "--json").stdout)
    assert counts["total"] == 5
    assert counts["by_reason"] == {
        "invalid_command": 1,
        "retries_exhausted": 1,
        "fatal_request": 1,
        "invalid_event": 1,
        "(invalid headers)": 1,
    }
    assert counts["by_error_class"]["FatalRequestError"] == 1
    assert counts["by_connector"] == {"stripe": 3, "github": 1, "(invalid headers)": 1}
    assert counts["by_topic"] == {seeded.commands_dlq: 3, seeded.ingest_dlq: 2}

    filtered = orjson.loads(sb("dlq", "stats", "--json", "--connector", "stripe").stdout)
    assert filtered["total"] == 3


# --- replay -----------------------------------------------------------------------


def test_dry_run_produces_nothing(seeded: Seeded) -> None:
    result = sb("dlq", "replay", "--dry-run")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert f"replay {seeded.commands_dlq}:0:0 -> {seeded.commands} key=cus_1" in lines
    assert f"replay {seeded.ingest_dlq}:0:0 -> {seeded.ingest} key=evt_1" in lines
    assert f"skip   {seeded.ingest_dlq}:0:1 (no original topic) key=-" in lines
    assert "nothing produced" in result.stderr
    for topic in (seeded.commands, seeded.ingest, seeded.other):
        assert asyncio.run(end_offsets(seeded.settings, topic)) == 0


def cli_run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SWITCHBOARD, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )


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
    now = [0.0]
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    async def go() -> ReplayReport:
        records = [r async for r in read_dlq(seeded.settings, [seeded.commands_dlq])]
        plan = await plan_replay(seeded.settings, records, to=seeded.other)
        return await replay(seeded.settings, plan, rate=2.0, sleep=fake_sleep, clock=lambda: now[0])

    report = asyncio.run(go())
    assert report.replayed == 3
    assert report.by_destination == {seeded.other: 3}
    assert sum(waits) == pytest.approx(1.0)  # at 2/s the 2nd and 3rd wait 0.5 s each
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


def test_replay_without_a_terminal_needs_yes(seeded: Seeded, env: dict[str, str]) -> None:
    refused = cli_run(env, "dlq", "replay", "--topic", "stripe.commands")
    assert refused.returncode == 2
    assert refused.stderr.strip().startswith("error: refusing to replay without confirmation")
    assert "--yes" in refused.stderr
    assert asyncio.run(end_offsets(seeded.settings, seeded.commands)) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("list", "--topic", "nope"), "DLQ topic nope.dlq does not exist"),
        (("list", "--since", "yesterday"), "--since 'yesterday': expected an ISO 8601 time"),
        (("stats", "--until", "2026-13-45"), "--until '2026-13-45'"),
        (("list", "--since", "1h", "--until", "2h"), "--since is after --until"),
        (("show", "not-a-ref"), "bad record ref 'not-a-ref'"),
        (("show", "a", "b"), "expected REF or TOPIC PARTITION OFFSET"),
        (("show", "nope.dlq:0:0"), "topic nope.dlq does not exist"),
        (("replay", "--yes", "--rate", "fast"), "--rate 'fast'"),
        (("replay", "--yes", "--rate", "0"), "--rate '0'"),
        (("replay", "--yes", "--to", "missing.topic"), "destination topic missing.topic"),
        (("replay", "--yes", "--ref", "x:1"), "bad record ref 'x:1'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    seeded: Seeded, args: tuple[str, ...], message: str
) -> None:
    result = sb("dlq", *args)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ")
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_offsets_and_partitions(seeded: Seeded) -> None:
    past_end = sb("dlq", "show", f"{seeded.commands_dlq}:0:99")
    assert past_end.exit_code == 2
    assert f"no record at {seeded.commands_dlq}:0:99" in past_end.stderr
    no_partition = sb("dlq", "show", f"{seeded.commands_dlq}:7:0")
    assert no_partition.exit_code == 2
    assert "has no partition 7" in no_partition.stderr


def test_replay_into_its_own_dlq_is_refused(seeded: Seeded) -> None:
    result = sb("dlq", "replay", "--yes", "--topic", "stripe.commands", "--to", seeded.commands_dlq)
    assert result.exit_code == 2
    assert "into its own DLQ topic" in result.stderr


def test_kafka_unreachable_is_the_friendly_error(cli_env: dict[str, str]) -> None:
    env = {
        **cli_env,
        "SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
        "SWITCHBOARD_KAFKA__CONNECT_TIMEOUT_S": "1",
    }
    result = cli_run(env, "dlq", "list")
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot reach Kafka")
    assert "Traceback" not in result.stderr
