"""Every connector's commands, run the way the sink runs them (registry ->
params model -> ApiCall -> ProviderClient) against the connector's own
sandbox over real sockets. No Kafka needed. Stripe, GitHub, Shopify and the
generic connector here; the messaging providers (Slack, Twilio, SendGrid) in
test_messaging_sandboxes.py."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

import connectors
from connectors.generic import GenericSettings
from connectors.github import GitHubSettings
from connectors.shopify import ShopifySettings
from connectors.stripe import StripeSettings
from core import errors as e
from core.apicall import (
    COMMAND_ID_HEADER,
)
from core.testing import Sandbox
from core.testing.commands import CommandRunner
from tests.fakeclock import FakeClock
from tests.integration.sandbox_runner import make_runner


@pytest.fixture
async def stripe() -> AsyncIterator[tuple[Sandbox, CommandRunner]]:
    async with connectors.get("stripe").new_sandbox() as sb:
        runner = make_runner(
            "stripe", StripeSettings(api_key="sk_test_sandbox", base_url=sb.url, rate=1000)
        )
        async with runner.client:
            yield sb, runner


async def test_stripe_commands_end_to_end(stripe: tuple[Any, CommandRunner]) -> None:
    sb, r = stripe
    cus = await r.run("customers.create", {"email": "a@example.com", "metadata": {"plan": "pro"}})
    customer = cus.data["id"]
    assert customer.startswith("cus_")
    assert cus.data["metadata"] == {"plan": "pro"}
    upd = await r.run(
        "customers.update", {"customer": customer, "name": "Ada", "metadata": {"plan": ""}}
    )
    assert upd.data["name"] == "Ada"
    assert upd.data["metadata"] == {}
    pi = await r.run(
        "payment_intents.create",
        {
            "amount": 2000,
            "currency": "usd",
            "customer": customer,
            "payment_method": "pm_card_visa",
            "capture_method": "manual",
        },
    )
    assert pi.data["status"] == "requires_confirmation"
    intent = pi.data["id"]
    confirmed = await r.run("payment_intents.confirm", {"payment_intent": intent})
    assert confirmed.data["status"] == "requires_capture"
    captured = await r.run(
        "payment_intents.capture", {"payment_intent": intent, "amount_to_capture": 1500}
    )
    assert captured.data["status"] == "succeeded"
    assert captured.data["amount_received"] == 1500
    refund = await r.run(
        "refunds.create", {"payment_intent": intent, "amount": 500, "reason": "duplicate"}
    )
    assert refund.data["amount"] == 500
    assert refund.data["status"] == "succeeded"
    sub = await r.run(
        "subscriptions.create",
        {
            "customer": customer,
            "items": [{"price": "price_basic", "quantity": 2}],
            "metadata": {"k": "v"},
        },
    )
    assert sub.data["items"]["data"][0]["quantity"] == 2
    item = sub.data["items"]["data"][0]["id"]
    sub_id = sub.data["id"]
    updated = await r.run(
        "subscriptions.update",
        {
            "subscription": sub_id,
            "items": [{"id": item, "price": "price_pro"}],
            "cancel_at_period_end": True,
        },
    )
    assert updated.data["items"]["data"][0]["price"] == "price_pro"
    assert updated.data["cancel_at_period_end"] is True
    canceled = await r.run("subscriptions.cancel", {"subscription": sub_id, "prorate": True})
    assert canceled.data["status"] == "canceled"
    (delete,) = sb.requests_to(f"/v1/subscriptions/{sub_id}", "DELETE")
    assert delete.query_param("prorate") == "true"
    # The bracket encoding reached Stripe as Stripe parses it.
    (create,) = sb.requests_to("/v1/subscriptions", "POST")
    assert b"items%5B0%5D%5Bprice%5D=price_basic" in create.body
    assert create.header("Content-Type") == "application/x-www-form-urlencoded"


async def test_stripe_idempotency_key_is_the_command_id(stripe: tuple[Any, CommandRunner]) -> None:
    sb, r = stripe
    first = await r.run("customers.create", {"email": "a@example.com"}, command_id="cmd-1")
    again = await r.run("customers.create", {"email": "a@example.com"}, command_id="cmd-1")
    assert again.data["id"] == first.data["id"]
    assert sb.side_effects("cmd-1") == 1
    assert len(sb.customers) == 1
    (req, replay) = sb.requests_to("/v1/customers")
    assert req.header("Idempotency-Key") == "cmd-1"
    assert replay.outcome == "replayed"


async def test_stripe_lost_response_is_retried_and_acts_once(
    stripe: tuple[Any, CommandRunner],
) -> None:
    sb, r = stripe
    sb.reset_next(1, path="/v1/customers", after_handler=True)
    result = await r.run("customers.create", {"email": "b@example.com"}, command_id="cmd-lost")
    assert result.attempts == 2
    assert sb.side_effects("cmd-lost") == 1
    assert len(sb.customers) == 1


async def test_stripe_same_key_different_body_is_fatal_not_retried(
    stripe: tuple[Any, CommandRunner],
) -> None:
    sb, r = stripe
    await r.run("customers.create", {"email": "a@example.com"}, command_id="cmd-2")
    with pytest.raises(e.FatalRequestError) as info:
        await r.run("customers.create", {"email": "other@example.com"}, command_id="cmd-2")
    assert info.value.provider_code == "idempotency_error"
    assert info.value.attempts <= 1
    assert len(sb.requests_to("/v1/customers")) == 2
    assert sb.side_effects("cmd-2") == 1


async def test_stripe_validation_and_auth_errors(stripe: tuple[Any, CommandRunner]) -> None:
    sb, r = stripe
    with pytest.raises(e.FatalRequestError) as info:
        await r.run("payment_intents.create", {"amount": 10, "currency": "usd"})
    assert info.value.status == 400
    assert info.value.provider_code == "amount_too_small"
    with pytest.raises(e.FatalRequestError) as missing:
        await r.run("customers.update", {"customer": "cus_nope", "name": "x"})
    assert missing.value.status == 404
    assert missing.value.provider_code == "resource_missing"
    bad = make_runner("stripe", StripeSettings(api_key="sk_test_wrong", base_url=sb.url, rate=1000))
    async with bad.client:
        with pytest.raises(e.FatalConfigError) as auth:
            await bad.run("customers.create", {"email": "a@example.com"}, command_id="cmd-auth")
    assert auth.value.status == 401
    assert "sk_test_wrong" not in str(auth.value)
    # An auth failure claims no key: the same command succeeds with the right key.
    assert sb.side_effects("cmd-auth") == 0
    assert (
        await r.run("customers.create", {"email": "a@example.com"}, command_id="cmd-auth")
    ).status == 200


async def test_stripe_sandbox_rate_headers_and_5xx(stripe: tuple[Any, CommandRunner]) -> None:
    sb, r = stripe
    sb.enforce_rate(1000)
    sb.fail_next(2, status=503, path="/v1/customers")
    result = await r.run("customers.create", {"email": "a@example.com"}, command_id="cmd-5xx")
    assert result.attempts == 3
    assert sb.side_effects("cmd-5xx") == 1
    assert sb.requests_to("/v1/customers")[-1].outcome == "handled"


# --- GitHub ---------------------------------------------------------------------


@pytest.fixture
async def github() -> AsyncIterator[tuple[Any, CommandRunner]]:
    async with connectors.get("github").new_sandbox() as sb:
        runner = make_runner(
            "github", GitHubSettings(token="ghp_sandbox", base_url=sb.url, rate=1000)
        )
        async with runner.client:
            yield sb, runner


async def test_github_commands(github: tuple[Any, CommandRunner]) -> None:
    sb, r = github
    issue = await r.run(
        "issues.create", {"owner": "octo", "repo": "demo", "title": "Bug", "labels": ["bug"]}, "c1"
    )
    assert issue.status == 201
    assert issue.data["number"] == 1
    comment = await r.run(
        "issues.comment", {"owner": "octo", "repo": "demo", "issue_number": 1, "body": "hi"}, "c2"
    )
    assert comment.status == 201
    assert comment.data["body"] == "hi\n\n<!-- switchboard:command-id=c2 -->"
    labels = await r.run(
        "issues.add_labels",
        {"owner": "octo", "repo": "demo", "issue_number": 1, "labels": ["bug", "p1"]},
        "c3",
    )
    assert [x["name"] for x in labels.data] == ["bug", "p1"]
    assert [sb.side_effects(c) for c in ("c1", "c2", "c3")] == [1, 1, 1]
    (req,) = sb.requests_to("/repos/octo/demo/issues")
    assert req.header("Authorization") == "Bearer ghp_sandbox"
    assert req.header(COMMAND_ID_HEADER) == "c1"
    assert req.header("Idempotency-Key") is None


async def test_github_errors(github: tuple[Any, CommandRunner]) -> None:
    sb, r = github
    with pytest.raises(e.FatalRequestError) as invalid:
        await r.run("issues.create", {"owner": "octo", "repo": "demo", "title": "   "})
    assert invalid.value.status == 422
    assert invalid.value.provider_message == "Validation Failed"
    with pytest.raises(e.FatalRequestError) as missing:
        await r.run(
            "issues.comment", {"owner": "octo", "repo": "nope", "issue_number": 1, "body": "x"}
        )
    assert missing.value.status == 404
    bad = make_runner("github", GitHubSettings(token="ghp_wrong", base_url=sb.url, rate=1000))
    async with bad.client:
        with pytest.raises(e.FatalConfigError):
            await bad.run("issues.create", {"owner": "octo", "repo": "demo", "title": "x"})


async def test_github_post_without_key_is_not_retried_after_a_5xx(
    github: tuple[Any, CommandRunner],
) -> None:
    # No idempotency key: a POST that may have reached GitHub is left to the
    # sink (and its ledger), never re-sent by the client.
    sb, r = github
    sb.fail_next(1, status=502)
    with pytest.raises(e.ServerError) as info:
        await r.run("issues.create", {"owner": "octo", "repo": "demo", "title": "x"}, "c9")
    assert info.value.attempts == 1
    assert sb.side_effects("c9") == 0


async def test_github_rate_limit_403_is_rate_limited(github: tuple[Any, CommandRunner]) -> None:
    sb, r = github
    sb.fail_next(1, status=403, path="/repos")
    sb.faults.pending()[0].headers.update({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1"})
    with pytest.raises(e.RateLimitedError):
        await r.run("issues.create", {"owner": "octo", "repo": "demo", "title": "x"})


# --- Shopify ----------------------------------------------------------------------------


@pytest.fixture
async def shopify() -> AsyncIterator[tuple[Any, CommandRunner]]:
    async with connectors.get("shopify").new_sandbox(restore_rate=2000.0) as sb:
        runner = make_runner(
            "shopify", ShopifySettings(access_token="shpat_sandbox", base_url=sb.url, rate=1000)
        )
        async with runner.client:
            yield sb, runner


async def test_shopify_mutations(shopify: tuple[Any, CommandRunner]) -> None:
    sb, r = shopify
    made = await r.run("customers.create", {"email": "a@example.com", "first_name": "Ada"}, "sh1")
    customer = made.data["customerCreate"]["customer"]
    assert customer["firstName"] == "Ada"
    assert sb.side_effects("sh1") == 1
    tags = (
        "mutation tagsAdd($id: ID!, $tags: [String!]!) "
        "{ tagsAdd(id: $id, tags: $tags) { node { id } userErrors { field message } } }"
    )
    tagged = await r.run(
        "graphql.mutation", {"query": tags, "variables": {"id": customer["id"], "tags": ["vip"]}}
    )
    assert tagged.data["tagsAdd"]["node"]["id"] == customer["id"]
    assert sb.customers[customer["id"]]["tags"] == ["vip"]
    (req, _) = sb.requests_to("/admin/api/2025-01/graphql.json")
    assert req.header("X-Shopify-Access-Token") == "shpat_sandbox"


async def test_shopify_user_errors_graphql_errors_and_auth(
    shopify: tuple[Any, CommandRunner],
) -> None:
    sb, r = shopify
    await r.run("customers.create", {"email": "a@example.com"})
    with pytest.raises(e.FatalRequestError) as taken:
        await r.run("customers.create", {"email": "a@example.com"}, "sh2")
    assert taken.value.provider_code == "USER_ERROR"
    assert "taken" in (taken.value.provider_message or "")
    assert sb.side_effects("sh2") == 0
    with pytest.raises(e.GraphQLError):
        await r.run("graphql.mutation", {"query": "mutation { nope(id: 1) { id } }"})
    bad = make_runner(
        "shopify", ShopifySettings(access_token="shpat_wrong", base_url=sb.url, rate=1000)
    )
    async with bad.client:
        with pytest.raises(e.FatalConfigError):
            await bad.run("customers.create", {"email": "b@example.com"})


async def test_shopify_cost_throttle(shopify: tuple[Any, CommandRunner]) -> None:
    sb, r = shopify
    # The sandbox's clock held still: no points come back between emptying the
    # bucket and the request (at 2,000 points/s a few ms of a busy machine did,
    # and the mutation went through).
    sb.clock = FakeClock()
    sb.set_available(0)
    with pytest.raises(e.RateLimitedError) as throttled:
        await r.run("customers.create", {"email": "a@example.com"})
    assert throttled.value.provider_code == "THROTTLED"
    sb.clock = time.monotonic  # time runs again, from the empty bucket
    sb.set_available(0)
    # The throttle status fed the points budget: the next mutation waits for
    # its points (a few ms at this restore rate) instead of being throttled.
    r.client.budget.block_for(0)  # type: ignore[union-attr]
    for i in range(3):
        await r.run("customers.create", {"email": f"c{i}@example.com"})
    assert sb.throttled == 1
    assert len(sb.customers) == 3


# --- Generic ------------------------------------------------------------------------------


@pytest.fixture
async def generic() -> AsyncIterator[tuple[Any, CommandRunner]]:
    async with connectors.get("generic").new_sandbox() as sb:
        section = GenericSettings(
            base_url=sb.url,
            idempotency_header="Idempotency-Key",
            templates={
                "thing": {
                    "url": "/v1/things",
                    "headers": {"X-Trace": "t-{command_id}"},
                    "body": {"name": "{name}", "n": "{n}", "ref": "ref-{command_id}"},
                    "success_codes": [201],
                },
                "echo_strict": {
                    "method": "PUT",
                    "url": "/echo",
                    "body": {"a": 1},
                    "success_codes": [204],
                },
            },
        )
        runner = make_runner("generic", section)
        async with runner.client:
            yield sb, runner


async def test_generic_request_template(generic: tuple[Any, CommandRunner]) -> None:
    sb, r = generic
    sb.reset_next(1, path="/v1/things", after_handler=True)
    made = await r.run("request", {"template": "thing", "values": {"name": "x", "n": [1, 2]}}, "g1")
    assert made.status == 201
    assert made.attempts == 2
    assert made.data["name"] == "x"
    assert made.data["n"] == [1, 2]
    assert made.data["ref"] == "ref-g1"
    assert sb.side_effects("g1") == 1
    assert len(sb.things) == 1
    assert sb.requests_to("/v1/things")[0].header("X-Trace") == "t-g1"
    with pytest.raises(e.FatalRequestError, match="expected one of"):
        await r.run("request", {"template": "echo_strict"})
    with pytest.raises(e.FatalRequestError, match="unknown request template"):
        await r.run("request", {"template": "nope"})
    with pytest.raises(e.FatalRequestError, match="no value"):
        await r.run("request", {"template": "thing", "values": {"name": "x"}})
