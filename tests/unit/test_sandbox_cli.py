"""``switchboard sandbox PROVIDER`` tells the user what it accepts (#10.7).

On start it prints where it listens, the sandbox's own test credentials and
the ``SWITCHBOARD_*`` variables that point Switchboard at it; the test
takes those printed variables, loads the settings from them and runs a
real command through the connector's client against the running sandbox.
"""

from __future__ import annotations

import os
import select
import shlex
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

import connectors
from core.testing import SandboxProcess
from core.testing.commands import CommandRunner
from streams.settings import load_settings
from tests.waiting import eventually_sync

SWITCHBOARD = str(Path(sys.executable).with_name("switchboard"))
PROVIDERS = sorted(n for n, c in connectors.registry().items() if c.sandbox is not None)

#: one command per connector that has commands, run with the printed settings
COMMANDS: dict[str, tuple[str, dict[str, Any]]] = {
    "stripe": ("customers.create", {"email": "a@example.com"}),
    "github": ("issues.create", {"owner": "octo", "repo": "demo", "title": "t"}),
    "slack": ("chat.post_message", {"channel": "C0SANDBOX", "text": "x"}),
    "twilio": ("messages.create", {"to": "+15558675310", "from": "+15017122661", "body": "hi"}),
    "sendgrid": (
        "mail.send",
        {
            "personalizations": [{"to": [{"email": "to@example.com"}]}],
            "from": {"email": "from@example.com"},
            "subject": "Hi",
            "content": [{"type": "text/plain", "value": "Hello"}],
        },
    ),
    "shopify": ("customers.create", {"email": "ada@example.com", "first_name": "Ada"}),
}


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    return env | extra


@contextmanager
def sandbox_cli(provider: str, env: dict[str, str] | None = None) -> Iterator[list[str]]:
    """Run ``switchboard sandbox PROVIDER``; yield its first two lines; stop it."""
    process = subprocess.Popen(
        [SWITCHBOARD, "sandbox", provider],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,  # for SandboxProcess; the lines are read from the raw descriptor
        env=env or _clean_env(),
    )
    stdout = process.stdout
    assert stdout is not None
    out, ended = b"", False

    def read_more() -> bytes:
        # raw reads: a buffered readline would hide the second line from select
        nonlocal out, ended
        if select.select([stdout], [], [], 0.1)[0]:
            chunk = os.read(stdout.fileno(), 65536)
            out, ended = out + chunk, not chunk
        return out

    try:
        eventually_sync(
            read_more,
            30,
            until=lambda printed: printed.count(b"\n") >= 2 or ended,
            what=f"two lines from `switchboard sandbox {provider}`",
            interval=0,
        )
        yield out.decode().splitlines()
    finally:
        SandboxProcess(process, "").stop()  # SIGTERM, then kill past its timeout


def _printed_settings(line: str) -> dict[str, str]:
    prefix = "point Switchboard at it: "
    assert line.startswith(prefix), line
    return dict(pair.split("=", 1) for pair in shlex.split(line[len(prefix) :]))


@pytest.mark.parametrize("provider", [*PROVIDERS, "demo"])
async def test_sandbox_prints_its_url_key_and_the_settings_that_work(
    provider: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with sandbox_cli(provider) as lines:
        assert len(lines) == 2, lines
        head, variables = lines[0], _printed_settings(lines[1])
        section = "generic" if provider == "demo" else provider
        url = variables[f"SWITCHBOARD_{section.upper()}__BASE_URL"]
        assert head.startswith(f"{provider} sandbox at {url}; it accepts ")
        for name, value in variables.items():
            assert name.startswith(f"SWITCHBOARD_{section.upper()}__")
            if not name.endswith(("__BASE_URL", "__ACCOUNT_SID", "__API_KEY_SID")):
                assert value in head, (name, head)  # the key printed is the one accepted
            monkeypatch.setenv(name, value)
        connector = connectors.get(section)
        settings = load_settings(sections={section: connector.settings}).section(section)
        if section not in COMMANDS:  # generic: no command without templates; it answers
            async with httpx.AsyncClient() as client:
                assert (await client.get(f"{url}/v1/things/none")).status_code == 404
            return
        name, params = COMMANDS[section]
        async with CommandRunner(connector, settings) as runner:
            result = await runner.run(name, params, "cli-1")
        assert 200 <= result.status < 300


def test_sandbox_never_prints_a_users_configured_secret() -> None:
    real = "sk_live_" + "r" * 24
    env = _clean_env(SWITCHBOARD_STRIPE__API_KEY=real)
    with sandbox_cli("stripe", env) as lines:
        assert len(lines) == 2, lines
    assert real not in "\n".join(lines)
    assert "sk_test_sandbox" in lines[0]
