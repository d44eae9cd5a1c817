"""``expand`` entries checked against what the description marks expandable.

Core's check on a catalog made here (no provider), the derivation
(tools/specs/expand.py) on a small description, then Stripe's catalog:
named cases, and every operation against Stripe's own marks
(``x-expandableFields``) read straight from the committed description.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from connectors.stripe import CATALOG
from core.catalog import Expansions, Operation, ParamsError
from core.catalog._schema import SchemaSet
from tools.specs.expand import UNMARKED, add_expansions

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "specs" / "stripe" / "spec3.json.gz"

# -- core, on a catalog of its own ------------------------------------------

NODES: dict[str, Any] = {
    "order": {"buyer": ["person"], "items": [{"data": ["item"]}], "note": []},
    "person": {"employer": ["company"], "address": []},
    "company": {"owner": ["person"]},
    "item": {"product": []},
}
EXPAND_PARAM = {
    "in": "query",
    "name": "expand",
    "schema": {"type": "array", "items": {"type": "string"}},
}


def _op(roots: list[Any], depth: int = 4) -> Operation:
    entry = {
        "op": "x",
        "method": "GET",
        "path": "/orders",
        "params": [EXPAND_PARAM],
        "expand": roots,
    }
    expansions = Expansions("expand", depth, NODES)
    return Operation("orders.x", entry, SchemaSet({}), expansions=expansions)


def _refusal(op: Operation, entries: list[str]) -> ParamsError:
    with pytest.raises(ParamsError) as caught:
        op.validate({"expand": entries})
    return caught.value


def test_a_field_of_the_response_and_a_path_through_it_are_accepted() -> None:
    op = _op(["order"])
    entries = ["buyer", "note", "buyer.employer", "buyer.employer.owner", "items.data.product"]
    assert op.validate({"expand": entries}) == {"expand": entries}
    assert op.validate({"expand": entries}) == {"expand": entries}  # remembered, same answer


def test_an_unknown_field_is_refused_with_its_json_path_and_the_closest_names() -> None:
    error = _refusal(_op(["order"]), ["buyer", "buyr"])
    assert error.path == "params.expand[1]"
    assert str(error) == (
        "params.expand[1]: 'buyr' cannot be expanded; did you mean buyer? "
        "expandable: buyer, items, note"
    )


def test_each_segment_of_a_path_is_checked_on_the_node_before() -> None:
    error = _refusal(_op(["order"]), ["buyer.employr"])
    assert str(error) == (
        "params.expand[0]: 'employr' on buyer cannot be expanded; did you mean buyer.employer? "
        "expandable on buyer: address, employer"
    )
    assert "nothing on note can be expanded" in str(_refusal(_op(["order"]), ["note.x"]))
    assert "on buyer.address" in str(_refusal(_op(["order"]), ["buyer.address.x"]))


def test_a_list_response_starts_with_data() -> None:
    op = _op([{"data": ["order"]}])
    assert op.validate({"expand": ["data.buyer.employer"]})
    error = _refusal(op, ["buyer"])
    assert str(error) == "params.expand[0]: 'buyer' cannot be expanded; expandable: data"


def test_the_depth_is_bounded() -> None:
    op = _op(["order"], depth=3)
    assert op.validate({"expand": ["buyer.employer.owner"]})
    error = _refusal(op, ["buyer.employer.owner.employer"])
    deep = "'buyer.employer.owner.employer' is 4 levels deep"
    assert error.message == f"{deep}; at most 3 can be expanded"


def test_a_response_with_nothing_expandable_refuses_every_entry() -> None:
    error = _refusal(_op([]), ["buyer"])
    assert str(error) == "params.expand[0]: 'buyer': nothing can be expanded"


def test_an_operation_without_expansion_data_checks_the_schema_only() -> None:
    entry = {"op": "x", "method": "GET", "path": "/orders", "params": [EXPAND_PARAM]}
    op = Operation("orders.x", entry, SchemaSet({}), expansions=Expansions("expand", 4, NODES))
    assert op.expand is None
    assert op.validate({"expand": ["anything"]})


def test_names_lists_the_valid_entries_level_by_level() -> None:
    check = _op([{"data": ["order"]}]).expand
    assert check is not None
    assert check.names(1) == ["data"]
    assert check.names(2) == ["data", "data.buyer", "data.items", "data.note"]


# -- the derivation ---------------------------------------------------------


def test_the_derivation_keeps_nodes_with_expandable_fields_only() -> None:
    ref = {"$ref": "#/components/schemas/person"}
    doc = {
        "components": {
            "schemas": {
                "person": {
                    "properties": {"friend": {"anyOf": [{"type": "string"}, ref]}},
                    "x-expandableFields": ["friend", "pet"],
                },
                "pet": {"x-expandableFields": []},
                "deleted_person": {"properties": {"id": {"type": "string"}}},
            }
        },
        "paths": {
            "/people": {
                "get": {
                    "parameters": [EXPAND_PARAM],
                    "responses": {
                        "200": {
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "properties": {"data": {"type": "array", "items": ref}},
                                        "x-expandableFields": ["data"],
                                    }
                                }
                            }
                        }
                    },
                }
            },
            "/people/{id}": {
                "delete": {
                    "responses": {
                        "200": {
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/deleted_person"}
                                }
                            }
                        }
                    }
                },
            },
        },
    }
    ops: dict[str, dict[str, Any]] = {
        "people.list": {"method": "GET", "path": "/people", "params": [EXPAND_PARAM]},
        "people.delete": {"method": "DELETE", "path": "/people/{id}", "params": []},
    }
    cat: dict[str, Any] = {"operations": ops}
    add_expansions(doc, cat)
    assert ops["people.list"]["expand"] == [{"data": ["person"]}]
    assert "expand" not in ops["people.delete"]  # it takes no expand param
    assert cat["expansions"] == {"person": {"friend": ["person"], "pet": []}}
    assert cat["expand"] == {"param": "expand", "depth": 4}


# -- Stripe's catalog -------------------------------------------------------


def _stripe_refusal(name: str, params: dict[str, Any]) -> str:
    with pytest.raises(ParamsError) as caught:
        CATALOG.operation(name).validate(params)
    return str(caught.value)


def test_stripe_retrieve_takes_the_customers_expandable_fields() -> None:
    op = CATALOG.operation("customers.retrieve")
    entries = ["default_source", "invoice_settings.default_payment_method", "sources.data.customer"]
    assert op.validate({"customer": "cus_1", "expand": entries})
    message = _stripe_refusal(
        "customers.retrieve", {"customer": "cus_1", "expand": ["default_source", "default_sorce"]}
    )
    assert message.startswith("params.expand[1]: 'default_sorce' cannot be expanded; ")
    assert "did you mean default_source?" in message
    assert "\n" not in message


def test_stripe_lists_expand_through_data() -> None:
    op = CATALOG.operation("customers.list")
    assert op.validate({"expand": ["data.default_source", "data.subscriptions.data.customer"]})
    message = _stripe_refusal("customers.list", {"expand": ["default_source"]})
    assert message == "params.expand[0]: 'default_source' cannot be expanded; expandable: data"
    five = "data.default_source.customer.default_source.x"
    message = _stripe_refusal("customers.list", {"expand": [five]})
    assert "5 levels deep; at most 4" in message


def test_stripe_form_bodies_are_checked_too() -> None:
    op = CATALOG.operation("checkout.sessions.create")
    values = op.validate({"mode": "payment", "expand": ["line_items", "customer.default_source"]})
    pairs = op.api_call(values).body
    assert ("expand[0]", "line_items") in pairs
    assert ("expand[1]", "customer.default_source") in pairs
    message = _stripe_refusal(
        "checkout.sessions.create", {"mode": "payment", "expand": ["line_itemz"]}
    )
    assert message.startswith("params.expand[0]: 'line_itemz' cannot be expanded; did you mean")


def test_stripe_polymorphic_responses_expand_each_shape_s_fields() -> None:
    # external_account is anyOf bank_account | card, with no marks of its own
    op = CATALOG.operation("accounts.external_accounts.retrieve")
    assert op.validate({"account": "acct_1", "id": "ba_1", "expand": ["customer", "account"]})
    op = CATALOG.operation("customers.payment_sources.retrieve")
    assert op.validate({"customer": "cus_1", "id": "card_1", "expand": ["customer"]})


def test_stripe_fields_only_the_prose_calls_expandable_are_accepted() -> None:
    op = CATALOG.operation("issuing.cards.retrieve")
    assert op.validate({"card": "ic_1", "expand": ["number", "cvc", "cardholder"]})


@pytest.mark.skipif(not SHARED.exists(), reason="Stripe's description is not beside this clone")
def test_the_unmarked_expandable_fields_are_those_the_prose_names() -> None:
    doc = json.loads(gzip.decompress(SHARED.read_bytes()))
    said = re.compile(r"omitted unless you explicitly request it with \[the `expand` parameter\]")
    found: dict[str, list[str]] = {}
    for name, schema in doc["components"]["schemas"].items():
        marked = set(schema.get("x-expandableFields") or ())
        for field, prop in (schema.get("properties") or {}).items():
            if field not in marked and said.search(prop.get("description", "")):
                found.setdefault(name, []).append(field)
    assert {k: tuple(sorted(v)) for k, v in found.items()} == UNMARKED


# -- every Stripe operation against the marks in the description --------------


@cache
def _described() -> Mapping[str, Any]:
    path = ROOT / "connectors" / "stripe" / "_spec" / "stripe.openapi.json.gz"
    doc: Mapping[str, Any] = json.loads(gzip.decompress(path.read_bytes()))
    return doc


def _resources(schema: Mapping[str, Any]) -> list[str]:
    """The resources a schema is: a ref, or each of an anyOf, also through a
    polymorphic component (``external_account``: anyOf bank_account | card)."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        target = _described()["components"]["schemas"][name]
        return [name] if "properties" in target else _resources(target)
    return [n for sub in schema.get("anyOf") or () for n in _resources(sub)]


