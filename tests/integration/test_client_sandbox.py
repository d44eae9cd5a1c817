"""The provider client over real sockets against the demo sandbox (no Kafka)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

import core.client
from core import errors as e
from core.breaker import BreakerPolicy, BreakerRegistry, BreakerState
from core.classify import Action, ErrorMapping, Resolution, ResponseView
from core.client import USER_AGENT, ClientPolicy, ProviderClient
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
    }


async def test_user_agent_and_json(make_client: Callable[..., ProviderClient]) -> None:
    client = make_client()
    resp = await client.post("/echo", json={"a": 1}, idempotency_key="k1")
    assert resp.status == 200
    assert resp.attempts == 1
    assert resp.data["headers"]["User-Agent"] == USER_AGENT
    assert USER_AGENT.startswith("Switchboard/")
    assert resp.data["headers"]["Idempotency-Key"] == "k1"
    assert resp.data["json"] == {"a": 1}


async def test_get_retried_through_a_5xx_burst(
    sandbox: DemoSandbox, make_client: Callable[..., ProviderClient], registry: CollectorRegistry
) -> None:
    client = make_client()
    sandbox.fail_next(2, status=503)
    resp = await client.get("/echo")
    assert resp.attempts == 3
    assert len(sandbox.requests_to("/echo")) == 3
    labels = {"connector": "demo", "method": "GET"}
    assert (
        registry.get_sample_value("switchboard_http_requests_total", {**labels, "status": "503"})
        == 2
    )
    assert (
        registry.get_sample_value("switchboard_http_requests_total", {**labels, "status": "200"})
        == 1
    )
    assert (
        registry.get_sample_value(
            "switchboard_http_retries_total", {"connector": "demo", "reason": "server_error"}
        )
        == 2
    )
    assert registry.get_sample_value("switchboard_http_request_duration_seconds_count", labels) == 3


async def test_post_without_idempotency_key_is_not_retried(
    sandbox: DemoSandbox, make_client: Callable[..., ProviderClient]
) -> None:
    client = make_client()
    sandbox.fail_next(1, status=503)
    with pytest.raises(e.ServerError) as info:
        await client.post("/v1/things", json={"name": "a"})
    assert info.value.attempts == 1
    assert len(sandbox.requests_to("/v1/things")) == 1
    sandbox.reset_next(1)
    with pytest.raises(e.NetworkError):
        await client.post("/v1/things", json={"name": "b"})
    assert len(sandbox.requests_to("/v1/things")) == 2


async def test_post_with_key_is_retried_and_runs_once(
    sandbox: DemoSandbox, make_client: Callable[..., ProviderClient]
) -> None:
    client = make_client()
    # The handler runs, then the connection is cut: only the key makes a retry safe.
    sandbox.reset_next(1, path="/v1/things", after_handler=True)
    resp = await client.post("/v1/things", json={"name": "a"}, idempotency_key="cmd-1")
    assert resp.status == 201
    assert resp.attempts == 2
    assert sandbox.side_effects("cmd-1") == 1
    assert len(sandbox.things) == 1


async def test_connection_refused_is_retried_even_for_post(sandbox: DemoSandbox) -> None:
    port = int(sandbox.url.rsplit(":", 1)[1])
    await sandbox.stop()
    attempts_seen = []
    client = ProviderClient(
        ClientPolicy(
            connector="demo",
            base_url=f"http://127.0.0.1:{port}",
            retry=RetryPolicy(backoff=False, attempts=3),
            breaker=None,
        ),
        budgets=BudgetRegistry(),
        sleep=FakeClock().sleep,  # retries wait no real time
    )
    async with client:
        with pytest.raises(e.NetworkError) as info:
            await client.post("/v1/things", json={})
        attempts_seen.append(info.value.attempts)
    assert attempts_seen == [3]
    assert info.value.sent is False


async def test_read_timeout_is_a_network_error_and_retried(
    sandbox: DemoSandbox, make_client: Callable[..., ProviderClient]
) -> None:
    client = make_client(timeouts={"read": 0.2})
    sandbox.hang_next(1, seconds=5)
    resp = await client.get("/echo")
    assert resp.attempts == 2


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


async def test_truncated_body_is_retried(
    sandbox: DemoSandbox, make_client: Callable[..., ProviderClient]
) -> None:
    client = make_client()
    sandbox.truncate_next(1)
    resp = await client.get("/echo")
    assert resp.attempts == 2
    sandbox.truncate_next(10)
    with pytest.raises(e.TruncatedResponseError):
        await client.get("/echo")


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


async def test_breaker_opens_and_recovers(
    sandbox: DemoSandbox, make_client: Callable[..., ProviderClient], breaker_clock: FakeClock
) -> None:
    client = make_client(
        retry=RetryPolicy(attempts=1),
        breaker=BreakerPolicy(consecutive_failures=3, open_for=10, half_open_probes=1),
    )
    for _ in range(20):  # the request's fault never opens the breaker
        with pytest.raises(e.FatalRequestError):
            await client.get("/status/404")
    sandbox.fail_next(3, status=503)
    for _ in range(3):
        with pytest.raises(e.ServerError):
            await client.get("/echo")
    breaker = client.transport.breaker_for("127.0.0.1")
    assert breaker is not None
    assert breaker.state is BreakerState.OPEN
    sent = len(sandbox.requests)
    with pytest.raises(e.CircuitOpenError) as info:
        await client.get("/echo")
    assert 9 <= info.value.retry_after() <= 10
    assert len(sandbox.requests) == sent  # failed fast: nothing sent
    breaker_clock.now += 10
    assert (await client.get("/echo")).status == 200  # the probe
    assert breaker.state is BreakerState.CLOSED


async def test_open_breaker_is_waited_out_within_the_deadline(
    sandbox: DemoSandbox, breaker_clock: FakeClock
) -> None:
    client = ProviderClient(
        ClientPolicy(
            connector="demo",
            base_url=sandbox.url,
            retry=RetryPolicy(attempts=3, deadline=60),
            breaker=BreakerPolicy(consecutive_failures=1, open_for=5, half_open_probes=1),
        ),
        budgets=BudgetRegistry(),
        breakers=BreakerRegistry(clock=breaker_clock, metrics=Metrics(CollectorRegistry())),
        sleep=breaker_clock.sleep,
        clock=breaker_clock,
    )
    async with client:
        sandbox.fail_next(1, status=500)
        resp = await client.get("/echo")
    assert resp.attempts == 3  # 500, circuit open (wait ~5 s), probe succeeds
    assert 4 <= breaker_clock.sleeps[-1] <= 5


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


async def test_http2_is_an_option(sandbox: DemoSandbox) -> None:
    client = ProviderClient(
        ClientPolicy(connector="demo", base_url=sandbox.url, http2=True),
        budgets=BudgetRegistry(),
        metrics=Metrics(CollectorRegistry()),
    )
    async with client:  # plain-text HTTP/1.1 sandbox: h2 is negotiated over TLS only
        assert (await client.get("/echo")).status == 200


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


async def test_retry_after_on_503_sets_the_delay(sandbox: DemoSandbox) -> None:
    slept: list[float] = []

    async def record(seconds: float) -> None:
        slept.append(seconds)

    client = ProviderClient(
        ClientPolicy(connector="demo", base_url=sandbox.url, retry=RetryPolicy(deadline=60)),
        budgets=BudgetRegistry(),
        metrics=Metrics(CollectorRegistry()),
        sleep=record,
    )
    async with client:
        sandbox.fail_next(1, status=503, retry_after=7)
        assert (await client.get("/echo")).attempts == 2
    assert slept == [7.0]


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
