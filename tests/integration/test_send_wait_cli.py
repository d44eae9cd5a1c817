"""`switchboard send --wait`: the Result printed and the exit code by its
status, and a timeout as one line with exit 124."""

from __future__ import annotations

import asyncio

import pytest

from streams.settings import Settings
from tests.integration import send_wait_support as support
from tests.integration.send_wait_support import (
    CREATE,
    SWITCHBOARD,
    StandInSink,
    by_email,
    integration,
)

stripe_topics = support.stripe_topics  # the shared fixture, bound here so pytest finds it


async def cli(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        SWITCHBOARD,
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


@pytest.fixture
def env(cli_env: dict[str, str], topic_prefix: str) -> dict[str, str]:
    return {**cli_env, "SWITCHBOARD_KAFKA__TOPIC_PREFIX": topic_prefix}


@integration
async def test_cli_wait_prints_the_result_and_exits_by_its_status(
    stripe_topics: Settings, env: dict[str, str]
) -> None:
    async with StandInSink(stripe_topics, by_email).running(serve=True):
        ok = await cli(env, "send", CREATE, "--json", '{"email": "ok@example.com"}', "--wait")
        bad = await cli(
            env,
            "send",
            CREATE,
            "--json",
            '{"email": "bad@example.com"}',
            "--wait",
            "--timeout",
            "30",
        )

    code, stdout, stderr = ok
    assert code == 0, stderr
    command_id, outcome, *rest = stdout.splitlines()
    assert outcome == f"succeeded  {CREATE}  command_id={command_id}"
    assert "  http status:   200" in rest
    assert "  attempts:      1" in rest
    assert f'      "id": "cus_{command_id[:8]}"' in rest
    assert "waiting up to 30 s for its Result on" in stderr

    code, stdout, stderr = bad
    assert code == 1, stderr
    command_id, outcome, *rest = stdout.splitlines()
    assert outcome == f"failed  {CREATE}  command_id={command_id}"
    assert "  http status:   400" in rest
    assert "  error:         fatal_request: Invalid email address" in rest
    assert "  provider code: email_invalid" in rest
    assert "  request id:    req_123" in rest


@integration
async def test_cli_wait_timeout_is_one_line_and_exit_124(
    stripe_topics: Settings, env: dict[str, str]
) -> None:
    code, stdout, stderr = await cli(
        env, "send", CREATE, "--json", '{"email": "silent@example.com"}', "--wait", "--timeout", "1"
    )
    assert code == 124
    command_id = stdout.strip()
    [error] = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert f"no Result for command {command_id}" in error
    assert "within 1 s" in error
    assert "`switchboard worker --roles sink`" in error
    assert "Traceback" not in stderr
