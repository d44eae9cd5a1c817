"""Two processes sharing one file token store refresh one credential at once:
one refresh at the provider, and both use the new token.

The provider is the demo sandbox's OAuth server, which rotates refresh tokens
(a second refresh with the old one is ``invalid_grant``), so without a lock
across processes one of the two fails or two tokens are issued.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from core.testing import DemoSandbox
from core.tokenstore import FileTokenStore, OAuthToken, TokenCipher, generate_key

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def sandbox() -> AsyncIterator[DemoSandbox]:
    async with DemoSandbox() as sb:
        yield sb


async def refresher(
    store: Path, key: str, sandbox: DemoSandbox, fernet: str
) -> asyncio.subprocess.Process:
    env = {**os.environ, "SWITCHBOARD_TEST_TOKEN_KEY": fernet, "PYTHONPATH": str(ROOT)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.integration.token_refresher",
        str(store),
        key,
        f"{sandbox.url}/oauth/token",
        f"{sandbox.url}/oauth/me",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    assert await proc.stdout.readline() == b"ready\n"
    return proc


@pytest.mark.parametrize("processes", [2, 4])
async def test_concurrent_refresh_in_processes_is_one_refresh(
    sandbox: DemoSandbox, tmp_path: Path, processes: int
) -> None:
    fernet = generate_key()
    path = tmp_path / "tokens.json"
    key = "demo:default"
    refresh = sandbox.oauth.issue_refresh_token()
    expired = OAuthToken(
        access_token=SecretStr("expired-access-token-0"),
        expires_at=0,
        refresh_token=SecretStr(refresh),
    )
    await FileTokenStore(path, TokenCipher(fernet)).put(key, expired)
    procs = [await refresher(path, key, sandbox, fernet) for _ in range(processes)]
    for proc in procs:  # every process is waiting: start them together
        assert proc.stdin is not None
        proc.stdin.write(b"go\n")
    await asyncio.gather(*(p.stdin.drain() for p in procs if p.stdin is not None))
    outputs = await asyncio.gather(*(p.communicate() for p in procs))
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()[-2000:]
    answers = {out.decode().split()[0] for out, _ in outputs}
    tokens = {out.decode().split()[1] for out, _ in outputs}
    assert answers == {"200"}
    assert sandbox.oauth.issued == 1  # one refresh at the provider
    assert len(tokens) == 1  # every process uses the new token
    stored = await FileTokenStore(path, TokenCipher(fernet)).get(key)
    assert stored is not None
    assert stored.access_token.get_secret_value() in tokens
