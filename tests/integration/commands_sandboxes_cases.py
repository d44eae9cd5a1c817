"""One case per registered command type: its params, what it needs made
first (a customer, an intent, an issue ...), and the request its provider
must receive. A table of data the command sandbox tests run over."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from core.testing.commands import CommandRunner
from tests.integration.commands_sandboxes_support import SID

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
        # the command id (cmd-under-test) carried for the lookup after a crash
        same(
            {
                "title": "Bug",
                "labels": ["bug"],
                "assignees": [],
                "body": "<!-- switchboard:command-id=cmd-under-test -->",
            }
        ),
        status=201,
        check=lambda data, _: data["number"] == 1,
    ),
    "github.issues.comment": Case(
        lambda ids: {"owner": "octo", "repo": "demo", "issue_number": ids["number"], "body": "hi"},
        "POST",
        lambda ids: f"/repos/octo/demo/issues/{ids['number']}/comments",
        "json",
        same({"body": "hi\n\n<!-- switchboard:command-id=cmd-under-test -->"}),
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
        same(
            {
                "channel": "C0SANDBOX",
                "text": "hello",
                "unfurl_links": False,
                "metadata": {
                    "event_type": "switchboard_command",
                    "event_payload": {"command_id": "cmd-under-test"},
                },
            }
        ),
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
