"""Every command type: good params validate, bad ones fail naming the field,
and each builds the request its provider expects (no I/O)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

import connectors
from connectors.generic import GenericSettings
from connectors.shopify import ShopifySettings
from connectors.twilio import TwilioSettings
from core.apicall import ApiCall, CallContext
from core.catalog import ParamsError
from core.connector import Connector
from core.errors import FatalConfigError, FatalRequestError

SID = "AC" + "0" * 32
SETTINGS: dict[str, Any] = {
    "twilio": TwilioSettings(account_sid=SID),
    "shopify": ShopifySettings(api_version="2025-04"),
    "generic": GenericSettings(
        templates={
            "note": {
                "method": "POST",
                "url": "/orders/{order}/notes",
                "body": {"text": "{text}", "qty": "{qty}"},
            }
        }
    ),
}
MAIL = {
    "personalizations": [{"to": [{"email": "a@example.com"}]}],
    "from": {"email": "b@example.com", "name": "B"},
    "subject": "s",
    "content": [{"type": "text/plain", "value": "v"}],
}

# type, params, method, path, body kind, expected body (or None to skip)
GOOD: list[tuple[str, dict[str, Any], str, str, str, Any]] = [
    (
        "stripe.customers.create",
        {"email": "a@example.com", "metadata": {"k": "v"}},
        "POST",
        "/v1/customers",
        "form",
        [("email", "a@example.com"), ("metadata[k]", "v")],
    ),
    (
        "stripe.customers.update",
        {"customer": "cus_1", "name": "N"},
        "POST",
        "/v1/customers/cus_1",
        "form",
        [("name", "N")],
    ),
    (
        "stripe.payment_intents.create",
        {"amount": 500, "currency": "eur", "confirm": True},
        "POST",
        "/v1/payment_intents",
        "form",
        [("amount", "500"), ("currency", "eur"), ("confirm", "true")],
    ),
    (
        "stripe.payment_intents.confirm",
        {"payment_intent": "pi_1", "payment_method": "pm_x"},
        "POST",
        "/v1/payment_intents/pi_1/confirm",
        "form",
        [("payment_method", "pm_x")],
    ),
    (
        "stripe.payment_intents.capture",
        {"payment_intent": "pi_1"},
        "POST",
        "/v1/payment_intents/pi_1/capture",
        "form",
        [],
    ),
    (
        "stripe.refunds.create",
        {"payment_intent": "pi_1", "amount": 100},
        "POST",
        "/v1/refunds",
        "form",
        [("payment_intent", "pi_1"), ("amount", "100")],
    ),
    (
        "stripe.subscriptions.create",
        {"customer": "cus_1", "items": [{"price": "price_a", "quantity": 3}]},
        "POST",
        "/v1/subscriptions",
        "form",
        [("customer", "cus_1"), ("items[0][price]", "price_a"), ("items[0][quantity]", "3")],
    ),
    (
        "stripe.subscriptions.update",
        {"subscription": "sub_1", "items": [{"id": "si_1", "deleted": True}]},
        "POST",
        "/v1/subscriptions/sub_1",
        "form",
        [("items[0][id]", "si_1"), ("items[0][deleted]", "true")],
    ),
    (
        "stripe.subscriptions.cancel",
        {"subscription": "sub_1", "invoice_now": True},
        "DELETE",
        "/v1/subscriptions/sub_1",
        "query",
        [("invoice_now", "true")],
    ),
    (
        "github.issues.create",
        {"owner": "o", "repo": "r", "title": "T", "labels": ["bug"]},
        "POST",
        "/repos/o/r/issues",
        "json",
        # the command id's hidden marker, for the lookup after a crash
        {
            "title": "T",
            "labels": ["bug"],
            "assignees": [],
            "body": "<!-- switchboard:command-id=cmd-1 -->",
        },
    ),
    (
        "github.issues.comment",
        {"owner": "o", "repo": "r", "issue_number": 7, "body": "hi"},
        "POST",
        "/repos/o/r/issues/7/comments",
        "json",
        {"body": "hi\n\n<!-- switchboard:command-id=cmd-1 -->"},
    ),
    (
        "github.issues.add_labels",
        {"owner": "o", "repo": "r", "issue_number": 7, "labels": ["a"]},
        "POST",
        "/repos/o/r/issues/7/labels",
        "json",
        {"labels": ["a"]},
    ),
    (
        "slack.chat.post_message",
        {"channel": "C1", "text": "hi", "thread_ts": "1.2"},
        "POST",
        "/chat.postMessage",
        "json",
        {
            "channel": "C1",
            "text": "hi",
            "thread_ts": "1.2",
            "metadata": {
                "event_type": "switchboard_command",
                "event_payload": {"command_id": "cmd-1"},
            },
        },
    ),
    (
        "slack.chat.update",
        {"channel": "C1", "ts": "1.2", "text": "x"},
        "POST",
        "/chat.update",
        "json",
        {"channel": "C1", "text": "x", "ts": "1.2"},
    ),
    (
        "twilio.messages.create",
        {
            "to": "+15550001111",
            "from": "+15550002222",
            "body": "b",
            "media_url": ["https://m/1", "https://m/2"],
        },
        "POST",
        f"/2010-04-01/Accounts/{SID}/Messages.json",
        "form",
        [
            ("To", "+15550001111"),
            ("From", "+15550002222"),
            ("Body", "b"),
            ("MediaUrl", "https://m/1"),
            ("MediaUrl", "https://m/2"),
        ],
    ),
    ("sendgrid.mail.send", MAIL, "POST", "/v3/mail/send", "json", MAIL),
    (
        "shopify.customers.create",
        {"email": "a@example.com", "first_name": "A"},
        "POST",
        "/admin/api/2025-04/graphql.json",
        "graphql",
        None,
    ),
    (
        "shopify.graphql.mutation",
        {"query": "mutation { x }", "variables": {"a": 1}},
        "POST",
        "/admin/api/2025-04/graphql.json",
        "graphql",
        {"query": "mutation { x }", "variables": {"a": 1}},
    ),
    (
        "generic.request",
        {"template": "note", "values": {"order": "a/b", "text": "t", "qty": 2}},
        "POST",
        "/orders/a%2Fb/notes",
        "json",
        {"text": "t", "qty": 2},
    ),
]

# type, params, a field the error must name
BAD: list[tuple[str, dict[str, Any], str]] = [
    ("stripe.customers.create", {"email": "not-an-email"}, "email"),
    ("stripe.customers.create", {"emial": "a@example.com"}, "emial"),
    ("stripe.customers.update", {"customer": "acct_1"}, "customer"),
    ("stripe.payment_intents.create", {"amount": 0, "currency": "usd"}, "amount"),
    ("stripe.payment_intents.create", {"amount": 100, "currency": "USD"}, "currency"),
    ("stripe.payment_intents.confirm", {}, "payment_intent"),
    (
        "stripe.payment_intents.capture",
        {"payment_intent": "pi_1", "amount_to_capture": -1},
        "amount_to_capture",
    ),
    ("stripe.refunds.create", {"reason": "because"}, "reason"),
    ("stripe.subscriptions.create", {"customer": "cus_1", "items": []}, "items"),
    (
        "stripe.subscriptions.update",
        {"subscription": "sub_1", "items": [{"quantity": -1}]},
        "quantity",
    ),
    ("stripe.subscriptions.cancel", {"subscription": ""}, "subscription"),
    ("github.issues.create", {"owner": "o", "repo": "r", "title": ""}, "title"),
    (
        "github.issues.comment",
        {"owner": "o", "repo": "r", "issue_number": 0, "body": "x"},
        "issue_number",
    ),
    (
        "github.issues.add_labels",
        {"owner": "o", "repo": "r", "issue_number": 1, "labels": []},
        "labels",
    ),
    ("slack.chat.post_message", {"text": "hi"}, "channel"),
    ("slack.chat.update", {"channel": "C1", "ts": "yesterday", "text": "x"}, "ts"),
    ("twilio.messages.create", {"from": "+15550002222", "body": "b"}, "to"),
    (
        "twilio.messages.create",
        {"to": "+1555", "from": "+1555", "body": "b", "media_url": ["x"] * 11},
        "media_url",
    ),
    ("sendgrid.mail.send", {**MAIL, "from": {"email": "nope"}}, "from"),
    ("sendgrid.mail.send", {**MAIL, "personalizations": []}, "personalizations"),
    ("shopify.customers.create", {"email": "a@example.com", "phone": "555"}, "phone"),
    ("shopify.graphql.mutation", {"query": "query { shop { name } }"}, "query"),
    ("generic.request", {"values": {}}, "template"),
]

# Rules spanning fields: the message says what is wrong.
BAD_RULES: list[tuple[str, dict[str, Any], str]] = [
    ("stripe.refunds.create", {"amount": 5}, "payment_intent or charge"),
    (
        "stripe.subscriptions.create",
        {"customer": "cus_1", "items": [{"quantity": 1}]},
        "items[0].price",
    ),
    ("slack.chat.post_message", {"channel": "C1"}, "text, blocks or attachments"),
    (
        "twilio.messages.create",
        {"to": "+15550001111", "body": "b"},
        "from or messaging_service_sid",
    ),
    ("sendgrid.mail.send", {**MAIL, "content": None}, "content or template_id"),
    ("shopify.customers.create", {"first_name": "A"}, "email or phone"),
]


def hand_written(c: Connector) -> list[str]:
    return [f"{c.name}.{n}" for n in getattr(c.commands, "hand_written", c.commands)]


def build(command_type: str, params: dict[str, Any], command_id: str = "cmd-1") -> ApiCall:
    connector, model = connectors.command_model(command_type)
    return model.model_validate(params).api_call(
        CallContext(command_id, SETTINGS.get(connector.name, connector.settings()))
    )


def test_every_hand_written_command_is_covered() -> None:
    # (the described operations: test_catalog_fidelity)
    registered = {t for c in connectors.registry().values() for t in hand_written(c)}
    assert registered == {t for t, *_ in GOOD}
    assert registered <= {t for t, *_ in BAD}


@pytest.mark.parametrize(("command_type", "params", "method", "path", "kind", "body"), GOOD)
def test_builds_the_provider_request(
    command_type: str, params: dict[str, Any], method: str, path: str, kind: str, body: Any
) -> None:
    call = build(command_type, params)
    assert (call.method, call.path, call.body_kind) == (method, path, kind)
    if body is not None:
        assert call.body == body
    assert call.idempotency_key is None  # added by ClientSetup.prepare, per provider


@pytest.mark.parametrize(("command_type", "params", "field"), BAD)
def test_rejects_bad_params_naming_the_field(
    command_type: str, params: dict[str, Any], field: str
) -> None:
    _, model = connectors.command_model(command_type)
    with pytest.raises((ValidationError, ParamsError)) as info:
        model.model_validate(params)
    error = info.value
    if isinstance(error, ParamsError):  # a name only the description knows judged it
        assert error.path.split(".")[-1] == field, error
    else:
        assert isinstance(error, ValidationError)
        errors = error.errors()
        assert any(field in [str(p) for p in err["loc"]] for err in errors), error


@pytest.mark.parametrize(("command_type", "params", "text"), BAD_RULES)
def test_rejects_cross_field_rules(command_type: str, params: dict[str, Any], text: str) -> None:
    _, model = connectors.command_model(command_type)
    with pytest.raises(ValidationError, match=text.replace("[", r"\[").replace("]", r"\]")):
        model.model_validate(params)


def test_round_trip_through_command_envelope_keeps_aliases() -> None:
    # build_command dumps params (by alias) into the envelope; the sink re-validates them.
    from streams.commands import build_command

    cmd = build_command(
        "twilio.messages.create", {"to": "+15550001111", "from": "+15550002222", "body": "b"}
    )
    assert cmd.params["from"] == "+15550002222"
    _, model = connectors.command_model(cmd.type)
    assert model.model_validate(cmd.params).api_call(CallContext(cmd.id, SETTINGS["twilio"])).body[
        1
    ] == ("From", "+15550002222")
    cmd = build_command("sendgrid.mail.send", MAIL)
    assert cmd.params["from"] == MAIL["from"]


def test_shopify_customer_create_document_and_variables() -> None:
    call = build(
        "shopify.customers.create", {"email": "a@example.com", "first_name": "A", "tags": ["x"]}
    )
    assert call.body["query"].lstrip().startswith("mutation customerCreate")
    assert call.body["variables"] == {
        "input": {"email": "a@example.com", "firstName": "A", "tags": ["x"]}
    }


def test_build_errors_are_fatal_before_sending() -> None:
    with pytest.raises(FatalConfigError, match="account_sid"):
        connectors.get("twilio").commands["messages.create"].model_validate(
            {"to": "+15550001111", "from": "+15550002222", "body": "b"}
        ).api_call(CallContext("c", TwilioSettings()))
    with pytest.raises(FatalRequestError, match="unknown request template"):
        build("generic.request", {"template": "missing"})
    with pytest.raises(FatalRequestError, match="no value"):
        build("generic.request", {"template": "note", "values": {"order": 1}})
