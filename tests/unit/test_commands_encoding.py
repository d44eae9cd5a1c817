"""Stripe's bracket form encoding, checked against stripe-python's own encoder."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stripe._encode import _api_encode

from connectors.stripe._sandbox import decode_form
from core.encoding import form_encode


def _bools_in_lists(value: Any, in_list: bool = False) -> Any:
    # stripe-python encodes a boolean directly inside a list as Python's
    # "True"/"False" (its list branch skips the bool case); the API's form
    # is "true"/"false", which we send everywhere. Feed the oracle strings there.
    if isinstance(value, bool) and in_list:
        return "true" if value else "false"
    if isinstance(value, dict):
        return {k: _bools_in_lists(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_bools_in_lists(v, True) for v in value]
    return value


def stripe_sdk(data: dict[str, Any]) -> str:
    return urlencode(list(_api_encode(_bools_in_lists(data))))


CASES: list[dict[str, Any]] = [
    {"email": "a@b.c", "metadata": {"order": "42", "note": "a b&c=d"}},
    {"items": [{"price": "price_1", "quantity": 2}, {"price": "price_2"}]},
    {"confirm": True, "capture": False, "amount": 2000, "skip": None},
    {"expand": ["customer", "invoice.subscription"]},
    {"metadata": {}, "items": [], "description": ""},
    {"nested": {"deep": {"er": [{"x": 1}, [1, 2]]}}},
    {"ünïcode": "☃", "metadata": {"k[ey]": "v"}},
]


@pytest.mark.parametrize("data", CASES)
def test_matches_stripe_sdk(data: dict[str, Any]) -> None:
    assert urlencode(form_encode(data)) == stripe_sdk(data)


def test_booleans_in_lists_are_lower_case() -> None:
    assert form_encode({"flags": [True, False]}) == [("flags[0]", "true"), ("flags[1]", "false")]


def test_bracket_keys_and_scalars() -> None:
    assert form_encode({"items": [{"price": "p", "quantity": 2}], "metadata": {"a": "b"}}) == [
        ("items[0][price]", "p"),
        ("items[0][quantity]", "2"),
        ("metadata[a]", "b"),
    ]
    assert form_encode({"a": True, "b": None, "c": {}, "d": [], "e": ""}) == [
        ("a", "true"),
        ("e", ""),
    ]


scalars = st.one_of(st.text(max_size=8), st.integers(-(10**6), 10**6), st.booleans())
keys = st.text(
    st.characters(exclude_characters="[]", exclude_categories=["Cs"]), min_size=1, max_size=6
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=3)),
    max_leaves=12,
)


@given(st.dictionaries(keys, st.one_of(values, st.none()), max_size=5))
def test_property_same_as_stripe_sdk(data: dict[str, Any]) -> None:
    assert urlencode(form_encode(data)) == stripe_sdk(data)


def test_sandbox_decodes_what_we_encode() -> None:
    data = {"items": [{"price": "p1", "quantity": "2"}, {"price": "p2"}], "metadata": {"k": "v"}}
    assert decode_form(form_encode(data)) == data
