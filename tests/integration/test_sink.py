"""The sink against the real broker and the providers' sandboxes, in process.

Each test runs a :class:`streams.sink.Sink` on its own topic namespace and
checks what reached Kafka (Results, DLQ records, committed offsets) and what
reached the provider (the sandbox's side-effect counts and request log).
Crash tests with real worker processes are in ``test_sink_failover.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import SecretStr

import connectors
from core.envelopes import Command, DlqHeaders, Result, utcnow
from core.testing import Sandbox
from streams import kafka
from streams.commands import build_command
from streams.kafka.topics import TopicNames, TopicSpec, connector_topics, ensure_topics
from streams.settings import Settings, load_settings
from streams.sink import SOURCE_OFFSET_HEADER, Sink
from tests.integration.ingest_support import metric
from tests.kafkatools import committed_offsets, group_state, read_topic
from tests.waiting import eventually

pytestmark = pytest.mark.integration

SWITCHBOARD = str(Path(sys.executable).parent / "switchboard")


class SinkRig:
    """One connector's topics, sandbox and in-process sink."""

    def __init__(self, settings: Settings, connector: str, sandbox: Sandbox) -> None:
        self.settings = settings
        self.connector = connector
        self.sandbox = sandbox
        names = TopicNames.from_settings(settings)
        self.commands = names.commands(connector)
        self.results = names.results(connector)
        self.dlq = names.dlq(self.commands)
        self.sinks: list[tuple[Sink, asyncio.Task[None]]] = []
        self.producer: Any = None

    async def start_sink(self, settings: Settings | None = None, *, wait: bool = True) -> Sink:
        settings = settings or self.settings
        connector = connectors.get(self.connector)
        assert connector.api is not None
        sink = Sink(settings, connector, connector.api(settings.section(self.connector)))
        task = asyncio.create_task(sink.run())
        self.sinks.append((sink, task))
        if wait:
            await eventually(lambda: sink_ready(sink, task), 30)
        return sink

    async def stop_sinks(self) -> None:
        for sink, _task in self.sinks:
            sink.stop()
        for _sink, task in self.sinks:
            await task
        self.sinks.clear()

    async def send(self, command: Command, key: str | None = None) -> None:
        await self.send_raw(command.to_json(), key or command.id)

    async def send_raw(self, value: bytes, key: str, headers: list[Any] | None = None) -> None:
        await self.producer.send_and_wait(
            self.commands, value, key=key.encode(), headers=headers or []
        )

    async def results_by_id(self, expect: int, timeout: float = 60.0) -> dict[str, list[Result]]:
        records = await read_topic(self.settings, self.results, expect=expect, timeout=timeout)
        out: dict[str, list[Result]] = defaultdict(list)
        for r in records:
            out[r.key.decode()].append(Result.from_json(r.value))
        return out


async def sink_ready(sink: Sink, task: asyncio.Task[None]) -> bool:
    """Consuming, and its group is stable: its partitions are assigned."""
    if task.done():
        task.result()  # raise what stopped it
    if not sink.started.is_set():
        return False
    state, members = await group_state(sink.settings, sink.group_id)
    return state == "Stable" and members > 0


