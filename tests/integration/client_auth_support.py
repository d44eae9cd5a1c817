"""Shared by the client-auth integration tests: a sandbox that echoes
credentials back (the careless provider every redaction must survive) and a
client on it that retries without waiting real time."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Mapping

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from core.client import ClientPolicy, ProviderClient
from core.observability import Metrics
from core.ratelimit import BudgetRegistry
from core.retry import RetryPolicy
from core.testing import DemoSandbox
from tests.fakeclock import FakeClock


def _echoed_credentials(request: web.Request, form: Mapping[str, str] | None = None) -> str:
    """Every credential a request carried, raw, the way a careless provider echoes it."""
    found: list[str] = []
    for name, value in request.headers.items():
        if name.lower() == "authorization":
            scheme, _, credential = value.partition(" ")
            found.append(credential)
            if scheme == "Basic":
                found.append(base64.b64decode(credential).decode())
        elif name.lower().startswith("x-"):
            found.append(value)
    found += [str(v) for v in request.query.values()]
    found += [str(v) for v in (form or {}).values()]
    return " ".join(found)


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

        async def leak_status(request: web.Request) -> web.Response:
            status = int(request.match_info["status"])
            message = f"rejected {_echoed_credentials(request)}"
            return web.json_response({"error": {"code": "bad", "message": message}}, status=status)

        async def leaky_token(request: web.Request) -> web.Response:
            form = {str(k): str(v) for k, v in (await request.post()).items()}
            description = f"cannot use {_echoed_credentials(request, form)}"
            return web.json_response(
                {"error": "invalid_grant", "error_description": description}, status=400
            )

        router.add_get("/leak", leak)
        router.add_get("/leak/{status}", leak_status)
        router.add_post("/leaky/token", leaky_token)


@pytest.fixture
async def sandbox() -> AsyncIterator[LeakySandbox]:
    async with LeakySandbox() as sb:
        yield sb


def client_for(sandbox: DemoSandbox, auth: object, **policy: object) -> ProviderClient:
    return ProviderClient(
        ClientPolicy(
            connector="demo",
            base_url=sandbox.url,
            retry=RetryPolicy(backoff=False, attempts=3),
            **policy,
        ),
        auth=auth,  # type: ignore[arg-type]
        budgets=BudgetRegistry(),
        metrics=Metrics(CollectorRegistry()),
        sleep=FakeClock().sleep,  # retries wait no real time
    )
