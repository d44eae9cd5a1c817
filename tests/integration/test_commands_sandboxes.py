"""Every registered command type, run as the sink runs it
(:class:`core.testing.commands.CommandRunner` -> ``core.apicall.run_command``)
against its connector's sandbox over real sockets: the request the provider
received (path, encoding, auth, command id, idempotency key) and exactly one
side effect for the command id. No Kafka needed."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import pytest

import connectors
from connectors.generic import GenericSettings
from connectors.github import GitHubSettings
from connectors.sendgrid import SendGridSettings
from connectors.shopify import ShopifySettings
from connectors.slack import SlackSettings
from connectors.stripe import StripeSettings
from connectors.stripe._sandbox import decode_form
from connectors.twilio import TwilioSettings
from core.apicall import COMMAND_ID_HEADER
from core.testing import RecordedRequest
from core.testing.commands import CommandRunner

SID = "AC" + "0" * 32
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"

SECTIONS: dict[str, Callable[[str], Any]] = {
    "stripe": lambda url: StripeSettings(api_key="sk_test_sandbox", base_url=url, rate=1000),
    "github": lambda url: GitHubSettings(token="ghp_sandbox", base_url=url, rate=1000),
    "slack": lambda url: SlackSettings(bot_token="xoxb-sandbox", base_url=url, rate=1000),
    "twilio": lambda url: TwilioSettings(
        account_sid=SID,
        auth_tokens=["twilio-sandbox-token"],
        public_url="https://h.example",
        base_url=url,
        rate=1000,
    ),
    "sendgrid": lambda url: SendGridSettings(api_key="SG.sandbox-key", base_url=url, rate=1000),
    "shopify": lambda url: ShopifySettings(access_token="shpat_sandbox", base_url=url, rate=1000),
    "generic": lambda url: GenericSettings(
        base_url=url,
        auth={"type": "bearer", "token": "generic-token"},
        templates={
            "thing": {
                "url": "/v1/things",
                "headers": {"X-Trace": "t-{command_id}"},
                "body": {"name": "{name}", "tags": "{tags}", "ref": "ref-{command_id}"},
                "success_codes": [201],
            }
        },
    ),
}

AUTH = {
    "stripe": ("Authorization", "Bearer sk_test_sandbox"),
    "github": ("Authorization", "Bearer ghp_sandbox"),
    "slack": ("Authorization", "Bearer xoxb-sandbox"),
    "twilio": (
        "Authorization",
        "Basic " + base64.b64encode(f"{SID}:twilio-sandbox-token".encode()).decode(),
    ),
    "sendgrid": ("Authorization", "Bearer SG.sandbox-key"),
    "shopify": ("X-Shopify-Access-Token", "shpat_sandbox"),
    "generic": ("Authorization", "Bearer generic-token"),
}


@asynccontextmanager
async def provider(name: str) -> AsyncIterator[tuple[Any, CommandRunner]]:
    connector = connectors.get(name)
    assert connector.sandbox is not None
    async with (
        connector.sandbox() as sb,
        CommandRunner(connector, SECTIONS[name](sb.url)) as runner,
    ):
        yield sb, runner


Ids = dict[str, Any]
Prepare = Callable[[CommandRunner], Awaitable[Ids]]


async def nothing(_: CommandRunner) -> Ids:
    return {}


async def customer(r: CommandRunner) -> Ids:
    made = await r.run("customers.create", {"email": "a@example.com"}, "prep-cus")
    return {"customer": made.data["id"]}


async def intent(r: CommandRunner, *, manual: bool = False, confirm: bool = False) -> Ids:
    params: dict[str, Any] = {"amount": 2000, "currency": "usd", "payment_method": "pm_card"}
    if manual:
        params["capture_method"] = "manual"
    made = await r.run("payment_intents.create", params, "prep-pi")
    if confirm:
        await r.run("payment_intents.confirm", {"payment_intent": made.data["id"]}, "prep-conf")
    return {"intent": made.data["id"]}


async def capturable(r: CommandRunner) -> Ids:
    return await intent(r, manual=True, confirm=True)


async def succeeded(r: CommandRunner) -> Ids:
    return await intent(r, confirm=True)


async def subscription(r: CommandRunner) -> Ids:
    ids = await customer(r)
    made = await r.run(
        "subscriptions.create",
        {"customer": ids["customer"], "items": [{"price": "price_basic"}]},
        "prep-sub",
    )
    return {**ids, "sub": made.data["id"], "item": made.data["items"]["data"][0]["id"]}


async def issue(r: CommandRunner) -> Ids:
    made = await r.run("issues.create", {"owner": "octo", "repo": "demo", "title": "t"}, "prep-i")
    return {"number": made.data["number"]}


async def message(r: CommandRunner) -> Ids:
    made = await r.run("chat.post_message", {"channel": "C0SANDBOX", "text": "x"}, "prep-m")
    return {"ts": made.data["ts"]}


TAGS_ADD = (
    "mutation tagsAdd($id: ID!, $tags: [String!]!) "
    "{ tagsAdd(id: $id, tags: $tags) { node { id } userErrors { field message } } }"
)


async def shop_customer(r: CommandRunner) -> Ids:
    made = await r.run("customers.create", {"email": "s@example.com"}, "prep-sc")
    return {"gid": made.data["customerCreate"]["customer"]["id"]}


@dataclass(frozen=True)
class Case:
    """One command: its params and the request the provider must receive.

    ``params``/``path``/``wire`` take the ids ``prepare`` made; ``wire`` is
    the body as the provider parses it (form pairs decoded with Stripe's
    bracket rules, or JSON); ``status`` the success status."""

    params: Callable[[Ids], dict[str, Any]]
    method: str
    path: Callable[[Ids], str]
    encoding: str  # "form", "json" or "query"
    wire: Callable[[Ids], Any]
    status: int = 200
    prepare: Prepare = nothing
    check: Callable[[Any, Ids], bool] = field(default=lambda data, ids: True)


def same(value: Any) -> Callable[[Ids], Any]:
    return lambda _ids: value


CASES: dict[str, Case] = {
    "stripe.customers.create": Case(
        same({"email": "ada@example.com", "name": "Ada", "metadata": {"plan": "pro"}}),
        "POST",
        same("/v1/customers"),
        "form",
        same({"email": "ada@example.com", "name": "Ada", "metadata": {"plan": "pro"}}),
        check=lambda data, _: data["metadata"] == {"plan": "pro"},
    ),
    "stripe.customers.update": Case(
        lambda ids: {"customer": ids["customer"], "name": "Bo", "metadata": {"k": "v"}},
        "POST",
        lambda ids: f"/v1/customers/{ids['customer']}",
        "form",
        same({"name": "Bo", "metadata": {"k": "v"}}),
        prepare=customer,
        check=lambda data, _: data["name"] == "Bo",
    ),
    "stripe.payment_intents.create": Case(
        same(
            {
                "amount": 1999,
                "currency": "eur",
                "payment_method_types": ["card", "sepa_debit"],
                "capture_method": "manual",
                "metadata": {"order": "o-1"},
            }
        ),
        "POST",
        same("/v1/payment_intents"),
        "form",
        same(
            {
                "amount": "1999",
                "currency": "eur",
                "payment_method_types": ["card", "sepa_debit"],
                "capture_method": "manual",
                "metadata": {"order": "o-1"},
            }
        ),
        check=lambda data, _: data["status"] == "requires_payment_method",
    ),
    "stripe.payment_intents.confirm": Case(
        lambda ids: {"payment_intent": ids["intent"], "return_url": "https://r.example/x"},
        "POST",
        lambda ids: f"/v1/payment_intents/{ids['intent']}/confirm",
        "form",
        same({"return_url": "https://r.example/x"}),
        prepare=intent,
        check=lambda data, _: data["status"] == "succeeded",
    ),
    "stripe.payment_intents.capture": Case(
        lambda ids: {"payment_intent": ids["intent"], "amount_to_capture": 1500},
        "POST",
        lambda ids: f"/v1/payment_intents/{ids['intent']}/capture",
        "form",
        same({"amount_to_capture": "1500"}),
        prepare=capturable,
        check=lambda data, _: data["amount_received"] == 1500,
    ),
    "stripe.refunds.create": Case(
        lambda ids: {"payment_intent": ids["intent"], "amount": 500, "reason": "duplicate"},
        "POST",
        same("/v1/refunds"),
        "form",
        lambda ids: {"payment_intent": ids["intent"], "amount": "500", "reason": "duplicate"},
        prepare=succeeded,
        check=lambda data, _: data["amount"] == 500,
    ),
    "stripe.subscriptions.create": Case(
        lambda ids: {
            "customer": ids["customer"],
            "items": [{"price": "price_a", "quantity": 2}, {"price": "price_b"}],
            "cancel_at_period_end": False,
        },
        "POST",
        same("/v1/subscriptions"),
        "form",
        lambda ids: {
            "customer": ids["customer"],
            "items": [{"price": "price_a", "quantity": "2"}, {"price": "price_b"}],
            "cancel_at_period_end": "false",
        },
        prepare=customer,
        check=lambda data, _: len(data["items"]["data"]) == 2,
    ),
    "stripe.subscriptions.update": Case(
        lambda ids: {
            "subscription": ids["sub"],
            "items": [{"id": ids["item"], "price": "price_pro"}],
            "proration_behavior": "none",
        },
        "POST",
        lambda ids: f"/v1/subscriptions/{ids['sub']}",
        "form",
        lambda ids: {
            "items": [{"id": ids["item"], "price": "price_pro"}],
            "proration_behavior": "none",
        },
        prepare=subscription,
        check=lambda data, _: data["items"]["data"][0]["price"] == "price_pro",
    ),
    "stripe.subscriptions.cancel": Case(
        lambda ids: {"subscription": ids["sub"], "invoice_now": True, "prorate": False},
        "DELETE",
        lambda ids: f"/v1/subscriptions/{ids['sub']}",
        "query",
        same({"invoice_now": "true", "prorate": "false"}),
        prepare=subscription,
        check=lambda data, _: data["status"] == "canceled",
    ),
    "github.issues.create": Case(
        same({"owner": "octo", "repo": "demo", "title": "Bug", "labels": ["bug"]}),
        "POST",
        same("/repos/octo/demo/issues"),
        "json",
        same({"title": "Bug", "labels": ["bug"], "assignees": []}),
        status=201,
        check=lambda data, _: data["number"] == 1,
    ),
    "github.issues.comment": Case(
        lambda ids: {"owner": "octo", "repo": "demo", "issue_number": ids["number"], "body": "hi"},
        "POST",
        lambda ids: f"/repos/octo/demo/issues/{ids['number']}/comments",
        "json",
        same({"body": "hi"}),
        status=201,
        prepare=issue,
    ),
    "github.issues.add_labels": Case(
        lambda ids: {
            "owner": "octo",
            "repo": "demo",
            "issue_number": ids["number"],
            "labels": ["p1"],
        },
        "POST",
        lambda ids: f"/repos/octo/demo/issues/{ids['number']}/labels",
        "json",
        same({"labels": ["p1"]}),
        prepare=issue,
        check=lambda data, _: [x["name"] for x in data] == ["p1"],
    ),
    "slack.chat.post_message": Case(
        same({"channel": "C0SANDBOX", "text": "hello", "unfurl_links": False}),
        "POST",
        same("/chat.postMessage"),
        "json",
        same({"channel": "C0SANDBOX", "text": "hello", "unfurl_links": False}),
        check=lambda data, _: data["ok"] is True,
    ),
    "slack.chat.update": Case(
        lambda ids: {"channel": "C0SANDBOX", "ts": ids["ts"], "text": "edited"},
        "POST",
        same("/chat.update"),
        "json",
        lambda ids: {"channel": "C0SANDBOX", "ts": ids["ts"], "text": "edited"},
        prepare=message,
        check=lambda data, _: data["text"] == "edited",
    ),
    "twilio.messages.create": Case(
        same(
            {
                "to": "+15558675310",
                "from": "+15017122661",
                "body": "hi",
                "media_url": ["https://m/1"],
            }
        ),
        "POST",
        same(f"/2010-04-01/Accounts/{SID}/Messages.json"),
        "form",
        same(
            {"To": "+15558675310", "From": "+15017122661", "Body": "hi", "MediaUrl": "https://m/1"}
        ),
        status=201,
        check=lambda data, _: data["sid"].startswith("SM"),
    ),
    "sendgrid.mail.send": Case(
        same(
            {
                "personalizations": [{"to": [{"email": "to@example.com"}]}],
                "from": {"email": "from@example.com", "name": "From"},
                "subject": "Hi",
                "content": [{"type": "text/plain", "value": "Hello"}],
            }
        ),
        "POST",
        same("/v3/mail/send"),
        "json",
        same(
            {
                "personalizations": [{"to": [{"email": "to@example.com"}]}],
                "from": {"email": "from@example.com", "name": "From"},
                "subject": "Hi",
                "content": [{"type": "text/plain", "value": "Hello"}],
            }
        ),
        status=202,
        check=lambda data, _: data["message_id"].startswith("sg-msg-"),
    ),
    "shopify.customers.create": Case(
        same({"email": "ada@example.com", "first_name": "Ada", "tags": ["vip"]}),
        "POST",
        same("/admin/api/2025-01/graphql.json"),
        "json",
        same({"input": {"email": "ada@example.com", "firstName": "Ada", "tags": ["vip"]}}),
        check=lambda data, _: data["customerCreate"]["customer"]["firstName"] == "Ada",
    ),
    "shopify.graphql.mutation": Case(
        lambda ids: {"query": TAGS_ADD, "variables": {"id": ids["gid"], "tags": ["vip"]}},
        "POST",
        same("/admin/api/2025-01/graphql.json"),
        "json",
        lambda ids: {"id": ids["gid"], "tags": ["vip"]},
        prepare=shop_customer,
        check=lambda data, ids: data["tagsAdd"]["node"]["id"] == ids["gid"],
    ),
    "generic.request": Case(
        same({"template": "thing", "values": {"name": "x", "tags": ["a", "b"]}}),
        "POST",
        same("/v1/things"),
        "json",
        same({"name": "x", "tags": ["a", "b"], "ref": "ref-cmd-under-test"}),
        status=201,
        check=lambda data, _: data["ref"] == "ref-cmd-under-test",
    ),
}

COMMAND_ID = "cmd-under-test"


def test_every_registered_command_type_has_a_case() -> None:
    registered = {t for c in connectors.registry().values() for t in c.command_types()}
    assert registered == set(CASES)


def received_body(req: RecordedRequest, case: Case) -> Any:
    if case.encoding == "query":
        assert req.body == b""
        return dict(req.query)
    if case.encoding == "form":
        assert req.header("Content-Type") == FORM
        return decode_form(parse_qsl(req.body.decode(), keep_blank_values=True))
    assert (req.header("Content-Type") or "").startswith(JSON)
    body = req.json()
    return body["variables"] if "query" in body else body


@pytest.mark.parametrize("command_type", sorted(CASES))
async def test_command_reaches_its_provider_once(command_type: str) -> None:
    case = CASES[command_type]
    name, _, command = command_type.partition(".")
    async with provider(name) as (sb, r):
        ids = await case.prepare(r)
        before = sb.total_side_effects()
        result = await r.run(command, case.params(ids), COMMAND_ID)
        assert result.status == case.status
        assert result.attempts == 1
        assert case.check(result.data, ids)
        (req,) = [q for q in sb.requests if q.header(COMMAND_ID_HEADER) == COMMAND_ID]
        assert (req.method, req.path) == (case.method, case.path(ids))
        header, value = AUTH[name]
        assert req.header(header) == value
        assert received_body(req, case) == case.wire(ids)
        assert sb.side_effects(COMMAND_ID) == 1
        assert sb.total_side_effects() == before + 1
        # Key providers get the command id as key (Stripe ignores it on DELETE;
        # its sandbox counts that side effect under the command id instead).
        keyed = r.setup.idempotency == "key"
        assert req.header(r.setup.policy.idempotency_header) == (COMMAND_ID if keyed else None)
