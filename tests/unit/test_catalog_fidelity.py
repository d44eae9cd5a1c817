"""Every catalog operation against an independent judge.

For each operation of the Stripe, GitHub and Twilio catalogs: params drawn
from its JSON Schema (hypothesis-jsonschema; each ``expand`` entry then
mapped onto a valid one, two levels deep) are accepted by
``Operation.validate``; the request ``api_call`` builds is judged by
openapi-core against the provider's description, encoded as the wire
carries it; and params that break the schema (an unknown key, a missing
required param, a wrong type, an entry of ``expand`` that names no
expandable field) are refused before any request, with a
JSON path under ``params``.

openapi-core cannot judge everything: it decodes deepObject one level deep
only (Stripe's nested queries and form bodies), so the judge gets a full
bracket decoder (``catalog_oracle.deep_object_loads``), and a verdict only
that decoder reaches is not taken as one; with the other limits (readOnly
parameter schemas, OAS 3.0.3's ``nullable`` without ``type``, overlapping
path templates) such operations are counted and bounded, so the judge's
reach cannot shrink unnoticed. Run with ``-s`` for the tally.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any

import pytest

import connectors
from core.catalog import Catalog, Operation, ParamsError
from core.encoding import form_encode
from tests.minimal_values import wrong_value
from tests.unit import catalog_oracle as oracle

CONNECTORS = ("stripe", "github", "twilio")

#: operations openapi-core cannot judge, measured (a little headroom)
UNJUDGED_BOUND = {"stripe": 10, "github": 20, "twilio": 2}
#: examples built from required fields because generation gave up
FALLBACK_BOUND = {"stripe": 10, "github": 10, "twilio": 5}
#: examples refused because a required form field, or a list item, held only
#: empties ({"a": []}), which a form body cannot carry and a JSON Schema cannot
#: exclude (measured: stripe 96 of 1,160, mostly an empty item in a free-form
#: object's list); they are judged again with the empties left out
UNSENDABLE_BOUND = {"stripe": 110, "github": 0, "twilio": 0}
UNSENDABLE = "an empty value is not sent in a form body"
_UNKNOWN = "zz_not_a_param"


def _catalog(connector: str) -> Catalog:
    catalog: Catalog = importlib.import_module(f"connectors.{connector}").CATALOG
    return catalog


def _resolved(catalog: Catalog, schema: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in schema:
        schema = catalog.schemas[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _server(connector: str, catalog: Catalog, op: Operation) -> str:
    """Where the connector's default settings send ``op``: the client's base
    URL, or the setting of the operation's own host."""
    settings = connectors.get(connector).settings()
    url = catalog.base_url(op.base, settings) if op.base else str(settings.base_url)
    return url.rstrip("/")


def _refused(op: Operation, params: dict[str, Any], what: str, at: str = "") -> str | None:
    """None when ``params`` are refused with a path under params (or ``at`` exactly)."""
    try:
        op.validate(params)
    except ParamsError as exc:
        if exc.path == at or (not at and exc.path.startswith("params")):
            return None
        return f"{op.name}: {what}: error path {exc.path!r} not {at or 'under params'}"
    return f"{op.name}: {what}: accepted {params!r:.200}"


def _accepted(op: Operation, params: dict[str, Any]) -> bool:
    try:
        op.validate(params)
    except ParamsError:
        return False
    return True


def _negatives(catalog: Catalog, op: Operation, valid: dict[str, Any]) -> list[str]:
    problems = [_refused(op, {**valid, _UNKNOWN: 1}, "unknown key")]
    required = op.required_names()
    if required:
        dropped = {k: v for k, v in valid.items() if k != required[0]}
        problems.append(_refused(op, dropped, f"without required {required[0]}"))
    if op.expand is not None and op.expand.param in op.field_names():
        param = op.expand.param
        entries = [*(valid.get(param) or []), "zz_not_expandable"]
        at = f"params.{param}[{len(entries) - 1}]" if _accepted(op, valid) else ""
        problems.append(_refused(op, {**valid, param: entries}, "zz_not_expandable", at))
    for name in op.field_names():
        ok, wrong = wrong_value(_resolved(catalog, op.field_schema(name)))
        if ok:
            problems.append(_refused(op, {**valid, name: wrong}, f"{name}={wrong!r}"))
            break
    return [p for p in problems if p]


