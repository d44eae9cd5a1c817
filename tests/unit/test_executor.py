"""The command executor's steps without Kafka: decode, validate with the
connector in hand, encode once, and build the one Result."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
import pytest

import connectors
from core import errors as e
from core.apicall import ApiCall, CallResult, ClientSetup, execute
from core.client import ClientPolicy, ProviderClient
from core.encoding import FORM_CONTENT_TYPE, encode_body, form_encode
from core.envelopes import Command, Timings
from core.executor import CommandExecutor, InvalidCommand, decode_command, validate_params
from core.outcomes import CommandExpired, command_result, failure_reason
from core.retry import RetryPolicy
from streams.sink._ledger import Ledger

STRIPE = connectors.get("stripe")
CustomersCreate = STRIPE.commands["customers.create"].__base__
CREATE = "stripe.customers.create"


def test_validates_with_the_connector_in_hand() -> None:
    params = validate_params(STRIPE, CREATE, {"email": "a@example.com"})
    assert type(params) is CustomersCreate  # today's shape: the hand-written model
    with pytest.raises(InvalidCommand, match=r"stripe.customers.create: params.email"):
        validate_params(STRIPE, CREATE, {"email": 5, "name": "x"})
    with pytest.raises(InvalidCommand, match="must be a JSON object, got list"):
        validate_params(STRIPE, CREATE, [])  # type: ignore[arg-type]
    other = STRIPE.commands["customers.update"].model_validate({"customer": "cus_1"})
    with pytest.raises(InvalidCommand, match="must be a CustomersCreate, got a CustomersUpdate"):
        validate_params(STRIPE, CREATE, other)


def test_an_unknown_type_lists_this_connectors_types() -> None:
    with pytest.raises(InvalidCommand) as info:
        validate_params(STRIPE, "stripe.customers.explode", {})
    assert "unknown command type 'stripe.customers.explode'" in str(info.value)
    assert CREATE in str(info.value)
    assert "github." not in str(info.value)
    with pytest.raises(InvalidCommand, match=r"unknown command type 'github\.issues\.create'"):
        validate_params(STRIPE, "github.issues.create", {})


def test_decode_refuses_what_is_not_this_connectors_command() -> None:
    with pytest.raises(InvalidCommand, match="not a Command"):
        decode_command(STRIPE, b"{nope")
    other = Command(type="github.issues.create", params={}).to_json()
    with pytest.raises(InvalidCommand, match=r"sent to t\.commands, the topic of stripe"):
        decode_command(STRIPE, other, where="t.commands")
    command, params = decode_command(
        STRIPE, Command(type=CREATE, params={"email": "a@example.com"}).to_json()
    )
    assert command.type == CREATE
    assert params.model_dump(exclude_unset=True) == {"email": "a@example.com"}


def test_every_body_is_encoded_once_by_the_client() -> None:
    nested = {"email": "a@example.com", "metadata": {"k": "v"}, "items": [{"price": "p"}]}
    content, kind = encode_body(data=nested)
    assert (content, kind) == (urlencode(form_encode(nested)).encode(), FORM_CONTENT_TYPE)
    assert encode_body(data=form_encode(nested)) == (content, kind)  # pairs are taken as given
    assert encode_body(data=[]) == (b"", FORM_CONTENT_TYPE)
    assert encode_body(json={"a": [1]}) == (orjson.dumps({"a": [1]}), "application/json")
    assert encode_body(content=b"raw") == (b"raw", None)


async def test_execute_sends_what_the_call_describes() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True})

    policy = ClientPolicy(
        connector="t", base_url="https://t.example", retry=RetryPolicy(attempts=1)
    )
    async with ProviderClient(policy, transport=httpx.MockTransport(answer)) as client:
        form = {"metadata": {"k": "v"}, "flag": True}
        await execute(client, ApiCall("POST", "/f", "form", form))
        await execute(client, ApiCall("DELETE", "/q", "query", [("now", True)], params={"a": "b"}))
        done = await execute(client, ApiCall("POST", "/j", "json", {"x": 1}))
    assert seen[0].content == b"metadata%5Bk%5D=v&flag=true"
    assert seen[0].headers["content-type"] == FORM_CONTENT_TYPE
    assert (seen[1].url.path, seen[1].url.query, seen[1].content) == ("/q", b"a=b&now=true", b"")
    assert orjson.loads(seen[2].content) == {"x": 1}
    assert (done.status, done.data) == (200, {"ok": True})


async def test_an_executor_holds_its_graphql_clients() -> None:
    setup = ClientSetup(ClientPolicy(connector="t", base_url="https://t.example"))
    async with CommandExecutor(STRIPE, None, setup=setup) as executor:
        first = executor.graphql.at("/graphql", 10.0)
        assert executor.graphql.at("/graphql", 10.0) is first
        assert first.client is executor.client
        assert executor.graphql.at("/other", 10.0) is not first


def test_one_result_builder_for_every_outcome() -> None:
    timings = Timings()
    ok = command_result("c1", CREATE, timings, CallResult(201, {"id": "cus_1"}, 2, "req_1"))
    assert (ok.status, ok.http_status, ok.attempts, ok.response) == (
        "succeeded",
        201,
        2,
        {"id": "cus_1"},
    )
    refused = e.FatalRequestError("no such customer", status=404)
    failed = command_result("c1", CREATE, timings, refused, failure_reason(refused))
    assert failed.error is not None
    assert (failed.status, failed.http_status) == ("failed", 404)
    assert failed.error.code == "fatal_request"
    expired = command_result("c1", CREATE, timings, CommandExpired("expired at t; not sent"))
    assert expired.error is not None
    assert expired.error.code == "expired"
    bug = command_result("c1", CREATE, timings, RuntimeError("boom"), "internal_error")
    assert bug.error is not None
    assert (bug.error.code, bug.error.message, bug.attempts) == ("internal_error", "boom", 0)


@pytest.mark.parametrize(
    ("ledger", "idempotency", "verdict"),
    [
        ({}, "ledger", "run"),
        ({"answered": {"c1": {7}}}, "key", "redelivered"),
        ({"answered": {"c1": {3}}, "succeeded": {"c1"}}, "key", "duplicate"),
        ({"started": {"c1": {7}}}, "ledger", "outcome_unknown"),
        ({"started": {"c1": {7}}}, "key", "run"),  # a key provider answers from its own record
        ({"started": {"c1": {6}}}, "ledger", "run"),  # another delivery of the id
        ({"answered": {"c1": {7}}, "started": {"c1": {7}}}, "ledger", "redelivered"),
    ],
)
def test_the_ledger_has_one_verdict_per_record(
    ledger: dict[str, Any], idempotency: Any, verdict: str
) -> None:
    known = Ledger()
    for command_id, offsets in ledger.get("started", {}).items():
        for offset in offsets:
            known.add_marker(command_id, offset, "started")
    for command_id, offsets in ledger.get("answered", {}).items():
        for offset in offsets:
            status = "succeeded" if command_id in ledger.get("succeeded", ()) else "failed"
            known.add_result(command_id, offset, status)
    assert known.verdict("c1", 7, idempotency) == verdict