@pytest.fixture
async def stripe_rig(
    kafka_bootstrap: str, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[SinkRig]:
    async with (
        connectors.get("stripe").new_sandbox() as sb,
        running_rig(monkeypatch, kafka_bootstrap, topic_prefix, "stripe", sb) as rig,
    ):
        yield rig


@pytest.fixture
async def github_rig(
    kafka_bootstrap: str, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[SinkRig]:
    async with (
        connectors.get("github").new_sandbox() as sb,
        running_rig(monkeypatch, kafka_bootstrap, topic_prefix, "github", sb) as rig,
    ):
        yield rig


@contextlib.asynccontextmanager
async def running_rig(
    monkeypatch: pytest.MonkeyPatch, bootstrap: str, prefix: str, connector: str, sb: Sandbox
) -> AsyncIterator[SinkRig]:
    """A rig with its producer open; its sinks are stopped at the end."""
    rig = await _rig(monkeypatch, bootstrap, prefix, connector, sb)
    async with kafka.connect(rig.settings, kafka.producer(rig.settings)) as producer:
        rig.producer = producer
        try:
            yield rig
        finally:
            await rig.stop_sinks()


async def _rig(
    monkeypatch: pytest.MonkeyPatch, bootstrap: str, prefix: str, connector: str, sb: Sandbox
) -> SinkRig:
    env = {
        "KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "KAFKA__TOPIC_PREFIX": prefix,
        "WORKER__SESSION_TIMEOUT_S": "6",
        "SINK__COMMIT_INTERVAL_S": "0.2",
        f"{connector.upper()}__BASE_URL": sb.url,
    }
    if connector == "stripe":
        env |= {"STRIPE__API_KEY": "sk_test_sandbox", "STRIPE__RATE": "5000"}
    else:
        env |= {"GITHUB__TOKEN": "ghp_sandbox", "GITHUB__RATE": "5000"}
    for name, value in env.items():
        monkeypatch.setenv(f"SWITCHBOARD_{name}", value)
    settings = load_settings(sections=connectors.settings_sections())
    await ensure_topics(settings, connector_topics(settings, connector))
    return SinkRig(settings, connector, sb)


def customer(i: int, **extra: Any) -> Command:
    return build_command("stripe.customers.create", {"email": f"c{i}@example.com", **extra})


async def test_every_command_gets_one_result_and_one_side_effect(stripe_rig: SinkRig) -> None:
    rig = stripe_rig
    await rig.start_sink()
    commands = [customer(i) for i in range(60)]
    for i, command in enumerate(commands):
        await rig.send(command, key=f"k{i % 7}")
    results = await rig.results_by_id(expect=60)
    assert sorted(results) == sorted(c.id for c in commands)
    assert all(len(rs) == 1 for rs in results.values())
    for command in commands:
        (result,) = results[command.id]
        assert result.status == "succeeded", result.error
        assert result.http_status == 200
        assert result.response["email"] == command.params["email"]
        assert result.timings.duration_ms is not None
        assert rig.sandbox.side_effects(command.id) == 1
    # Offsets are committed for everything finished.
    await _committed_all(rig)


async def _committed_all(rig: SinkRig) -> None:
    group = f"{rig.settings.kafka.topic_prefix}switchboard-sink-{rig.connector}"

    await eventually(
        lambda: committed_offsets(rig.settings, rig.commands, group),
        30,
        until=lambda offsets: offsets[0] == offsets[1],
        what=f"{group}'s commits (committed, end) reaching the end of {rig.commands}",
    )


async def test_same_key_runs_in_order_while_keys_run_concurrently(stripe_rig: SinkRig) -> None:
    rig = stripe_rig
    await rig.start_sink()
    rig.sandbox.hold()  # requests arrive but are not answered
    sent: dict[str, list[str]] = defaultdict(list)
    for i in range(30):
        key = f"cus_{i % 6}"
        command = customer(i, metadata={"seq": str(i)})
        sent[key].append(command.id)
        await rig.send(command, key=key)

    async def first_of_each_key_in_flight() -> bool:
        return len(rig.sandbox.requests) >= 6

    await eventually(first_of_each_key_in_flight, 30)
    # Six keys run concurrently, and only the head of each key's queue.
    in_flight = {r.header("X-Switchboard-Command-Id") for r in rig.sandbox.requests}
    assert in_flight == {ids[0] for ids in sent.values()}
    rig.sandbox.release()
    await rig.results_by_id(expect=30)
    arrived = [r.header("X-Switchboard-Command-Id") for r in rig.sandbox.requests]
    for key, ids in sent.items():
        assert [a for a in arrived if a in set(ids)] == ids, key


async def test_poison_records_are_dead_lettered_and_processing_continues(
    stripe_rig: SinkRig,
) -> None:
    rig = stripe_rig
    await rig.start_sink()
    good_before, good_after = customer(1), customer(2)
    await rig.send(good_before)
    poison: list[tuple[bytes, str, str]] = [
        (b"\xff not json", "p1", "not a Command"),
        (orjson.dumps({"id": "c-unknown", "type": "stripe.nope", "params": {}}), "p2", "unknown"),
        (
            orjson.dumps(
                {"id": "c-invalid", "type": "stripe.customers.create", "params": {"email": 5}}
            ),
            "p3",
            "email",
        ),
        (
            orjson.dumps({"id": "c-wrong", "type": "github.issues.create", "params": {}}),
            "p4",
            "the topic of stripe",
        ),
    ]
    for value, key, _ in poison:
        await rig.send_raw(value, key, headers=[("trace", b"t-" + key.encode())])
    await rig.send(good_after)
    results = await rig.results_by_id(expect=6)
    assert results[good_before.id][0].status == "succeeded"
    assert results[good_after.id][0].status == "succeeded"
    dlq = await read_topic(rig.settings, rig.dlq, expect=4)
    assert len(dlq) == 4
    by_key = {r.key.decode(): r for r in dlq}
    originals = {r.key.decode(): r for r in await read_topic(rig.settings, rig.commands)}
    for value, key, needle in poison:
        record = by_key[key]
        assert record.value == value  # byte for byte
        assert record.timestamp == originals[key].timestamp
        headers = DlqHeaders.from_headers(record.headers)
        assert ("trace", b"t-" + key.encode()) in list(record.headers)
        assert headers.reason == "invalid_command"
        assert headers.stage == "sink"
        assert headers.original_topic == rig.commands
        assert needle in headers.error_message
    failed = [r for rs in results.values() for r in rs if r.status == "failed"]
    assert len(failed) == 4
    assert {r.error.code for r in failed if r.error} == {"invalid_command"}
    assert rig.sandbox.total_side_effects() == 2


async def test_provider_rejection_dead_letters_and_expired_is_not_sent(
    stripe_rig: SinkRig,
) -> None:
    rig = stripe_rig
    await rig.start_sink()
    missing = build_command(
        "stripe.customers.update", {"customer": "cus_doesnotexist", "name": "x"}
    )
    expired = build_command(
        "stripe.customers.create",
        {"email": "late@example.com"},
        expires_at=utcnow() - timedelta(seconds=1),
    )
    await rig.send(missing)
    await rig.send(expired)
    results = await rig.results_by_id(expect=2)
    (miss,) = results[missing.id]
    assert miss.status == "failed"
    assert miss.error is not None
    assert miss.http_status == 404
    assert miss.error.code == "fatal_request"
    assert miss.attempts == 1
    (late,) = results[expired.id]
    assert late.status == "failed"
    assert late.error is not None
    assert late.error.code == "expired"
    assert rig.sandbox.side_effects(expired.id) == 0
    dlq = await read_topic(rig.settings, rig.dlq, expect=1)
    assert [DlqHeaders.from_headers(r.headers).reason for r in dlq] == ["fatal_request"]
    assert dlq[0].value == missing.to_json()


async def test_stripe_same_key_different_body_is_fatal_not_retried(stripe_rig: SinkRig) -> None:
    rig = stripe_rig
    command_id = str(uuid.uuid4())
    # Someone used this idempotency key at Stripe first, with another body.
    from core.apicall import CallContext, run_command

    connector = connectors.get("stripe")
    assert connector.api is not None
    setup = connector.api(rig.settings.section("stripe"))
    async with setup.client() as client:
        params = connector.commands["customers.create"].model_validate({"email": "a@example.com"})
        await run_command(setup, client, params, CallContext(command_id))
    await rig.start_sink()
    clash = build_command(
        "stripe.customers.create", {"email": "b@example.com"}, command_id=command_id
    )
    await rig.send(clash)
    results = await rig.results_by_id(expect=1)
    (result,) = results[command_id]
    assert result.status == "failed"
    assert result.error is not None
    assert result.error.provider_code == "idempotency_error"
    assert result.attempts == 1
    assert len(rig.sandbox.requests_to("/v1/customers", "POST")) == 2
    dlq = await read_topic(rig.settings, rig.dlq, expect=1)
    assert DlqHeaders.from_headers(dlq[0].headers).reason == "fatal_request"


async def test_a_redelivered_or_replayed_command_is_not_run_twice(github_rig: SinkRig) -> None:
    """GitHub has no idempotency key: the ledger answers the second copy."""
    rig = github_rig
    await rig.start_sink()
    command = build_command(
        "github.issues.create", {"owner": "octo", "repo": "demo", "title": "Bug"}
    )
    await rig.send(command)
    await rig.results_by_id(expect=1)
    await rig.send(command)  # a replay: same id, new offset
    await rig.stop_sinks()
    await rig.start_sink()  # a fresh ledger, read back from Kafka
    await rig.send(command)
    follow = build_command(
        "github.issues.create", {"owner": "octo", "repo": "demo", "title": "Next"}
    )
    await rig.send(follow)
    results = await rig.results_by_id(expect=2)
    assert len(results[command.id]) == 1
    assert results[follow.id][0].status == "succeeded"
    assert rig.sandbox.side_effects(command.id) == 1
    assert len(rig.sandbox.requests_to("/repos/octo/demo/issues", "POST")) == 2
    await _committed_all(rig)


async def test_results_carry_the_source_offset(stripe_rig: SinkRig) -> None:
    rig = stripe_rig
    await rig.start_sink()
    command = customer(3)
    await rig.send(command)
    records = await read_topic(rig.settings, rig.results, expect=1)
    headers = dict(records[0].headers)
    assert headers["content-type"] == b"application/json"
    assert int(headers[SOURCE_OFFSET_HEADER]) >= 0
    assert Counter(r.key for r in records) == {command.id.encode(): 1}


async def test_provider_outage_pauses_the_sink_and_dead_letters_nothing(
    stripe_rig: SinkRig,
) -> None:
    """30 s of 503s: the breaker opens, the sink holds its commands and pauses
    its partitions; after the outage every command succeeds, none is in the
    DLQ. (Without the hold, each command's retries would run out in ~8 s.)"""
    rig = stripe_rig
    await rig.start_sink()
    opened = breaker_openings()
    rig.sandbox.outage(503, seconds=30)
    commands = [customer(i) for i in range(100)]
    for i, command in enumerate(commands):
        await rig.send(command, key=f"cus_{i % 10}")

    def paused() -> bool:  # the breaker opened, the sink holds its commands and paused
        return (
            breaker_openings() > opened
            and metric("switchboard_sink_paused", connector="stripe") == 1
        )

    await eventually(paused, 60)
    outage_requests = len(rig.sandbox.requests)
    results = await rig.results_by_id(expect=100, timeout=150)
    assert sorted(results) == sorted(c.id for c in commands)
    assert all(len(rs) == 1 and rs[0].status == "succeeded" for rs in results.values())
    assert all(rig.sandbox.side_effects(c.id) == 1 for c in commands)
    assert await read_topic(rig.settings, rig.dlq) == []
    # The breaker kept the outage from being hammered: far fewer calls than
    # 100 commands x 5 attempts.
    assert outage_requests < 100


def breaker_openings() -> float:
    """How often the Stripe breaker opened, for the sandbox's host (all sinks of this process)."""
    return metric(
        "switchboard_breaker_transitions_total", connector="stripe", host="127.0.0.1", state="open"
    )


async def test_auth_failure_stops_the_sink_and_dead_letters_nothing(stripe_rig: SinkRig) -> None:
    rig = stripe_rig
    section = rig.settings.section("stripe").model_copy(
        update={"api_key": SecretStr("sk_test_revoked")}
    )
    bad = rig.settings.model_copy(update={"stripe": section})
    sink = await rig.start_sink(bad)
    commands = [customer(i) for i in range(5)]
    for command in commands:
        await rig.send(command)

    async def unhealthy() -> bool:
        return not sink.health.ok

    await eventually(unhealthy, 30)
    assert "401" in sink.health.detail
    assert "sk_test_revoked" not in sink.health.detail
    assert not rig.sinks[0][1].done()  # reported, not crashed
    assert await read_topic(rig.settings, rig.dlq) == []
    assert await read_topic(rig.settings, rig.results) == []
    # After the fix (a restart with the right key) every command runs once.
    await rig.stop_sinks()
    await rig.start_sink()
    results = await rig.results_by_id(expect=5)
    assert all(len(results[c.id]) == 1 for c in commands)
    assert all(results[c.id][0].status == "succeeded" for c in commands)


async def test_replay_after_the_fix_delivers_once(github_rig: SinkRig) -> None:
    """Rejected commands are dead-lettered; replayed after the provider is
    fixed they run once; a second replay of the same records runs nothing."""
    rig = github_rig
    await rig.start_sink()
    rig.sandbox.fail_next(4, 422)
    commands = [(f"repo-{i}", build_command("github.issues.create", _issue(i))) for i in range(4)]
    for key, command in commands:
        await rig.send(command, key=key)
    failed = await rig.results_by_id(expect=4)
    assert {r.error.code for rs in failed.values() for r in rs if r.error} == {"fatal_request"}
    assert len(await read_topic(rig.settings, rig.dlq, expect=4)) == 4

    for run in range(2):
        await _cli("dlq", "replay", "--topic", "github.commands", "--yes")
        # A sentinel behind each replayed record (same key: same queue).
        for key, _command in commands:
            await rig.send(build_command("github.issues.create", _issue(99)), key=key)
        await rig.results_by_id(expect=4 + 4 + 4 * (run + 1))
    results = await rig.results_by_id(expect=0)
    for _key, command in commands:
        statuses = [r.status for r in results[command.id]]
        assert statuses == ["failed", "succeeded"]
        assert rig.sandbox.side_effects(command.id) == 1


def _issue(i: int) -> dict[str, Any]:
    return {"owner": "octo", "repo": "demo", "title": f"issue {i}"}


async def _cli(*args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        SWITCHBOARD, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0, out.decode()
    return out.decode()


def _reply_failures(reason: str) -> float:
    from prometheus_client import REGISTRY

    labels = {"connector": "stripe", "reason": reason}
    return REGISTRY.get_sample_value("switchboard_sink_reply_failed_total", labels) or 0.0


async def test_an_undeliverable_reply_to_never_blocks_the_partition(stripe_rig: SinkRig) -> None:
    """A reply copy that cannot be delivered (a name Kafka refuses, a topic
    that does not exist on a broker without auto-creation) is counted and
    dropped: every command still gets its Result, later commands of the same
    key run, a good reply_to still gets its copy, and the offsets commit."""
    rig = stripe_rig
    replies = f"{rig.settings.kafka.topic_prefix}my.replies"
    await ensure_topics(rig.settings, [TopicSpec(replies, 1, 1, {})])
    # The CLI and CommandClient refuse a bad reply_to; a raw producer does not.
    bad, missing, good, bad_again = (customer(i) for i in range(4))
    before = {r: _reply_failures(r) for r in ("invalid_name", "unknown_topic")}
    targets = [
        (bad, "bad topic!"),
        (missing, f"{rig.settings.kafka.topic_prefix}nobody.created.this"),
        (good, replies),
        (bad_again, "bad topic!"),
    ]
    # A short metadata wait for the missing topic (the sink bounds it by this).
    kafka_settings = rig.settings.kafka.model_copy(update={"connect_timeout_s": 2.0})
    await rig.start_sink(rig.settings.model_copy(update={"kafka": kafka_settings}))
    for command, reply_to in targets:
        value = orjson.loads(command.to_json()) | {"reply_to": reply_to}
        await rig.send_raw(orjson.dumps(value), key="one-key")  # one partition, in order
    results = await rig.results_by_id(expect=4, timeout=30)
    assert {c.id for c, _ in targets} <= set(results)
    assert all(results[c.id][0].status == "succeeded" for c, _ in targets)
    copies = await read_topic(rig.settings, replies, expect=1)
    assert [r.key.decode() for r in copies] == [good.id]
    await _committed_all(rig)
    assert _reply_failures("invalid_name") - before["invalid_name"] == 2
    assert _reply_failures("unknown_topic") - before["unknown_topic"] == 1
