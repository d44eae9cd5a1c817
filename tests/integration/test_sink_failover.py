"""Sink workers as real processes, SIGKILLed mid-batch.

- one worker killed and restarted, and two workers in one group with one
  killed: every command gets exactly one Result, and Stripe (idempotency
  keys) saw each side effect exactly once;
- GitHub (no keys, the sink's ledger): a label addition (a command that
  cannot be looked up at GitHub afterwards) whose worker died during the
  call is answered ``outcome_unknown`` and never sent a second time, so no
  command has more than one side effect (the commands that can be looked
  up: tests/integration/test_sink_lookup.py).

The processes, sandbox and topics: :mod:`tests.integration.sink_processes`.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.envelopes import Command, DlqHeaders
from streams.commands import build_command
from tests.integration.sink_processes import (
    ProcessRig,
    assert_exactly_once,
    kill_mid_batch,
    process_rig,
)
from tests.kafkatools import read_topic
from tests.waiting import eventually_sync

pytestmark = pytest.mark.integration


@pytest.fixture
def rig(
    cli_env: dict[str, str], topic_prefix: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[ProcessRig]:
    with process_rig(request.param, cli_env, topic_prefix, tmp_path) as rig:
        yield rig


def stripe_commands(n: int, keys: int) -> list[tuple[str, Command]]:
    return [
        (
            f"cus_{i % keys}",
            build_command("stripe.customers.create", {"email": f"c{i}@example.com"}),
        )
        for i in range(n)
    ]


@pytest.mark.parametrize("rig", ["stripe"], indirect=True)
def test_killed_worker_restarted_every_command_once(rig: ProcessRig) -> None:
    sandbox, workers = rig.sandbox, rig.workers
    commands = stripe_commands(1500, keys=300)
    rig.produce(commands)
    first = workers.start()
    kill_mid_batch(rig, first)
    workers.start()
    results = assert_exactly_once(rig, commands)
    assert all(r.status == "succeeded" for r in results.values())
    effects = sandbox.side_effect_counts()
    assert all(effects.get(c.id) == 1 for _, c in commands), "a side effect was not exactly once"
    # The kill really was mid-batch: some command was sent again after it
    # (answered by Stripe from its idempotency record, not executed twice).
    sent: dict[str, int] = defaultdict(int)
    for r in sandbox.requests_to("/v1/customers", "POST"):
        sent[r.header("Idempotency-Key") or ""] += 1
    assert "sink stripe: partitions" in workers.log(1)
    assert max(sent.values()) >= 1


@pytest.mark.parametrize("rig", ["stripe"], indirect=True)
def test_two_workers_one_killed_every_command_once(rig: ProcessRig) -> None:
    workers = rig.workers
    commands = stripe_commands(2000, keys=400)
    a = workers.start()
    workers.start()
    eventually_sync(
        lambda: workers.log(0).count("assigned") and workers.log(1).count("assigned"), 90
    )
    rig.produce(commands)
    kill_mid_batch(rig, a)
    results = assert_exactly_once(rig, commands)
    assert all(r.status == "succeeded" for r in results.values())
    effects = rig.sandbox.side_effect_counts()
    assert all(effects.get(c.id) == 1 for _, c in commands)


@pytest.mark.parametrize("rig", ["github"], indirect=True)
def test_ledger_provider_never_calls_twice_after_a_kill(rig: ProcessRig) -> None:
    # issues.add_labels: a ledger command GitHub lets nobody look up afterwards
    commands = [
        (
            f"repo-{i % 200}",
            build_command(
                "github.issues.add_labels",
                {"owner": "octo", "repo": "demo", "issue_number": 1 + i % 50, "labels": [f"l{i}"]},
            ),
        )
        for i in range(1200)
    ]
    sandbox: Any = rig.sandbox  # the GitHub sandbox
    sandbox.add_issues("octo/demo", 50)
    rig.produce(commands)
    first = rig.workers.start()
    kill_mid_batch(rig, first)
    rig.workers.start()
    results = assert_exactly_once(rig, commands)
    effects = sandbox.side_effect_counts()
    unknown = []
    for _, command in commands:
        result = results[command.id]
        done = effects.get(command.id, 0)
        assert done <= 1, f"{command.id} executed {done} times"
        if result.status == "succeeded":
            assert done == 1
        else:
            assert result.error is not None
            assert result.error.code == "outcome_unknown", result.error
            unknown.append(command.id)
    # Each unknown is in the DLQ for a person to check (and replay).
    records = asyncio.run(
        read_topic(rig.settings, rig.dlq, expect=len(unknown) or None, timeout=10)
    )
    reasons = [DlqHeaders.from_headers(r.headers).reason for r in records]
    assert reasons == ["outcome_unknown"] * len(unknown)