def _unsent(value: Any) -> bool:
    return not form_encode({"v": value})


def _holds_empties(value: Any) -> bool:
    """An empty value ({}, [], null, or only those) somewhere inside ``value``."""
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return any(_unsent(v) or _holds_empties(v) for v in items)


def _without_empties(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_empties(v) for k, v in value.items() if not _unsent(v)}
    if isinstance(value, list):
        return [_without_empties(v) for v in value if not _unsent(v)]
    return value


def _sends_nothing(op: Operation, params: dict[str, Any]) -> bool:
    """A form body holding values that encode to no pairs ({"a": []}), which the
    refusal said lose something (a required field, a list item)."""
    body = {k: v for k, v in params.items() if k in op.body_fields}
    return op.media in ("form", "multipart") and _holds_empties(body)


def _check(connector: str) -> tuple[oracle.Tally, list[str]]:
    catalog = _catalog(connector)
    tally = oracle.Tally()
    refusals: list[str] = []
    for name in catalog.names():
        op = catalog.operation(name)
        tally.ops += 1
        bracketed = op.media in ("form", "multipart") or any(
            p.style == "deepObject" for p in op.params.values()
        )
        drawn = oracle.examples(catalog.params_schema(name), bracketed=bracketed)
        if drawn.fallback:
            tally.fallbacks.append(name)
        server = _server(connector, catalog, op)
        mapped = [oracle.with_expansions(p, op) for p in drawn.values]
        for params in mapped:
            if connector == "twilio" and "AccountSid" in op.params:
                params.setdefault("AccountSid", oracle.TWILIO_SID)
            tally.examples += 1
            try:
                values = op.validate(params)
                tally.accepted += 1
            except ParamsError as exc:
                if not (UNSENDABLE in exc.message and _sends_nothing(op, params)):
                    refused = f"{name}: refused its own schema's {params!r:.200}: {exc}"
                    tally.failures.append(refused)
                    continue
                tally.unsendable.append(name)  # no JSON Schema for "encodes to something"
                try:  # judged as it can be sent, when that still fits
                    values = op.validate(_without_empties(params))
                except ParamsError:
                    continue
            oracle.judge(connector, op, op.api_call(values, server), tally)
        refusals.extend(_negatives(catalog, op, mapped[0]))
    return tally, refusals


@pytest.fixture(scope="module")
def checked() -> Iterator[dict[str, Future[tuple[oracle.Tally, list[str]]]]]:
    """The three connectors checked side by side (GitHub, the longest, first)."""
    with ProcessPoolExecutor(max_workers=2, mp_context=get_context("fork")) as pool:
        yield {c: pool.submit(_check, c) for c in ("github", "stripe", "twilio")}


@pytest.mark.parametrize("connector", CONNECTORS)
def test_every_operation_matches_its_description(
    connector: str, checked: dict[str, Future[tuple[oracle.Tally, list[str]]]]
) -> None:
    tally, refusals = checked[connector].result()
    print("\n" + tally.line(connector))
    assert tally.ops == len(_catalog(connector).names()) > 0
    assert not tally.failures, "\n".join(tally.failures[:30])
    assert not refusals, "\n".join(refusals[:30])
    assert tally.accepted + len(tally.unsendable) == tally.examples
    assert len(tally.unsendable) <= UNSENDABLE_BOUND[connector], tally.unsendable
    assert not tally.wrong_host, sorted(tally.wrong_host)  # each sent to its described host
    assert len(tally.unjudged) <= UNJUDGED_BOUND[connector], tally.line(connector)
    assert len(tally.fallbacks) <= FALLBACK_BOUND[connector], tally.fallbacks
    assert tally.oracle_valid > 0
