"""What test_catalog_sink sends: one command per catalog operation with
deterministic minimal params, bad variants of a sample, and the operations
left out, each set named with its reason."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core.catalog import Catalog, Operation, ParamsError
from core.envelopes import Command
from tests.minimal_values import NoValue, minimal, wrong_value

#: hand-written models take precedence over the catalog: params of theirs
HAND_WRITTEN: dict[str, dict[str, Any]] = {
    "stripe.customers.create": {"email": "a@example.com"},
    "stripe.customers.update": {"customer": "cus_1"},
    "stripe.payment_intents.create": {"amount": 100, "currency": "usd"},
    "stripe.payment_intents.confirm": {"payment_intent": "pi_1"},
    "stripe.payment_intents.capture": {"payment_intent": "pi_1"},
    "stripe.refunds.create": {"payment_intent": "pi_1"},
    "stripe.subscriptions.create": {"customer": "cus_1", "items": [{"price": "price_1"}]},
    "stripe.subscriptions.update": {"subscription": "sub_1"},
    "stripe.subscriptions.cancel": {"subscription": "sub_1"},
    "github.issues.create": {"owner": "o", "repo": "r", "title": "t"},
    "github.issues.add_labels": {"owner": "o", "repo": "r", "issue_number": 1, "labels": ["l"]},
    "twilio.messages.create": {"to": "+15005550006", "from": "+15005550007", "body": "x"},
}
UNKNOWN = "zz_not_a_param"
#: operations of each connector sampled for bad input
BAD_SAMPLE = 5


def catalog(connector: str) -> Catalog:
    found: Catalog = importlib.import_module(f"connectors.{connector}").CATALOG
    return found


def left_out(connector: str) -> frozenset[str]:
    """Operations not sent (none today: every operation of ``connector`` runs)."""
    return frozenset()


@dataclass
class Planned:
    """The commands of one connector, and what could not be planned."""

    commands: dict[str, Command] = field(default_factory=dict)  # by catalog name
    no_params: dict[str, str] = field(default_factory=dict)  # name -> why
    bad: dict[str, tuple[Command, str]] = field(default_factory=dict)  # id -> (cmd, path)


def params_for(cat: Catalog, connector: str, name: str) -> dict[str, Any]:
    """Deterministic minimal params of ``name`` the catalog accepts (raises
    NoValue or ParamsError when there are none)."""
    full = f"{connector}.{name}"
    if full in HAND_WRITTEN:
        return dict(HAND_WRITTEN[full])
    schema = cat.params_schema(name)
    op = cat.operation(name)
    try:
        params: dict[str, Any] = minimal(schema)
        op.validate(params)
    except ParamsError:  # a required form field of empties only: fill it
        params = minimal(schema, filled=True)
        op.validate(params)
    return params


def plan(connector: str) -> Planned:
    cat = catalog(connector)
    out = Planned()
    skip = left_out(connector)
    for name in cat.names():
        if name in skip:
            continue
        try:
            params = params_for(cat, connector, name)
        except (NoValue, ParamsError, RecursionError) as exc:
            out.no_params[name] = f"{type(exc).__name__}: {exc}"[:200]
            continue
        out.commands[name] = Command(type=f"{connector}.{name}", params=params)
    for name in sampled(cat, connector, list(out.commands)):
        for command, path in bad_variants(cat, name, out.commands[name]):
            out.bad[command.id] = (command, path)
    return out


def _resolved(cat: Catalog, schema: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in schema:
        schema = cat.schemas[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _enum_field(cat: Catalog, op: Operation) -> str | None:
    return next((n for n in op.field_names() if "enum" in _resolved(cat, op.field_schema(n))), None)


def _typed_field(cat: Catalog, op: Operation) -> str | None:
    return next(
        (n for n in op.field_names() if wrong_value(_resolved(cat, op.field_schema(n)))[0]), None
    )


def sampled(cat: Catalog, connector: str, names: list[str]) -> list[str]:
    """``BAD_SAMPLE`` catalog-only operations, evenly spread, each with a
    required param, an enum param and a typed param."""
    fit = [
        n
        for n in names
        if f"{connector}.{n}" not in HAND_WRITTEN
        and cat.operation(n).required_names()
        and _enum_field(cat, cat.operation(n))
        and _typed_field(cat, cat.operation(n))
    ]
    step = max(1, len(fit) // BAD_SAMPLE)
    return fit[::step][:BAD_SAMPLE]


def bad_variants(cat: Catalog, name: str, good: Command) -> list[tuple[Command, str]]:
    """An unknown param, a missing required one, a wrong type, a value outside
    an enum: each with the JSON path its error must name."""
    op = cat.operation(name)
    valid = good.params
    required = op.required_names()[0]
    typed = _typed_field(cat, op)
    enum = _enum_field(cat, op)
    assert typed is not None
    assert enum is not None
    wrong = wrong_value(_resolved(cat, op.field_schema(typed)))[1]
    variants = [
        ({**valid, UNKNOWN: 1}, f"params.{UNKNOWN}"),
        ({k: v for k, v in valid.items() if k != required}, f"params.{required}"),
        ({**valid, typed: wrong}, f"params.{typed}"),
        ({**valid, enum: "zz-not-in-the-enum"}, f"params.{enum}"),
    ]
    return [(Command(type=good.type, params=p), path) for p, path in variants]
