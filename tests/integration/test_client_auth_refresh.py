"""The client with core.auth over real sockets: one token refresh under
concurrency, and a 401 after the refresh is fatal, not a loop."""

from __future__ import annotations

import asyncio

import pytest

from core import errors as e
from core.auth import (
    ClientCredentialsAuth,
)
from tests.integration import client_auth_support as support
from tests.integration.client_auth_support import LeakySandbox, client_for

sandbox = support.sandbox  # the shared fixture, bound here so pytest finds it


async def test_token_refreshed_exactly_once_under_50_concurrent_requests(
    sandbox: LeakySandbox,
) -> None:
    auth = ClientCredentialsAuth(f"{sandbox.url}/oauth/token", "sandbox-client", "sandbox-secret")
    client = client_for(sandbox, auth)
    async with client:
        first = await asyncio.gather(*(client.get("/oauth/me") for _ in range(50)))
        assert all(r.status == 200 for r in first)
        assert auth.fetches == 1  # one token for 50 concurrent first requests
        sandbox.oauth.revoke_access_tokens()
        second = await asyncio.gather(*(client.get("/oauth/me") for _ in range(50)))
        assert all(r.status == 200 for r in second)
        assert auth.fetches == 2  # 50 x 401 -> exactly one refresh
        assert all(r.attempts == 1 for r in second)  # the auth flow retried, not the client
    await auth.aclose()
    assert sandbox.oauth.issued == 2


async def test_a_401_after_refresh_is_fatal_not_a_loop(sandbox: LeakySandbox) -> None:
    auth = ClientCredentialsAuth(f"{sandbox.url}/oauth/token", "sandbox-client", "sandbox-secret")
    sandbox.oauth.reject_all = True
    async with client_for(sandbox, auth) as client:
        with pytest.raises(e.FatalConfigError) as info:
            await client.get("/oauth/me")
    await auth.aclose()
    assert info.value.status == 401
    assert len(sandbox.requests_to("/oauth/me")) == 2  # first try + one after the refresh
    assert auth.fetches == 2
