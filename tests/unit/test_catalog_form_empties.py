"""Empty objects and lists nested in form bodies.

A form body cannot carry an empty object or list: stripe-python's encoder
leaves them out, and so does ours (the pairs below are held to it). What
the params say must still be what the provider gets, so params whose
request would lose something the description requires (a required nested
object given empty) are refused at validation, naming the JSON path and the
fix; an empty object or list as a list item, which the request would drop
(the list shrinks under its indices), is refused the same way. Optional
empties are accepted and left out, as stripe-python does.
"""

from __future__ import annotations

from typing import Any

import pytest
from stripe._encode import _api_encode

from connectors.stripe import CATALOG
from core.catalog import Operation, ParamsError
from core.encoding import form_encode

NESTED: list[dict[str, Any]] = [
    {"charge": "ch_1", "shipping": {"address": {}, "name": "x"}},
    {"metadata": {"k": []}},
    {"a": {"b": {"c": {}}}, "d": [[], {}], "e": {"f": [], "g": "1"}},
    {"items": [{"price": "p", "tax_rates": []}, {"price": "q", "metadata": {}}]},
    {"x": {"y": None, "z": {"w": [{}]}}},
    {"unset": "", "nested": {"unset": ""}},
]


def _sdk_pairs(data: dict[str, Any]) -> list[tuple[str, str]]:
    return [(k, str(v)) for k, v in _api_encode(data)]


@pytest.mark.parametrize("data", NESTED)
def test_nested_empties_are_left_out_as_stripe_python_does(data: dict[str, Any]) -> None:
    assert form_encode(data) == _sdk_pairs(data)


def _op(name: str) -> Operation:
    return CATALOG.operation(name)


@pytest.mark.parametrize(
    ("command", "params", "path"),
    [
        (
            "charges.update",
            {"charge": "ch_1", "shipping": {"address": {}, "name": "x"}},
            "params.shipping.address",
        ),
        (
            "payment_intents.update",
            {"intent": "pi_1", "shipping": {"address": {}, "name": "x"}},
            "params.shipping.address",  # one branch of an anyOf
        ),
        (
            "checkout.sessions.create",
            {"mode": "payment", "line_items": [{}, {"price": "p", "quantity": 1}]},
            "params.line_items[0]",
        ),
    ],
)
def test_what_a_form_body_would_lose_is_refused(
    command: str, params: dict[str, Any], path: str
) -> None:
    with pytest.raises(ParamsError) as raised:
        _op(command).validate(params)
    assert raised.value.path == path, raised.value
    assert "not sent in a form body" in raised.value.message
    assert "\n" not in str(raised.value)


def test_optional_empties_are_accepted_and_left_out() -> None:
    op = _op("charges.update")
    params = {"charge": "ch_1", "metadata": {}, "shipping": {"address": {"city": "c"}, "name": "x"}}
    call = op.api_call(op.validate(params))
    body = {k: v for k, v in params.items() if k != "charge"}
    assert call.body == _sdk_pairs(body)
    assert ("shipping[address][city]", "c") in call.body
