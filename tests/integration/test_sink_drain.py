"""A rolling restart of sink workers under load leaves no unknown outcome.

Three sink workers run GitHub commands (no idempotency keys: the ledger's
``started`` markers) against a sandbox answering in 150 ms. Wave after
wave of commands, one worker is SIGTERMed while its calls are in flight
and a replacement is started, as a rolling deployment does. SIGTERM
drains: the calls in flight finish and are answered before the worker
leaves its group, and the commands it had fetched but not started are left
for the next owner. So every command gets exactly one Result, none is
``outcome_unknown``, no ``started`` marker is left open (none is answered
from a lookup either), and nothing is created twice.

The drain bound is 1.5 s here (20 s by default) and each worker holds a
backlog worth more than that at each SIGTERM (2 calls in flight, about 40
commands buffered: 3 s of work): a drain that waits for the backlog, not
only for the calls in flight, runs out of time and cuts calls off in
flight, which is what this test would catch.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from core.envelopes import Command
from streams.commands import build_command
from tests.integration.sink_processes import assert_exactly_once, at_most_once, process_rig
from tests.waiting import eventually_sync

pytestmark = pytest.mark.integration

WORKERS = 3
RESTARTS = 5
WAVE = 120  # commands per restart, over KEYS keys
KEYS = 60


def issue(i: int) -> tuple[str, Command]:
    params = {"owner": "octo", "repo": "demo", "title": f"t{i}"}
    return f"key-{i % KEYS}", build_command("github.issues.create", params)


def test_rolling_restart_under_load_leaves_no_unknown(
    cli_env: dict[str, str], topic_prefix: str, tmp_path: Path
) -> None:
    extra = {"SWITCHBOARD_SINK__CONCURRENCY": "2", "SWITCHBOARD_SINK__DRAIN_TIMEOUT_S": "1.5"}
    with process_rig(
        "github", cli_env, topic_prefix, tmp_path, latency=0.15, partitions=6, extra=extra
    ) as rig:
        workers = rig.workers
        for _ in range(WORKERS):
            workers.start()
        eventually_sync(
            lambda: all("assigned" in workers.log(n) for n in range(WORKERS)),
            90,
            what="every worker assigned partitions",
        )
        commands: list[tuple[str, Command]] = []
        for wave in range(RESTARTS):
            batch = [issue(i) for i in range(wave * WAVE, (wave + 1) * WAVE)]
            commands += batch
            rig.produce(batch)
            # this wave's calls are in flight on every worker
            started = len(commands) - WAVE + WAVE // 4
            eventually_sync(lambda n=started: len(rig.results()) >= n, 60)  # type: ignore[misc]
            victim = workers.procs[workers.running()[0]]
            victim.terminate()  # SIGTERM, as a rolling deployment sends
            replacement = len(workers.procs)
            workers.start()
            assert victim.wait(30) == 0, "a SIGTERMed worker exits 0 once drained"
            eventually_sync(
                lambda n=replacement: "assigned" in workers.log(n),  # type: ignore[misc]
                60,
                what="the replacement assigned partitions",
            )
        results = assert_exactly_once(rig, commands)
        unknown = [
            cid for cid, r in results.items() if r.error and r.error.code == "outcome_unknown"
        ]
        looked_up = [
            cid for cid, r in results.items() if r.status == "succeeded" and not r.attempts
        ]
        print(f"{len(commands)} commands, {RESTARTS} restarts: {len(unknown)} outcome_unknown")
        assert not unknown, f"{len(unknown)} of {len(commands)} answered outcome_unknown"
        assert not looked_up, f"{len(looked_up)} markers left open (answered from a lookup)"
        assert all(r.status == "succeeded" for r in results.values())
        at_most_once(rig.sandbox, results)
