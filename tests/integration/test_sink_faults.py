"""The sink against the real broker and the providers' sandboxes, in process,
when things go wrong: poison records and provider rejections dead-lettered,
a reused key with another body, redelivery and replay run once, outages
pause the sink, a revoked credential stops it, DLQ replay after the fix.

Happy-path delivery is in ``test_sink.py``; crash tests with real worker
processes in ``test_sink_failover.py``.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import SecretStr

import connectors
from core.envelopes import DlqHeaders, utcnow
from streams.commands import build_command
from tests.integration.ingest_support import metric
from tests.integration.sink_support import (
    SinkRig,
    committed_all,
    customer,
)
from tests.kafkatools import read_topic
from tests.waiting import eventually

pytestmark = pytest.mark.integration

SWITCHBOARD = str(Path(sys.executable).parent / "switchboard")


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
    await committed_all(rig)


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
