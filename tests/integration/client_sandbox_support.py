"""Shared by the provider client's sandbox tests: a demo sandbox that also
redirects and answers Slack style (HTTP 200 saying it failed), and clients on
it that share one metrics registry and a breaker clock the test moves."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from core.breaker import BreakerRegistry
from core.client import ClientPolicy, ProviderClient
from core.observability import Metrics
from core.ratelimit import BudgetRegistry
from core.retry import RetryPolicy
from core.testing import DemoSandbox
from tests.fakeclock import FakeClock


class RedirectingSandbox(DemoSandbox):
    def routes(self, router: web.UrlDispatcher) -> None:
        super().routes(router)

        async def moved(request: web.Request) -> web.Response:
            raise web.HTTPFound("/echo")

        router.add_get("/moved", moved)

        async def ok_false(request: web.Request) -> web.Response:
            # Slack style: HTTP 200 whose body says it failed.
            return web.json_response({"ok": False, "error": request.match_info["code"]})

        router.add_post("/api/{code}", ok_false)


@pytest.fixture
async def sandbox() -> AsyncIterator[RedirectingSandbox]:
    async with RedirectingSandbox() as sb:
        yield sb


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def breaker_clock() -> FakeClock:
    return FakeClock(0.0)


@pytest.fixture
async def make_client(
    sandbox: RedirectingSandbox, registry: CollectorRegistry, breaker_clock: FakeClock
) -> AsyncIterator[Callable[..., ProviderClient]]:
    clients: list[ProviderClient] = []
    metrics = Metrics(registry)
    breakers = BreakerRegistry(clock=breaker_clock, metrics=metrics)

    def make(**policy: Any) -> ProviderClient:
        policy.setdefault("retry", RetryPolicy(backoff=False, attempts=4))
        policy.setdefault("timeouts", {"read": 2.0})
        client = ProviderClient(
            ClientPolicy(connector="demo", base_url=sandbox.url, **policy),
            budgets=BudgetRegistry(),
            breakers=breakers,
            metrics=metrics,
            sleep=FakeClock().sleep,  # retries wait no real time
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()
