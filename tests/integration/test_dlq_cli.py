"""`switchboard dlq list|show|stats` (and replay's guards) against the real
broker. Records are seeded by ``tests.dlqtools.seed`` under a topic prefix
unique to each test; most checks go through click's CliRunner, a few run the
installed ``switchboard`` as a subprocess. Replay itself:
test_dlq_replay.py.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import orjson
import pytest

from streams.settings import Settings
from tests.conftest import free_port
from tests.dlqtools import NOW, TRACEPARENT, Seeded, cli_run, refs_in, sb, seed
from tests.kafkatools import end_offsets

pytestmark = pytest.mark.integration


@pytest.fixture
def seeded(prefixed_settings: Settings) -> Seeded:
    return asyncio.run(seed(prefixed_settings))


@pytest.fixture
def env(cli_env: dict[str, str], topic_prefix: str) -> dict[str, str]:
    return {**cli_env, "SWITCHBOARD_KAFKA__TOPIC_PREFIX": topic_prefix}


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
    # Untrusted text never reaches the terminal raw.
    assert "HTTP 503\\x1b[2J" in everything.stdout.splitlines()[4]
    assert "\x1b" not in everything.stdout

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


def test_an_unknown_reason_or_connector_is_an_error_not_zero_records(seeded: Seeded) -> None:
    for command in (["list"], ["stats"], ["replay", "--dry-run"]):
        result = sb("dlq", *command, "--reason", "fatal_requests")
        assert result.exit_code == 2, result.output
        assert "--reason 'fatal_requests' matches nothing: did you mean fatal_request?" in (
            result.stderr
        )
        assert "known: bad_response, fatal_request" in result.stderr
        assert "0 record(s)" not in result.output
    # A known reason no record has is an empty result (test_dlq_worker: a
    # reason only records carry is found too).
    empty = sb("dlq", "list", "--reason", "outcome_unknown")
    assert empty.exit_code == 0, empty.output
    assert "0 record(s)" in empty.stderr
    result = sb("dlq", "list", "--connector", "strip")
    assert result.exit_code == 2, result.output
    assert "--connector 'strip' matches nothing: did you mean stripe? known: generic" in (
        result.stderr
    )
