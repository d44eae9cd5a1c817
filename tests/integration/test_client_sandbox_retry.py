"""The provider client over real sockets against the demo sandbox (no Kafka):
what is retried (5xx, a cut connection, a refused one, a read timeout, a
truncated body, Retry-After) and what is not (a POST without a key)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from prometheus_client import CollectorRegistry

from core import errors as e
from core.client import ClientPolicy, ProviderClient, guard_attempts
from core.observability import Metrics
from core.ratelimit import BudgetRegistry
from core.retry import RetryPolicy
from core.testing import DemoSandbox
from tests.fakeclock import FakeClock
from tests.integration import client_sandbox_support as support

# the shared fixtures (make_client needs the other three), bound here so pytest finds them
sandbox, registry = support.sandbox, support.registry
breaker_clock, make_client = support.breaker_clock, support.make_client


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


async def test_the_attempt_guard_runs_before_every_try_and_a_refusal_sends_nothing(
    sandbox: DemoSandbox, make_client: Callable[..., ProviderClient], registry: CollectorRegistry
) -> None:
    client = make_client()
    checks: list[int] = []

    class Lost(Exception):
        pass

    async def check() -> None:
        checks.append(len(sandbox.requests_to("/echo")))
        if len(checks) == 3:
            raise Lost("no longer ours")

    sandbox.fail_next(5, status=503)
    with guard_attempts(check), pytest.raises(Lost):
        await client.get("/echo")
    # checked before each of the three tries; the third was refused, unsent and not retried
    assert checks == [0, 1, 2]
    assert len(sandbox.requests_to("/echo")) == 2
    labels = {"connector": "demo", "method": "GET"}
    assert (
        registry.get_sample_value("switchboard_http_requests_total", {**labels, "status": "503"})
        == 2
    )
    assert (
        registry.get_sample_value("switchboard_http_requests_total", {**labels, "status": "unsent"})
        is None
    )
