"""The client with core.auth over real sockets: one refresh under concurrency,
no 401 loop, and no secret in any log line or error."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from core import errors as e
from core.auth import ApiKeyAuth, BearerAuth, ClientCredentialsAuth
from core.client import ClientPolicy, ProviderClient
from core.observability import Metrics
from core.ratelimit import BudgetRegistry, RatePolicy
from core.retry import RetryPolicy
from core.testing import DemoSandbox

API_KEY = "sk_test_4eC39HqLyjWDarjtT1zdp7dc"
PLAIN_SECRET = "correct-horse-battery-staple-42"


class LeakySandbox(DemoSandbox):
    """A provider that echoes credentials back in its error messages."""

    def routes(self, router: web.UrlDispatcher) -> None:
        super().routes(router)

        async def leak(request: web.Request) -> web.Response:
            auth = request.headers.get("Authorization", "")
            key = request.query.get("api_key", "")
            return web.json_response(
                {"error": {"code": "bad", "message": f"rejected {auth} and key {key}"}},
                status=400,
            )

        router.add_get("/leak", leak)


@pytest.fixture
async def sandbox() -> AsyncIterator[LeakySandbox]:
    async with LeakySandbox() as sb:
        yield sb


async def no_sleep(seconds: float) -> None:
    return None


def client_for(sandbox: DemoSandbox, auth: object, **policy: object) -> ProviderClient:
    return ProviderClient(
        ClientPolicy(
            connector="demo",
            base_url=sandbox.url,
            retry=RetryPolicy(backoff=False, attempts=3),
            **policy,  # type: ignore[arg-type]
        ),
        auth=auth,  # type: ignore[arg-type]
        budgets=BudgetRegistry(),
        metrics=Metrics(CollectorRegistry()),
        sleep=no_sleep,
    )


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


async def test_secrets_never_reach_logs_or_errors(
    sandbox: LeakySandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bearer = client_for(sandbox, BearerAuth(API_KEY), rate=RatePolicy(rate=1000))
    query_key = client_for(sandbox, ApiKeyAuth(PLAIN_SECRET, name="api_key", location="query"))
    errors: list[e.SwitchboardError] = []
    async with bearer, query_key:
        for client in (bearer, query_key):
            await client.get("/echo")
            sandbox.fail_next(1, status=503)
            await client.get("/echo", params={"page": "2"})
            for path in ("/leak", "/status/401"):
                with pytest.raises(e.SwitchboardError) as info:
                    await client.get(path)
                errors.append(info.value)
            sandbox.throttle_next(1, retry_after=0.01)
            await client.get("/echo")
    assert caplog.records, "expected the client to log something at DEBUG"
    dumped = caplog.text + repr([r.__dict__ for r in caplog.records])
    dumped += "".join(str(err) + err.to_error_info().to_json().decode() for err in errors)
    # Make sure the leaky route really sent the secrets back to us.
    assert any(r.path == "/leak" for r in sandbox.requests)
    for secret in (API_KEY, PLAIN_SECRET):
        idx = dumped.find(secret)
        assert secret not in dumped, dumped[max(0, idx - 300) : idx + 50]
