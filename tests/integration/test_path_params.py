"""#9.7: a path parameter cannot climb out of its endpoint.

``github.issues.create`` with ``owner=".."``, ``repo=".."`` used to become
``POST /issues`` (httpx removes dot segments). A path value that is ``.``,
``..`` or empty is a validation error now, for every connector's endpoints
and every generic template: ``send`` refuses it in one line (exit 2), the
sink answers and dead-letters it ``invalid_command``, and nothing reaches
the provider. Other values stay in their one segment: ``/`` and ``%`` are
percent-encoded (``%2e%2e`` is sent as ``%252e%252e``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
import pytest
from click.testing import CliRunner

import connectors
from connectors.generic import GenericSettings
from connectors.generic._commands import RequestTemplate
from connectors.github import GitHubSettings
from connectors.github._commands import IssuesCreate
from connectors.github._sandbox import GitHubSandbox
from core.apicall import CallContext, fill_path
from core.envelopes import Command, DlqHeaders
from core.errors import FatalRequestError, InvalidParamsError
from core.executor import InvalidCommand
from core.testing import DemoSandbox
from core.testing.commands import CommandRunner
from streams.cli import cli
from streams.commands import build_command
from tests.integration.sink_support import SinkRig, running_rig
from tests.kafkatools import read_topic

pytestmark = pytest.mark.integration

CLIMBING = [
    {"owner": "..", "repo": ".."},
    {"owner": "octo", "repo": ".."},
    {"owner": ".", "repo": "demo"},
]


@pytest.fixture
async def github() -> AsyncIterator[tuple[GitHubSandbox, CommandRunner]]:
    async with GitHubSandbox() as sb:
        section = GitHubSettings(token="ghp_sandbox", base_url=sb.url, rate=1000)
        async with CommandRunner(connectors.get("github"), section) as runner:
            yield sb, runner


@pytest.mark.parametrize("where", CLIMBING)
async def test_a_dot_path_value_is_invalid_and_sends_nothing(
    github: tuple[GitHubSandbox, CommandRunner], where: dict[str, str]
) -> None:
    sb, runner = github
    with pytest.raises(InvalidCommand, match="path parameter"):
        await runner.run("issues.create", {**where, "title": "Bug"}, "cmd-climb")
    # The same check guards every Endpoint and template where the path is filled.
    params = IssuesCreate.model_construct(owner=where["owner"], repo=where["repo"], title="Bug")
    with pytest.raises(InvalidParamsError, match="path parameter") as raised:
        params.api_call(CallContext("cmd-climb", runner.section))
    assert raised.value.code == "invalid_command"
    assert not raised.value.sent
    assert sb.requests == []  # no POST /issues, no request at all


@pytest.fixture
async def generic() -> AsyncIterator[tuple[DemoSandbox, CommandRunner]]:
    template = RequestTemplate(method="POST", url="/api/orders/{order}/notes", body={"n": "{n}"})
    async with DemoSandbox() as sb:
        section = GenericSettings(base_url=sb.url, templates={"note": template})
        async with CommandRunner(connectors.get("generic"), section) as runner:
            yield sb, runner


async def test_a_generic_template_cannot_climb_either(
    generic: tuple[DemoSandbox, CommandRunner],
) -> None:
    sb, runner = generic
    for order in ("..", ".", ""):
        values = {"order": order, "n": ".."}  # a body value may be anything
        with pytest.raises(InvalidParamsError, match="path parameter 'order'"):
            await runner.run("request", {"template": "note", "values": values})
    assert sb.requests == []


async def test_encoded_dots_and_slashes_stay_in_their_segment(
    generic: tuple[DemoSandbox, CommandRunner],
) -> None:
    sb, runner = generic
    for order in ("%2e%2e", "a/../..", "...", ".hidden"):
        with pytest.raises(FatalRequestError, match="404"):  # no such order: its own segment
            await runner.run("request", {"template": "note", "values": {"order": order, "n": 1}})
    paths = [r.path for r in sb.requests]
    assert len(paths) == 4
    assert all(p.startswith("/api/orders/") and p.endswith("/notes") for p in paths), paths
    assert fill_path("/o/{order}/x", {"order": "%2e%2e"}) == "/o/%252e%252e/x"
    assert fill_path("/o/{order}/x", {"order": "a/../.."}) == "/o/a%2F..%2F../x"


@pytest.mark.parametrize("where", CLIMBING[:2])
def test_send_refuses_a_climbing_path_value(where: dict[str, str]) -> None:
    params = {**where, "title": "Bug"}
    result = CliRunner().invoke(
        cli, ["send", "github.issues.create", "--json", orjson.dumps(params).decode()]
    )
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "path parameter" in lines[0]
    assert "is '..'" in lines[0]


async def test_the_sink_dead_letters_it_invalid_command(github_rig: SinkRig) -> None:
    rig = github_rig
    await rig.start_sink()
    # Produced by someone else's code: built without the params check send makes.
    climbing = Command(
        type="github.issues.create", params={"owner": "..", "repo": "..", "title": "x"}
    )
    good = build_command("github.issues.create", {"owner": "octo", "repo": "demo", "title": "y"})
    await rig.send(climbing, key="k")
    await rig.send(good, key="k")
    results = await rig.results_by_id(expect=2)
    (failed,) = results[climbing.id]
    assert failed.status == "failed"
    assert failed.error is not None
    assert failed.error.code == "invalid_command"
    assert "path parameter" in failed.error.message
    assert results[good.id][0].status == "succeeded"
    (dead,) = await read_topic(rig.settings, rig.dlq, expect=1)
    assert DlqHeaders.from_headers(dead.headers).reason == "invalid_command"
    assert dead.value == climbing.to_json()
    assert rig.sandbox.requests_to("/issues") == []
    assert [r.path for r in rig.sandbox.requests] == ["/repos/octo/demo/issues"]


@pytest.fixture
async def generic_rig(
    kafka_bootstrap: str, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[SinkRig]:
    template = {"url": "/api/orders/{order}/notes", "body": {"n": "{n}"}}
    monkeypatch.setenv("SWITCHBOARD_GENERIC__TEMPLATES", orjson.dumps({"note": template}).decode())
    async with (
        DemoSandbox() as sb,
        running_rig(monkeypatch, kafka_bootstrap, topic_prefix, "generic", sb) as rig,
    ):
        yield rig


async def test_the_sink_dead_letters_a_climbing_template_value_invalid_command(
    generic_rig: SinkRig,
) -> None:
    rig = generic_rig
    await rig.start_sink()
    climbing = build_command("generic.request", {"template": "note", "values": {"order": ".."}})
    await rig.send(climbing)
    (result,) = (await rig.results_by_id(expect=1))[climbing.id]
    assert result.error is not None
    assert result.error.code == "invalid_command"
    assert "path parameter 'order' is '..'" in result.error.message
    (dead,) = await read_topic(rig.settings, rig.dlq, expect=1)
    assert DlqHeaders.from_headers(dead.headers).reason == "invalid_command"
    assert rig.sandbox.requests == []


def test_send_refuses_a_climbing_template_value(monkeypatch: pytest.MonkeyPatch) -> None:
    template = {"url": "/api/orders/{order}/notes"}
    monkeypatch.setenv("SWITCHBOARD_GENERIC__TEMPLATES", orjson.dumps({"note": template}).decode())
    params = {"template": "note", "values": {"order": ".."}}
    result = CliRunner().invoke(
        cli, ["send", "generic.request", "--json", orjson.dumps(params).decode()]
    )
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "path parameter 'order' is '..'" in lines[0]