def _response(op: Mapping[str, Any]) -> tuple[str, list[str]] | None:
    """(prefix, resource names) of an operation's success response."""
    content = op["responses"]["200"].get("content") or {}
    schema = (content.get("application/json") or {}).get("schema")
    if schema is None:
        return None
    if "data" in (schema.get("properties") or {}):  # a list object
        return "data.", _resources(schema["properties"]["data"]["items"])
    return "", _resources(schema)


def test_every_marked_field_is_accepted_and_an_unmarked_one_refused() -> None:
    doc = _described()
    schemas = doc["components"]["schemas"]
    by_route: dict[tuple[str, str], Operation] = {}
    for name in CATALOG.names():
        op = CATALOG.operation(name)
        by_route[(op.method.lower(), op.path)] = op
    checked = 0
    for path, item in doc["paths"].items():
        for method, described in item.items():
            found = by_route.get((method, path))
            response = _response(described) if found is not None else None
            if found is None or response is None or "expand" not in found.field_names():
                continue
            check = found.expand
            assert check is not None, found.name
            prefix, names = response
            union = {f for n in names for f in schemas[n].get("x-expandableFields") or ()}
            for resource in names:
                schema = schemas[resource]
                marked = sorted(schema.get("x-expandableFields") or ())
                entries = [prefix + f for f in marked]
                for field in marked:  # one level further, per the target's own marks
                    for target in _resources(schema["properties"][field]):
                        deeper = sorted(schemas[target].get("x-expandableFields") or ())
                        entries += [f"{prefix}{field}.{deeper[0]}"] if deeper else []
                check(entries, "params.expand")
                unmarked = set(UNMARKED.get(resource, ()))
                plain = set(schema.get("properties") or ()) - union - unmarked
                for field in sorted(plain)[:1]:
                    with pytest.raises(ParamsError, match=r"^params\.expand\[0\]: "):
                        check([prefix + field], "params.expand")
            checked += 1
    assert checked > 500
