"""The generated typed params (connectors/<c>/params.py) name every described
operation's params, and what they type is what the catalog accepts."""

from __future__ import annotations

import importlib
from typing import get_type_hints

import pytest

import connectors
from core.apicall import CallContext
from core.catalog import CatalogCommands


@pytest.mark.parametrize("name", ["stripe", "github", "twilio"])
def test_one_typed_dict_per_operation_with_its_params(name: str) -> None:
    commands = connectors.get(name).commands
    assert isinstance(commands, CatalogCommands)
    module = importlib.import_module(f"connectors.{name}.params")
    catalog = commands.catalog
    assert set(module.PARAMS) == set(catalog.names())
    for command, typed in module.PARAMS.items():
        op = catalog.operation(command)
        assert set(typed.__annotations__) == set(op.field_names()), command
        required = set(typed.__required_keys__)
        assert required == set(op.required_names()), command


def test_a_typed_params_dict_is_what_a_command_takes() -> None:
    from connectors.stripe.params import CheckoutSessionsCreate

    params: CheckoutSessionsCreate = {
        "mode": "payment",
        "success_url": "https://example.com/ok",
        "line_items": [{"price": "price_1", "quantity": 1}],
    }
    model = connectors.get("stripe").commands["checkout.sessions.create"]
    call = model.model_validate(params).api_call(CallContext("cmd-1"))
    assert ("line_items[0][price]", "price_1") in call.body
    assert "line_items" in get_type_hints(CheckoutSessionsCreate, include_extras=True)
