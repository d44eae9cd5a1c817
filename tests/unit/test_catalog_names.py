"""The catalogs' command names are the SDKs' own.

stripe-python's ``StripeClient`` and twilio-python's ``Client``, walked as a
caller would (tests/unit/sdk_names.py), name every endpoint they have; each
catalog operation on such an endpoint must carry that name. Operations the
SDK does not have keep the rule's name (tools/specs/names.py), which must
not be a name the SDK gives to another endpoint. The counts are pinned, so
an SDK or description upgrade that moves them is a deliberate change here.

    pytest tests/unit/test_catalog_names.py -rP   # prints the counts
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest
import stripe

from tests.unit.sdk_names import (
    Endpoint,
    SdkNames,
    endpoint,
    stripe_sdk_names,
    twilio_sdk_names,
)

ROOT = Path(__file__).resolve().parents[2]

ORACLES = {"stripe": stripe_sdk_names, "twilio": twilio_sdk_names}

#: (agree, differ, SDK lacks, SDK has and the catalog not)
COUNTS = {"stripe": (539, 0, 55, 0), "twilio": (255, 0, 0, 0)}

#: endpoints with a second name in the SDK (the catalog has the first)
ALIASES: dict[str, dict[Endpoint, list[str]]] = {
    "stripe": {("DELETE", "/v1/customers/{}/sources/{}"): ["sources.detach"]},
    "twilio": {},
}

#: names in use (connectors, docs, the hand-written models' twins)
IN_USE = {
    "stripe": [
        "customers.create",
        "customers.update",
        "payment_intents.create",
        "payment_intents.confirm",
        "payment_intents.capture",
        "refunds.create",
        "subscriptions.create",
        "subscriptions.update",
        "subscriptions.cancel",
    ],
    "github": ["issues.create", "issues.add_labels"],
    "twilio": ["messages.create"],
}


def read_catalog(connector: str) -> tuple[dict[str, object], dict[Endpoint, str]]:
    """The committed catalog's header and endpoint -> command name."""
    raw = gzip.decompress(
        (ROOT / "connectors" / connector / "_spec" / "catalog.jsonl.gz").read_bytes()
    )
    lines = raw.decode().splitlines()
    names: dict[Endpoint, str] = {}
    for line in lines[1:]:
        kind, name, entry = line.split(" ", 2)
        if kind != "O":
            continue
        op = json.loads(entry)
        key = endpoint(op["method"], op["path"])
        assert key not in names, f"{connector}: {key} is both {names[key]} and {name}"
        names[key] = name
    return json.loads(lines[0]), names


@cache
def sdk(connector: str) -> SdkNames:
    return ORACLES[connector]()


@dataclass
class Comparison:
    agree: list[Endpoint] = field(default_factory=list)
    differ: list[tuple[Endpoint, str, str]] = field(default_factory=list)
    lacks: list[tuple[Endpoint, str]] = field(default_factory=list)
    sdk_only: list[tuple[Endpoint, str]] = field(default_factory=list)

    def counts(self) -> tuple[int, int, int, int]:
        return len(self.agree), len(self.differ), len(self.lacks), len(self.sdk_only)


@cache
def compare(connector: str) -> Comparison:
    _, catalog = read_catalog(connector)
    oracle = sdk(connector)
    out = Comparison()
    for key, name in sorted(catalog.items()):
        theirs = oracle.names.get(key)
        if theirs is None:
            out.lacks.append((key, name))
        elif theirs == name:
            out.agree.append(key)
        else:
            out.differ.append((key, name, theirs))
    out.sdk_only = [(k, n) for k, n in sorted(oracle.names.items()) if k not in catalog]
    return out


