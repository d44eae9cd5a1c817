"""A sink worker paused (SIGSTOP) past its session timeout is a zombie when it
resumes (SIGCONT): the group gave its partitions to another worker, which
answered every command. The zombie's calls answered while it was paused, and
the records still in its queues, must produce nothing: no Result, no DLQ
record, no ledger marker, no provider call (see :mod:`streams.membership`).

GitHub is the provider: it has no idempotency keys, so the sink's ledger is
what keeps a command to one side effect, and a zombie's late Result would
be a second answer beside the new owner's.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.commands import build_command
from streams.kafka.topics import TopicNames
from tests.integration.sink_processes import (
    ProcessRig,
    assert_exactly_once,
    at_most_once,
    process_rig,
)
from tests.kafkatools import group_state, read_topic
from tests.waiting import eventually_sync

pytestmark = pytest.mark.integration

SLOTS = 8  # calls in flight (below the client's pool of 10, so exactly this many)


@pytest.fixture
def rig(cli_env: dict[str, str], topic_prefix: str, tmp_path: Path) -> Iterator[ProcessRig]:
    extra = {"SWITCHBOARD_SINK__CONCURRENCY": str(SLOTS)}
    with process_rig("github", cli_env, topic_prefix, tmp_path, latency=0.05, extra=extra) as r:
        try:
            yield r
        finally:
            for proc in r.workers.procs:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGCONT)


def written(rig: ProcessRig) -> dict[str, int]:
    """How many records the sink has produced, per topic it writes, and calls made."""
    ledger = TopicNames.from_settings(rig.settings).ledger("github")
    topics = {"results": rig.results_topic, "dlq": rig.dlq, "ledger": ledger}
    counts = {k: len(asyncio.run(read_topic(rig.settings, t))) for k, t in topics.items()}
    return {**counts, "calls": len(rig.sandbox.requests)}


def test_a_paused_worker_that_lost_its_partitions_answers_and_calls_nothing(
    rig: ProcessRig,
) -> None:
    sandbox, workers = rig.sandbox, rig.workers
    commands = [
        (
            f"repo-{i % 60}",
            build_command(
                "github.issues.create", {"owner": "octo", "repo": "demo", "title": f"t{i}"}
            ),
        )
        for i in range(360)
    ]
    zombie = workers.start()
    eventually_sync(lambda: "partitions [0, 1, 2] assigned" in workers.log(0), 90)
    rig.produce(commands)
    eventually_sync(lambda: len(rig.results()) >= 60, 90)
    # Paused at a known point: SLOTS calls held at the provider (their
    # markers acked), every earlier call answered and its Result acked, the
    # other records waiting for a slot. (A pause between a passed check and
    # the bytes leaving the socket is the fence's one stated gap; this test
    # is about everything else.)
    sandbox.hold()

    def settled() -> bool:
        now = written(rig)
        return now["calls"] - now["results"] == SLOTS == now["ledger"] - now["results"]

    eventually_sync(settled, 60, what=f"{SLOTS} calls held, everything before them answered")
    zombie.send_signal(signal.SIGSTOP)
    sandbox.release()  # the held calls act and answer into the paused worker's sockets

    workers.start()  # the group drops the paused worker after its session timeout
    assert_exactly_once(rig, commands)
    before = written(rig)

    zombie.send_signal(signal.SIGCONT)
    # It hears from the coordinator that it is out (its first heartbeat is
    # refused), drops what it held, and rejoins with nothing to do: by then
    # anything it would have answered is written.
    group = f"{rig.settings.kafka.topic_prefix}switchboard-sink-github"
    eventually_sync(
        lambda: asyncio.run(group_state(rig.settings, group)) == ("Stable", 2),
        90,
        what="both workers in the group again",
    )
    assert written(rig) == before, "the resumed worker wrote or called for partitions it had lost"
    assert zombie.poll() is None, workers.log(0)
    assert "not answered" in workers.log(0)  # it did hold work when it resumed

    results = assert_exactly_once(rig, commands)
    at_most_once(sandbox, results)
    # The held calls acted: their new owner found them by lookup (attempts 0)
    found = [r for r in results.values() if r.status == "succeeded" and r.attempts == 0]
    assert len(found) == SLOTS, [r.error for r in results.values() if r.status != "succeeded"]
    assert all(r.status == "succeeded" for r in results.values())
