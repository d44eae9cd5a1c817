"""A hand-written command also takes the rest of its described operation:
today's shape keeps today's model and wire, more params go as described,
and the hand-written checks hold in both."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

import connectors
from core.apicall import CallContext
from core.catalog import OperationParams, ParamsError
from core.connector import CommandParams
from streams.cli import cli

SID = "AC" + "0" * 32


def commands(connector: str) -> Any:
    return connectors.get(connector).commands


def context(connector: str, **settings: Any) -> CallContext:
    return CallContext("cmd-1", connectors.get(connector).settings(**settings))


def test_todays_shape_is_the_hand_written_model_and_its_request() -> None:
    cc = commands("stripe")
    params = {"payment_intent": "pi_1", "return_url": "https://example.com/r"}
    got = cc["payment_intents.confirm"].model_validate(params)
    hand = cc.hand_written["payment_intents.confirm"]
    assert type(got) is hand
    assert got.api_call(context("stripe")) == hand.model_validate(params).api_call(
        context("stripe")
    )


def test_more_params_go_as_described_with_the_path_param_renamed() -> None:
    cc = commands("stripe")
    got = cc["payment_intents.confirm"].model_validate(
        {"payment_intent": "pi_1", "capture_method": "manual"}
    )
    assert isinstance(got, OperationParams)
    call = got.api_call(context("stripe"))
    assert call.method == "POST"
    assert call.path == "/v1/payment_intents/pi_1/confirm"
    assert dict(call.body) == {"capture_method": "manual"}


def test_described_params_beside_the_hand_written_ones() -> None:
    got = commands("stripe")["payment_intents.create"].model_validate(
        {"amount": 500, "currency": "usd", "application_fee_amount": 20}
    )
    assert isinstance(got, OperationParams)
    assert got.values() == {"amount": 500, "currency": "usd", "application_fee_amount": 20}


@pytest.mark.parametrize(
    ("params", "where", "says"),
    [
        # the hand-written checks still hold with more params
        (
            {"amount": -5, "currency": "usd", "application_fee_amount": 1},
            "params.amount",
            "greater",
        ),
        ({"payment_intent": "x", "capture_method": "manual"}, "params.payment_intent", "pattern"),
        # and the description judges the rest, naming the closest param
        (
            {"amount": 5, "currency": "usd", "applicaton_fee_amount": 1},
            "params.applicaton_fee_amount",
            "did you mean application_fee_amount?",
        ),
    ],
)
def test_refused_with_the_path(params: dict[str, Any], where: str, says: str) -> None:
    name = "payment_intents.confirm" if "payment_intent" in params else "payment_intents.create"
    with pytest.raises(ParamsError) as info:
        commands("stripe")[name].model_validate(params)
    assert info.value.path == where
    assert says in info.value.message


def test_twilio_described_names_are_the_other_shape() -> None:
    cc = commands("twilio")
    todays = cc["messages.create"].model_validate(
        {"to": "+15005550006", "body": "hi", "from": "+15005550001"}
    )
    assert type(todays) is cc.hand_written["messages.create"]
    got = cc["messages.create"].model_validate(
        {"To": "+15005550006", "From": "+15005550001", "Body": "hi", "SendAsMms": True}
    )
    assert isinstance(got, OperationParams)
    call = got.api_call(context("twilio", account_sid=SID))
    assert call.path.endswith(f"/Accounts/{SID}/Messages.json")
    with pytest.raises(ParamsError) as info:
        cc["messages.create"].model_validate({"to": "+15005550006", "Body": "hi"})
    assert "To" in info.value.message


def test_every_hand_written_name_with_a_described_twin_takes_both() -> None:
    for name in ("stripe", "github", "twilio"):
        cc = commands(name)
        for cmd, hand in cc.hand_written.items():
            model: type[CommandParams] = cc[cmd]
            assert issubclass(model, hand)
            assert (getattr(model, "described", None) is not None) == (cmd in cc.catalog)


def test_show_lists_the_described_params_after_the_hand_written_ones() -> None:
    result = CliRunner().invoke(cli, ["commands", "show", "stripe.payment_intents.capture"])
    assert result.exit_code == 0
    head, _, tail = result.output.partition("or, when any param is not one of those above")
    assert "payment_intent               path" in head
    assert "application_fee_amount" in tail
    assert "  intent " not in tail  # the same path param, named as today