@pytest.mark.parametrize("connector", sorted(ORACLES))
def test_every_endpoint_the_sdk_names_has_the_sdks_name(connector: str) -> None:
    result = compare(connector)
    agree, differ, lacks, sdk_only = result.counts()
    print(
        f"{connector}: {agree} agree, {differ} differ, the SDK lacks {lacks}, {sdk_only} SDK-only"
    )
    for (method, path), name in result.lacks:
        print(f"  SDK lacks {method} {path} ({name})")
    wrong = [f"{m} {p}: catalog {ours!r}, SDK {theirs!r}" for (m, p), ours, theirs in result.differ]
    assert not wrong, f"{connector}: {len(wrong)} names differ:\n" + "\n".join(wrong)


@pytest.mark.parametrize("connector", sorted(ORACLES))
def test_the_counts(connector: str) -> None:
    assert compare(connector).counts() == COUNTS[connector], (
        f"{connector}: (agree, differ, SDK lacks, SDK-only) moved; if the SDK or the "
        "description was upgraded on purpose, update COUNTS"
    )


@pytest.mark.parametrize("connector", sorted(ORACLES))
def test_the_catalog_has_every_endpoint_the_sdk_has(connector: str) -> None:
    """Same API version on both sides: nothing the SDK calls is missing."""
    assert compare(connector).sdk_only == []


@pytest.mark.parametrize("connector", sorted(ORACLES))
def test_a_name_the_sdk_lacks_is_no_sdk_name_of_another_endpoint(connector: str) -> None:
    taken = sdk(connector).all_names()
    clash = [
        f"{m} {p}: {name!r} is the SDK's {taken[name]}"
        for (m, p), name in compare(connector).lacks
        if name in taken
    ]
    assert not clash


@pytest.mark.parametrize("connector", sorted(ORACLES))
def test_the_sdks_second_names(connector: str) -> None:
    assert sdk(connector).aliases == ALIASES[connector]


@pytest.mark.parametrize("connector", sorted(IN_USE))
def test_the_names_in_use_stay(connector: str) -> None:
    _, catalog = read_catalog(connector)
    assert set(IN_USE[connector]) <= set(catalog.values())


def test_the_stripe_oracle_is_the_catalogs_api_version() -> None:
    header, _ = read_catalog("stripe")
    assert stripe.api_version == header["api_version"] == "2026-08-26.dahlia"


@pytest.mark.parametrize(
    ("connector", "method", "path", "name"),
    [
        ("stripe", "post", "/v1/customers", "customers.create"),
        ("stripe", "post", "/v1/checkout/sessions", "checkout.sessions.create"),
        (
            "stripe",
            "get",
            "/v1/customers/{customer}/balance_transactions",
            "customers.balance_transactions.list",
        ),
        ("stripe", "delete", "/v1/subscriptions/{id}", "subscriptions.cancel"),
        ("stripe", "post", "/v1/payment_intents/{intent}/confirm", "payment_intents.confirm"),
        ("stripe", "get", "/v1/quotes/{quote}/pdf", "quotes.pdf"),
        ("twilio", "post", "/2010-04-01/Accounts/{a}/Messages.json", "messages.create"),
        ("twilio", "post", "/2010-04-01/Accounts/{a}/Calls.json", "calls.create"),
        (
            "twilio",
            "get",
            "/2010-04-01/Accounts/{a}/Calls/{c}/Recordings.json",
            "calls.recordings.list",
        ),
        ("twilio", "get", "/2010-04-01/Accounts/{sid}.json", "accounts.fetch"),
        ("twilio", "post", "/2010-04-01/Accounts/{a}/Keys.json", "new_keys.create"),
        ("twilio", "post", "/v1/Services", "messaging.services.create"),
        ("twilio", "post", "/v1/a2p/BrandRegistrations", "messaging.brand_registrations.create"),
    ],
)
def test_the_oracles_read_the_sdks(connector: str, method: str, path: str, name: str) -> None:
    """The walks find what the SDKs' docs show (so an empty walk cannot pass)."""
    assert sdk(connector).names[endpoint(method, path)] == name
