"""Params the schema allows but the wire cannot carry are refused with their
path (found by sending generated params to the provider's own API mock)."""

from __future__ import annotations

from typing import Any

import pytest

import connectors
from core.catalog import ParamsError


def validate(connector: str, name: str, params: dict[str, Any]) -> Any:
    return connectors.get(connector).commands[name].model_validate(params)


@pytest.mark.parametrize(
    ("name", "params", "where"),
    [
        # metadata allows any key, but `lines[0][metadata][]` is an array append
        (
            "invoices.add_lines",
            {"invoice": "in_1", "lines": [{"invoice_item": "ii_1", "metadata": {"": "x"}}]},
            "params.lines[0].metadata.",
        ),
        (
            "products.update",
            {"id": "prod_1", "metadata": {"a[b]": "x"}},
            "params.metadata.a[b]",
        ),
        (
            "issuing.cardholders.create",
            {
                "name": "x",
                "billing": {
                    "address": {
                        "city": "x",
                        "country": "US",
                        "line1": "a",
                        "postal_code": "1",
                        "": {"a": "b"},
                    }
                },
            },
            "params.billing.address.",
        ),
    ],
)
def test_a_key_a_form_body_cannot_carry(name: str, params: dict[str, Any], where: str) -> None:
    with pytest.raises(ParamsError) as info:
        validate("stripe", name, params)
    assert info.value.path == where
    assert "cannot be sent in a form body" in info.value.message


def test_the_same_keys_in_a_json_body_are_fine() -> None:
    validate(
        "github",
        "repos.create_dispatch_event",
        {"owner": "o", "repo": "r", "event_type": "e", "client_payload": {"": 1, "a[b]": 2}},
    )


@pytest.mark.parametrize("amount", [2**63, -(2**63) - 1, 410766370320276389888])
def test_integers_beyond_64_bits(amount: int) -> None:
    with pytest.raises(ParamsError) as info:
        validate("stripe", "application_fees.refunds.create", {"id": "fee_1", "amount": amount})
    assert info.value.path == "params.amount"
    assert "64-bit" in info.value.message
    validate("stripe", "application_fees.refunds.create", {"id": "fee_1", "amount": 2**63 - 1})


def test_an_integer_past_64_bits_read_as_a_float_is_refused_too() -> None:
    """orjson (the CLI's and the sink's parser) reads such integers as floats."""
    import orjson

    params = orjson.loads(b'{"frozen_time": -450216942208329232123166720}')
    assert isinstance(params["frozen_time"], float)
    with pytest.raises(ParamsError) as info:
        validate("stripe", "test_helpers.test_clocks.create", params)
    assert info.value.path == "params.frozen_time"
    assert "integer" in info.value.message
