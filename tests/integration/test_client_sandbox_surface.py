"""The provider client's public surface and options: exported names, policy
errors naming their setting, a mock transport for unit use, HTTP/2, and the
metric families."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

import core.client
from core import errors as e
from core.client import ClientPolicy, ProviderClient
from core.observability import Metrics
from core.ratelimit import BudgetRegistry
from core.testing import DemoSandbox
from tests.integration import client_sandbox_support as support

sandbox = support.sandbox  # the shared fixture, bound here so pytest finds it


def test_public_surface() -> None:
    assert set(core.client.__all__) == {
        "BREAKERS",
        "USER_AGENT",
        "ClientPolicy",
        "ConnectionLimits",
        "ProviderClient",
        "ProviderResponse",
        "Timeouts",
        "credential_fingerprint",
        "guard_attempts",
    }


@pytest.mark.parametrize(
    ("policy", "setting"),
    [
        ({"base_url": "ftp://example.com"}, "base_url"),
        ({"base_url": "not a url"}, "base_url"),
        ({"rate": {"rate": -5}}, "rate.rate"),
        ({"retry": {"attempts": 0}}, "retry.attempts"),
        ({"timeouts": {"connect": 0}}, "timeouts.connect"),
        ({"max_response_bytes": -1}, "max_response_bytes"),
        ({"breaker": {"failure_rate": 2}}, "breaker.failure_rate"),
        ({"bogus": 1}, "bogus"),
    ],
)
def test_invalid_policy_names_the_setting(policy: dict[str, Any], setting: str) -> None:
    kwargs: dict[str, Any] = {"connector": "demo", "base_url": "https://api.example.com", **policy}
    with pytest.raises(e.PolicyError) as info:
        ClientPolicy(**kwargs)
    assert info.value.setting == setting
    assert setting in str(info.value)
    with pytest.raises(e.PolicyError) as info:
        ClientPolicy(base_url="https://api.example.com")  # type: ignore[call-arg]
    assert info.value.setting == "connector"


async def test_mock_transport_for_pure_unit_use() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"path": request.url.path})

    client = ProviderClient(
        ClientPolicy(connector="demo", base_url="https://api.example.com"),
        transport=httpx.MockTransport(handler),
        budgets=BudgetRegistry(),
    )
    async with client:
        assert (await client.get("/x")).data == {"path": "/x"}


async def test_http2_is_an_option(sandbox: DemoSandbox) -> None:
    client = ProviderClient(
        ClientPolicy(connector="demo", base_url=sandbox.url, http2=True),
        budgets=BudgetRegistry(),
        metrics=Metrics(CollectorRegistry()),
    )
    async with client:  # plain-text HTTP/1.1 sandbox: h2 is negotiated over TLS only
        assert (await client.get("/echo")).status == 200


def test_metric_families_are_public() -> None:
    import core.observability

    assert set(core.observability.__all__) == {"METRICS", "Metrics", "log_event"}
    registry = CollectorRegistry()
    Metrics(registry)
    names = {m.name for m in registry.collect()}
    assert {
        "switchboard_http_requests",
        "switchboard_http_request_duration_seconds",
        "switchboard_http_retries",
        "switchboard_ratelimit_wait_seconds",
        "switchboard_ratelimit_throttled",
        "switchboard_breaker_state",
        "switchboard_breaker_transitions",
    } <= names
