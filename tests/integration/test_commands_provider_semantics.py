"""Provider semantics the sink relies on, through the real command path
against the sandboxes: Stripe's idempotency keys, Slack's ``ok: false``,
Shopify's cost-based throttle, and the sandbox test API every sink test uses
(side effects per command id, outages, refusals, rate headers)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

import connectors
from connectors.github import GitHubSettings
from connectors.github._sandbox import GitHubSandbox
from connectors.shopify import ShopifySettings
from connectors.shopify._sandbox import ShopifySandbox
from connectors.slack import SlackSettings
from core import errors as e
from core.apicall import COMMAND_ID_HEADER
from core.testing.commands import CommandRunner
from tests.fakeclock import FakeClock
from tests.waiting import eventually


@pytest.fixture
async def github() -> AsyncIterator[tuple[Any, CommandRunner]]:
    connector = connectors.get("github")
    async with connector.new_sandbox() as sb:
        section = GitHubSettings(token="ghp_sandbox", base_url=sb.url, rate=1000)
        async with CommandRunner(connector, section) as runner:
            yield sb, runner


ISSUE = {"owner": "octo", "repo": "demo", "title": "t"}


# --- Stripe idempotency ------------------------------------------------------------


async def test_stripe_same_key_different_body_is_fatal_and_sent_once(
    stripe_commands: tuple[Any, CommandRunner],
) -> None:
    sb, r = stripe_commands
    await r.run("customers.create", {"email": "a@example.com"}, "k-1")
    with pytest.raises(e.FatalRequestError) as info:
        await r.run("customers.create", {"email": "b@example.com"}, "k-1")
    assert info.value.status == 400
    assert info.value.provider_code == "idempotency_error"
    assert info.value.attempts == 1
    assert [q.outcome for q in sb.requests_to("/v1/customers")] == ["handled", "handled"]
    assert sb.side_effects("k-1") == 1
    assert len(sb.customers) == 1


async def test_stripe_same_key_same_body_replays_without_a_new_side_effect(
    stripe_commands: tuple[Any, CommandRunner],
) -> None:
    sb, r = stripe_commands
    first = await r.run("payment_intents.create", {"amount": 900, "currency": "usd"}, "k-2")
    again = await r.run("payment_intents.create", {"amount": 900, "currency": "usd"}, "k-2")
    assert again.data == first.data
    assert sb.requests[-1].outcome == "replayed"
    assert sb.side_effects("k-2") == 1
    assert sb.total_side_effects() == 1


async def test_stripe_concurrent_same_key_is_409(
    stripe_commands: tuple[Any, CommandRunner],
) -> None:
    sb, r = stripe_commands
    sb.hold()
    first = asyncio.create_task(r.run("customers.create", {"email": "a@example.com"}, "k-3"))
    # claimed, waiting before its handler
    await eventually(lambda: sb.side_effects("k-3"), 5, what="the first request claiming k-3")
    headers = {"Authorization": "Bearer sk_test_sandbox", "Idempotency-Key": "k-3"}
    async with httpx.AsyncClient(base_url=sb.url) as raw:
        concurrent = await raw.post(
            "/v1/customers", data={"email": "a@example.com"}, headers=headers
        )
    assert concurrent.status_code == 409
    assert concurrent.json()["error"]["type"] == "idempotency_error"
    sb.release()
    assert (await first).status == 200
    assert sb.side_effects("k-3") == 1


async def test_stripe_refused_request_releases_its_key(
    stripe_commands: tuple[Any, CommandRunner],
) -> None:
    # Stripe saves no result when a request fails validation: after a fix,
    # the same command id (a DLQ replay) goes through.
    sb, r = stripe_commands
    with pytest.raises(e.FatalRequestError) as invalid:
        await r.run("payment_intents.create", {"amount": 10, "currency": "usd"}, "k-4")
    assert invalid.value.provider_code == "amount_too_small"
    assert sb.side_effects("k-4") == 0
    fixed = await r.run("payment_intents.create", {"amount": 100, "currency": "usd"}, "k-4")
    assert fixed.data["amount"] == 100
    assert sb.side_effects("k-4") == 1


async def test_stripe_cancel_redelivered_counts_once(
    stripe_commands: tuple[Any, CommandRunner],
) -> None:
    sb, r = stripe_commands
    cus = await r.run("customers.create", {"email": "a@example.com"})
    sub = await r.run(
        "subscriptions.create", {"customer": cus.data["id"], "items": [{"price": "price_a"}]}
    )
    for _ in range(2):
        done = await r.run("subscriptions.cancel", {"subscription": sub.data["id"]}, "k-5")
        assert done.data["status"] == "canceled"
    assert sb.side_effects("k-5") == 1


# --- Slack ok:false ------------------------------------------------------------------


async def test_slack_http_200_ok_false_is_an_error() -> None:
    connector = connectors.get("slack")
    async with connector.new_sandbox() as sb:
        section = SlackSettings(bot_token="xoxb-sandbox", base_url=sb.url, rate=1000)
        async with CommandRunner(connector, section) as r:
            with pytest.raises(e.FatalRequestError) as info:
                await r.run("chat.post_message", {"channel": "C0NOPE", "text": "x"}, "s-1")
    assert info.value.status == 200
    assert info.value.provider_code == "channel_not_found"
    assert info.value.attempts == 1
    assert sb.side_effects("s-1") == 0
    assert sb.messages == {}


# --- Shopify cost-based throttle -------------------------------------------------------


async def test_shopify_waits_for_its_points_instead_of_being_throttled() -> None:
    # The sandbox and the client share a clock that moves only when the
    # client sleeps: every wait is the client's own, computed from the
    # throttleStatus Shopify reported.
    clock = FakeClock()
    connector = connectors.get("shopify")
    sandbox = ShopifySandbox(maximum=30.0, restore_rate=10.0, cost=10.0, clock=clock)
    async with sandbox as sb:
        section = ShopifySettings(
            access_token="shpat_sandbox", base_url=sb.url, rate=1000, default_cost=10
        )
        async with CommandRunner(connector, section, sleep=clock.sleep, clock=clock) as r:
            for i in range(6):
                done = await r.run("customers.create", {"email": f"c{i}@example.com"}, f"sh-{i}")
                assert done.attempts == 1
    assert sb.throttled == 0
    assert [sb.side_effects(f"sh-{i}") for i in range(6)] == [1] * 6
    # 30 points for 3 mutations; each further one waited cost / restore_rate = 1 s.
    point_waits = [s for s in clock.sleeps if s > 0.5]
    assert point_waits == pytest.approx([1.0, 1.0, 1.0], abs=0.01)


# --- the sandbox test API the sink tests use -------------------------------------------


async def test_outage_for_a_while_then_recovery() -> None:
    # One clock for the sandbox's outage and the client's budget: the
    # Retry-After wait moves it, the test moves it past the outage.
    clock = FakeClock()
    connector = connectors.get("github")
    async with GitHubSandbox(clock=clock) as sb:
        section = GitHubSettings(token="ghp_sandbox", base_url=sb.url, rate=1000)
        async with CommandRunner(connector, section, sleep=clock.sleep, clock=clock) as r:
            sb.outage(503, seconds=30, retry_after=5)
            for cid in ("o-1", "o-2"):
                with pytest.raises(e.ServerError) as info:
                    await r.run("issues.create", ISSUE, cid)
                assert info.value.status == 503
            assert clock.now < 1030
            clock.now = 1030
            assert (await r.run("issues.create", ISSUE, "o-3")).status == 201
    assert [q.outcome for q in sb.requests] == ["status", "status", "handled"]
    assert sb.side_effect_counts() == {"o-3": 1}
    assert sb.total_side_effects() == 1


async def test_outage_until_removed_retried_by_key_provider(
    stripe_commands: tuple[Any, CommandRunner],
) -> None:
    sb, r = stripe_commands
    fault = sb.outage(503, path="/v1/customers")
    with pytest.raises(e.ServerError) as info:
        await r.run("customers.create", {"email": "a@example.com"}, "o-4")
    assert info.value.attempts > 1  # the key makes the retries safe
    assert sb.side_effects("o-4") == 0
    assert sb.remove_fault(fault)
    assert (await r.run("customers.create", {"email": "a@example.com"}, "o-4")).status == 200
    assert sb.side_effects("o-4") == 1


async def test_refuse_resets_connections_and_nothing_happens(
    github: tuple[Any, CommandRunner],
) -> None:
    sb, r = github
    sb.refuse()
    with pytest.raises(e.NetworkError):
        await r.run("issues.create", ISSUE, "r-1")
    assert sb.total_side_effects() == 0
    sb.clear_faults()
    assert (await r.run("issues.create", ISSUE, "r-1")).status == 201
    assert sb.side_effects("r-1") == 1


async def test_control_surface_over_http(github: tuple[Any, CommandRunner]) -> None:
    sb, r = github
    async with httpx.AsyncClient(base_url=sb.url) as control:
        added = await control.post(
            "/_sandbox/faults",
            json={"kind": "status", "status": 503, "count": None, "duration": 60},
        )
        assert added.status_code == 201
        assert added.json()["expires_at"] is not None
        with pytest.raises(e.ServerError):
            await r.run("issues.create", ISSUE, "h-1")
        await control.delete("/_sandbox/faults")
        await r.run("issues.create", ISSUE, "h-1")
        counts = (await control.get("/_sandbox/side_effects")).json()
        bad = await control.post("/_sandbox/faults", json={"kind": "status", "duration": 0})
    assert counts == {"total": 1, "by_id": {"h-1": 1}}
    assert bad.status_code == 400
    assert "duration" in bad.text


COMMAND_PATHS = {
    "stripe": "/v1/customers",
    "github": "/repos/octo/demo/issues",
    "slack": "/chat.postMessage",
    "twilio": "/2010-04-01/Accounts/AC1/Messages.json",
    "sendgrid": "/v3/mail/send",
    "shopify": "/admin/api/2025-01/graphql.json",
}


@pytest.mark.parametrize("name", sorted(COMMAND_PATHS))
async def test_every_provider_sandbox_announces_and_enforces_a_rate(name: str) -> None:
    path = COMMAND_PATHS[name]
    async with connectors.get(name).new_sandbox() as sb:
        sb.enforce_rate(1, burst=1)
        async with httpx.AsyncClient(base_url=sb.url) as raw:
            first = await raw.post(path, json={}, headers={COMMAND_ID_HEADER: "x"})
            second = await raw.post(path, json={})
    assert first.headers["X-RateLimit-Limit"] == "1"
    assert first.headers["X-RateLimit-Remaining"] == "0"
    assert second.status_code == 429
    assert int(second.headers["Retry-After"]) >= 1
    assert sb.total_side_effects() == 0  # no credentials: refused, nothing done
