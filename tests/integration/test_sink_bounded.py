"""The sink's ledger past its bound, against the real broker and the GitHub
sandbox (a ledger provider): an id within the bound is still refused, live
and after a restart that reads the ledger back; an id past it runs again, as
the README says ("Bounded state")."""

from __future__ import annotations

import uuid

import pytest

import connectors
from core.envelopes import Command
from streams.commands import build_command
from tests.integration.sink_support import SinkRig, running_rig

pytestmark = pytest.mark.integration

BOUND = 10


def issue(title: str) -> Command:
    return build_command("github.issues.create", {"owner": "octo", "repo": "demo", "title": title})


async def settle(rig: SinkRig, sent: int) -> None:
    """Send a marker command behind the others of the key and wait for every Result
    (``sent`` Results before the marker): what came before it has been judged."""
    await rig.send(issue(f"marker-{uuid.uuid4().hex[:6]}"), key="one")
    await rig.results_by_id(expect=sent + 1)


async def test_a_ledger_past_its_bound_still_refuses_the_ids_within_it(
    kafka_bootstrap: str, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with (
        connectors.get("github").new_sandbox() as sb,
        running_rig(
            monkeypatch,
            kafka_bootstrap,
            topic_prefix,
            "github",
            sb,
            {"SINK__LEDGER_MAX_IDS": str(BOUND)},
        ) as rig,
    ):
        await rig.start_sink()
        commands = [issue(f"t{i}") for i in range(10 * BOUND)]
        for command in commands:  # one key: one partition, one ledger
            await rig.send(command, key="one")
        assert len(await rig.results_by_id(expect=len(commands))) == len(commands)
        newest, oldest = commands[-1], commands[0]

        # within the bound: replayed, refused (no Result, no second side effect)
        await rig.send(newest, key="one")
        # past it: forgotten, so it runs again
        await rig.send(oldest, key="one")
        await settle(rig, sent=len(commands) + 1)
        assert sb.side_effects(newest.id) == 1
        assert sb.side_effects(oldest.id) == 2

        # a new sink reads back only the last BOUND records of the partition
        await rig.stop_sinks()
        await rig.start_sink()
        await rig.send(newest, key="one")  # its Result is among the last BOUND
        await rig.send(commands[len(commands) // 2], key="one")
        await settle(rig, sent=len(commands) + 3)
        assert sb.side_effects(newest.id) == 1
        assert sb.side_effects(commands[len(commands) // 2].id) == 2
        assert all(sb.side_effects(c.id) == 1 for c in commands[1:] if c is not commands[50])
