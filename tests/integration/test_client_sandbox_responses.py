"""The provider client over real sockets against the demo sandbox (no Kafka):
how a response becomes data or an error (headers and JSON, size limit, non-JSON
bodies, status errors, redirects, a connector's own mapping, requests that
cannot be built or sent)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from core import errors as e
from core.classify import Action, ErrorMapping, Resolution, ResponseView
from core.client import USER_AGENT, ProviderClient
from core.testing import DemoSandbox
from tests.integration import client_sandbox_support as support

# the shared fixtures (make_client needs the other three), bound here so pytest finds them
sandbox, registry = support.sandbox, support.registry
breaker_clock, make_client = support.breaker_clock, support.make_client


async def test_user_agent_and_json(make_client: Callable[..., ProviderClient]) -> None:
    client = make_client()
    resp = await client.post("/echo", json={"a": 1}, idempotency_key="k1")
    assert resp.status == 200
    assert resp.attempts == 1
    assert resp.data["headers"]["User-Agent"] == USER_AGENT
    assert USER_AGENT.startswith("Switchboard/")
    assert resp.data["headers"]["Idempotency-Key"] == "k1"
    assert resp.data["json"] == {"a": 1}


@pytest.mark.parametrize("chunked", [False, True])
async def test_oversized_body(
    sandbox: DemoSandbox, make_client: Callable[..., ProviderClient], chunked: bool
) -> None:
    client = make_client(max_response_bytes=64 * 1024)
    sandbox.oversize_next(1, size=1024 * 1024, chunked=chunked)
    with pytest.raises(e.OversizedResponseError) as info:
        await client.get("/echo")
    assert info.value.attempts == 1
    assert (await client.get("/echo")).status == 200  # the connection pool is still fine


async def test_non_json_body(
    sandbox: DemoSandbox, make_client: Callable[..., ProviderClient]
) -> None:
    client = make_client()
    sandbox.non_json_next(1)
    with pytest.raises(e.InvalidBodyError) as info:
        await client.get("/echo")
    assert info.value.status == 200
    sandbox.non_json_next(1)
    resp = await client.get("/echo", expect_json=False)
    assert resp.data is None
    assert b"<" in resp.content
    sandbox.non_json_next(1, status=502)  # an HTML error page from a proxy: still a 5xx
    assert (await client.get("/echo")).attempts == 2


async def test_status_errors(
    sandbox: DemoSandbox, make_client: Callable[..., ProviderClient]
) -> None:
    client = make_client()
    with pytest.raises(e.FatalRequestError) as info:
        await client.get("/v1/things/missing")
    assert info.value.status == 404
    assert info.value.provider_code == "not_found"
    assert info.value.provider_message == "no such thing"
    with pytest.raises(e.FatalConfigError):
        await client.get("/status/403")
    assert len(sandbox.requests_to("/status/403")) == 1


async def test_redirects_only_when_allowed(make_client: Callable[..., ProviderClient]) -> None:
    with pytest.raises(e.FatalConfigError) as info:
        await make_client().get("/moved")
    assert info.value.status == 302
    resp = await make_client(follow_redirects=True).get("/moved")
    assert resp.data["path"] == "/echo"


async def test_requests_that_cannot_be_built_or_sent_are_fatal(
    sandbox: DemoSandbox, make_client: Callable[..., ProviderClient]
) -> None:
    client = make_client()
    with pytest.raises(e.FatalRequestError):
        await client.post("/echo", json={"when": object()}, idempotency_key="k")
    with pytest.raises(e.FatalRequestError):
        await client.get("/echo", headers={"X-Bad": "a\nb"})
    with pytest.raises(e.FatalConfigError):
        await make_client(follow_redirects=True, max_redirects=0).get("/moved")
    assert sandbox.requests_to("/echo") == []


def ok_false_rule(view: ResponseView) -> Resolution | None:
    body = view.body
    if view.status == 200 and isinstance(body, dict) and body.get("ok") is False:
        code = str(body.get("error"))
        action = Action.RATE_LIMITED if code == "ratelimited" else Action.FATAL_REQUEST
        return Resolution(action, provider_code=code, retry_after=0.0)
    return None


async def test_connector_mapping_applies_over_the_wire(
    sandbox: DemoSandbox, make_client: Callable[..., ProviderClient]
) -> None:
    client = make_client(errors=ErrorMapping().override(rules=[ok_false_rule]))
    with pytest.raises(e.FatalRequestError) as info:
        await client.post("/api/channel_not_found", json={}, idempotency_key="k1")
    assert info.value.provider_code == "channel_not_found"
    assert info.value.attempts == 1
    with pytest.raises(e.RateLimitedError) as limited:
        await client.post("/api/ratelimited", json={}, idempotency_key="k2")
    assert limited.value.attempts == 4  # retried up to the policy's attempts
    assert info.value.to_error_info().code == "fatal_request"
