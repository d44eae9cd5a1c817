"""After a crash, a started but unanswered call is looked up at the provider.

- Against the sandboxes (no Kafka): a GitHub issue, a GitHub comment and a
  Slack message made by a command are found by the command id they carry
  (a hidden marker in the body, message metadata), answered as the call
  would have been with ``attempts`` 0; a command never sent is not found
  and stays ``outcome_unknown``, as does a command without a lookup.
- Sink workers as processes: one is SIGKILLed with GitHub calls in
  flight (issue creations, comments, label additions) and restarted.
  Every command gets exactly one Result, nothing acts twice, and every
  marker left open is either found by lookup (creations, comments) or
  answered ``outcome_unknown`` (labels: no lookup); every command the
  sandbox really executed is answered succeeded, none unknown.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import connectors
from connectors.github import GitHubSettings
from connectors.slack import SlackSettings
from core.apicall import CallResult
from core.envelopes import Command, DlqHeaders, new_id
from core.outcomes import OutcomeUnknown
from core.testing.commands import CommandRunner
from streams.commands import build_command
from streams.sink._lookup import look_up
from tests.integration.sink_processes import (
    assert_exactly_once,
    at_most_once,
    kill_mid_batch,
    process_rig,
)
from tests.kafkatools import read_topic
from tests.waiting import eventually_sync

pytestmark = pytest.mark.integration


@pytest.fixture
async def github() -> AsyncIterator[tuple[Any, CommandRunner]]:
    async with connectors.get("github").new_sandbox() as sb:
        section = GitHubSettings(token="ghp_sandbox", base_url=sb.url, rate=1000)
        async with CommandRunner(connectors.get("github"), section) as runner:
            yield sb, runner


@pytest.fixture
async def slack() -> AsyncIterator[tuple[Any, CommandRunner]]:
    async with connectors.get("slack").new_sandbox() as sb:
        section = SlackSettings(bot_token="xoxb-sandbox", base_url=sb.url, rate=1000)
        async with CommandRunner(connectors.get("slack"), section) as runner:
            yield sb, runner


async def sent_then_found(runner: CommandRunner, name: str, params: dict[str, Any]) -> None:
    """``name`` sent once, then found by its id (and a twin never sent: not found)."""
    valid = runner.params(name, params)
    command_id = new_id()
    sent = await runner.call(valid, command_id)
    found = await look_up(runner, valid, command_id, None)
    assert isinstance(found, CallResult), found
    assert found.attempts == 0
    assert found.status == sent.status
    assert found.data == sent.data
    missing = await look_up(runner, valid, new_id(), None)
    assert isinstance(missing, OutcomeUnknown)
    assert "not found" in str(missing)


async def test_github_issue_and_comment_found_by_their_marker(
    github: tuple[Any, CommandRunner],
) -> None:
    sb, runner = github
    sb.add_issues("octo/demo", 150)  # more than a page to look through
    repo = {"owner": "octo", "repo": "demo"}
    await sent_then_found(runner, "issues.create", {**repo, "title": "t", "body": "text"})
    await sent_then_found(runner, "issues.comment", {**repo, "issue_number": 3, "body": "hi"})
    created = sb.issue("octo/demo", 151)
    assert created["body"].startswith("text\n\n<!-- switchboard:command-id=")
    labels = runner.params("issues.add_labels", {**repo, "issue_number": 3, "labels": ["x"]})
    unsupported = await look_up(runner, labels, new_id(), None)
    assert isinstance(unsupported, OutcomeUnknown)


async def test_slack_message_found_by_its_metadata(slack: tuple[Any, CommandRunner]) -> None:
    sb, runner = slack
    sb.seed_messages("C0SANDBOX", 250, step_s=0.000001)  # more than a page
    await sent_then_found(runner, "chat.post_message", {"channel": "C0SANDBOX", "text": "hi"})
    plain = sb.history("C0SANDBOX")[0]
    assert plain["metadata"]["event_type"] == "switchboard_command"


def github_mix(n: int) -> list[tuple[str, Command]]:
    """Issue creations, comments on issues 1..20 and label additions, over 150 keys."""
    repo: dict[str, Any] = {"owner": "octo", "repo": "demo"}
    out = []
    for i in range(n):
        params: dict[str, Any]
        if i % 3 == 0:
            name, params = "issues.create", {**repo, "title": f"t{i}"}
        elif i % 3 == 1:
            name, params = "issues.comment", {**repo, "issue_number": 1 + i % 20, "body": f"c{i}"}
        else:
            name, params = (
                "issues.add_labels",
                {**repo, "issue_number": 1 + i % 20, "labels": [f"l{i}"]},
            )
        out.append((f"key-{i % 150}", build_command(f"github.{name}", params)))
    return out


def test_killed_worker_markers_found_by_lookup_or_unknown(
    cli_env: dict[str, str], topic_prefix: str, tmp_path: Path
) -> None:
    with process_rig("github", cli_env, topic_prefix, tmp_path, latency=0.15) as rig:
        sandbox: Any = rig.sandbox  # the GitHub sandbox
        sandbox.add_issues("octo/demo", 20)
        commands = github_mix(600)
        rig.produce(commands)
        first = rig.workers.start()
        kill_mid_batch(rig, first, answered=100)
        rig.workers.start()
        results = assert_exactly_once(rig, commands)
        effects = at_most_once(rig.sandbox, results)
        kinds = {c.id: c.type for _, c in commands}
        found = [cid for cid, r in results.items() if r.status == "succeeded" and not r.attempts]
        unknown = [
            cid for cid, r in results.items() if r.error and r.error.code == "outcome_unknown"
        ]
        print(f"markers: {len(found)} found by lookup, {len(unknown)} outcome_unknown")
        assert found, "the kill left no call to look up"
        assert {kinds[cid] for cid in found} <= {"github.issues.create", "github.issues.comment"}
        assert len(found) + len(unknown) == len(results) - sum(
            r.status == "succeeded" and r.attempts > 0 for r in results.values()
        ), "a Result that is neither a call's answer, found, nor unknown"
        for cid in unknown:  # never sent again: at most the dead worker's one call
            assert effects.get(cid, 0) <= 1
            # what the sandbox created was found; unknown are the calls that never got
            # there, and the label additions (no lookup)
            assert kinds[cid] == "github.issues.add_labels" or not effects.get(cid), cid
        records = eventually_sync(
            lambda: _dlq(rig), 30, until=lambda r: len(r) >= len(unknown), what="the DLQ records"
        )
        assert [DlqHeaders.from_headers(r.headers).reason for r in records] == [
            "outcome_unknown"
        ] * len(unknown)


def _dlq(rig: Any) -> list[Any]:
    import asyncio

    return list(asyncio.run(read_topic(rig.settings, rig.dlq, timeout=5)))
