"""A sink worker paused (SIGSTOP) past its session timeout is a zombie when it
resumes (SIGCONT): the group gave its partitions to another worker, which
answered every command. The zombie's calls answered while it was paused, and
the records still in its queues, must produce nothing: no Result, no DLQ
record, no ledger marker, no provider call (see :mod:`streams.membership`).

GitHub is the provider: it has no idempotency keys, so the sink's ledger is
what keeps a command to one side effect, and a zombie's late Result would
be a second answer beside the new owner's ``outcome_unknown``.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

import connectors
from core.testing import Sandbox
from streams.commands import build_command
from streams.kafka.topics import TopicNames, connector_topics, ensure_topics
from streams.settings import Settings, load_settings
from tests.integration.test_sink_failover import (
    Workers,
    assert_done_once_or_unknown,
    produce,
    results_of,
)
from tests.kafkatools import group_state, read_topic
from tests.waiting import eventually_sync

pytestmark = pytest.mark.integration

SESSION_TIMEOUT_S = 6  # the least the settings allow: the group drops the zombie soon


@pytest.fixture
def github(
    cli_env: dict[str, str], topic_prefix: str, tmp_path: Path
) -> Iterator[tuple[Settings, Sandbox, Workers]]:
    sandbox = connectors.get("github").new_sandbox()
    with sandbox.in_thread():
        sandbox.record = True
        sandbox.set_latency(1.0)  # calls in flight when the worker is paused
        env = {
            **cli_env,
            "SWITCHBOARD_KAFKA__TOPIC_PREFIX": topic_prefix,
            "SWITCHBOARD_WORKER__SESSION_TIMEOUT_S": str(SESSION_TIMEOUT_S),
            "SWITCHBOARD_SINK__COMMIT_INTERVAL_S": "0.5",
            "SWITCHBOARD_SINK__CONNECTORS": '["github"]',
            "SWITCHBOARD_LOG_LEVEL": "INFO",
            "SWITCHBOARD_GITHUB__BASE_URL": sandbox.url,
            "SWITCHBOARD_GITHUB__RATE": "10000",
            "SWITCHBOARD_GITHUB__TOKEN": "ghp_sandbox",
        }
        settings = load_settings(
            sections=connectors.settings_sections(),
            kafka={
                "bootstrap_servers": cli_env["SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS"],
                "topic_prefix": topic_prefix,
            },
        )
        asyncio.run(ensure_topics(settings, connector_topics(settings, "github")))
        workers = Workers(env, tmp_path)
        try:
            yield settings, sandbox, workers
        finally:
            for proc in workers.procs:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGCONT)
            workers.stop_all()


def written(settings: Settings, names: TopicNames) -> dict[str, int]:
    """How many records the sink has produced, per topic it writes."""
    topics = {
        "results": names.results("github"),
        "dlq": names.dlq(names.commands("github")),
        "ledger": names.ledger("github"),
    }
    return {k: len(asyncio.run(read_topic(settings, t))) for k, t in topics.items()}


def test_a_paused_worker_that_lost_its_partitions_answers_and_calls_nothing(
    github: tuple[Settings, Sandbox, Workers],
) -> None:
    settings, sandbox, workers = github
    names = TopicNames.from_settings(settings)
    commands = [
        (
            f"repo-{i % 60}",
            build_command(
                "github.issues.create", {"owner": "octo", "repo": "demo", "title": f"t{i}"}
            ),
        )
        for i in range(360)
    ]
    ids = {c.id for _, c in commands}
    zombie = workers.start()
    eventually_sync(lambda: "partitions [0, 1, 2] assigned" in workers.log(0), 90)
    produce(settings, names.commands("github"), commands)
    # Paused with about 60 calls in flight (one per key, 1 s each) and
    # more records queued behind them.
    eventually_sync(lambda: len(results_of(settings, names.results("github"))) >= 60, 90)
    zombie.send_signal(signal.SIGSTOP)

    workers.start()  # the group drops the paused worker after its session timeout
    eventually_sync(lambda: ids <= set(results_of(settings, names.results("github"))), 120)
    before = written(settings, names), len(sandbox.requests)

    zombie.send_signal(signal.SIGCONT)
    # It hears from the coordinator that it is out (its first heartbeat is
    # refused), drops what it held, and rejoins with nothing to do: by then
    # anything it would have answered is written.
    group = f"{settings.kafka.topic_prefix}switchboard-sink-github"
    eventually_sync(
        lambda: asyncio.run(group_state(settings, group)) == ("Stable", 2),
        90,
        what="both workers in the group again",
    )
    after = written(settings, names), len(sandbox.requests)
    assert after == before, "the resumed worker wrote or called for partitions it had lost"
    assert zombie.poll() is None, workers.log(0)
    assert "not answered" in workers.log(0)  # it did hold work when it resumed

    results = results_of(settings, names.results("github"))
    twice = {cid: len(rs) for cid, rs in results.items() if len(rs) != 1}
    assert not twice, f"commands with more than one Result: {twice}"
    # in flight at the pause: unknown (its new owner cannot know), never sent twice
    unknown = assert_done_once_or_unknown(sandbox, commands, results)
    assert unknown, "nothing was in flight at the pause: the test proves nothing"
