"""Helpers for test_catalog_fidelity: examples from the params schemas
(hypothesis-jsonschema) and openapi-core (:mod:`tests.openapi_judge`) as an
independent judge of the requests the catalog builds."""

from __future__ import annotations

import json
import warnings
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.internal.conjecture import utils as cu
from hypothesis_jsonschema import _from_schema, from_schema

from core.apicall import ApiCall
from core.encoding import encode_body
from tests.minimal_values import minimal
from tests.openapi_judge import WireRequest, server, verdict, wire_request

__all__ = ["Examples", "Tally", "examples", "judge", "server", "wire"]

TWILIO_SID = "AC" + "0123456789abcdef" * 2

EXAMPLES = settings(
    max_examples=2,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.generate],
)


# -- examples -------------------------------------------------------------


class _Many:
    """hypothesis-jsonschema 0.23 drives ``cu.many`` with ``more()``, which
    this Hypothesis replaced by iteration: the old interface on the new."""

    def __init__(self, data: Any, **sizes: Any) -> None:
        self._many = cu.many(data, **sizes, observe=False)
        self._many.__enter__()
        self._steps = iter(self._many)

    def more(self) -> bool:
        return next(self._steps, False) is None

    def reject(self, why: str | None = None) -> None:
        self._many.reject(why)


if not hasattr(cu.many, "more"):
    _from_schema.cu = type("cu", (), {"many": _Many})  # type: ignore[assignment,attr-defined]


def with_expansions(params: dict[str, Any], op: Any, levels: int = 2) -> dict[str, Any]:
    """``params`` whose expansion entries (if the operation checks them) are
    valid ones, up to ``levels`` deep: each drawn string is mapped onto one
    (an arbitrary string names no field). Mapped after drawing, not through
    the schema, so the generator's draws stay as they were."""
    check = op.expand
    value = params.get(check.param) if check is not None else None
    if check is None or not isinstance(value, list):
        return params
    names = check.names(levels)
    if not names:  # nothing to expand: leave the param out
        return {k: v for k, v in params.items() if k != check.param}
    mapped = [names[zlib.crc32(repr(x).encode()) % len(names)] for x in value]
    return {**params, check.param: mapped}


@dataclass
class Examples:
    values: list[dict[str, Any]]
    fallback: bool


INT64 = (-(2**63), 2**63 - 1)
_NAMES = {"pattern": r"^[^\[\]]+$"}
_SCALAR = {
    "type": ["string", "integer", "number", "boolean", "null"],
    "minimum": INT64[0],
    "maximum": INT64[1],
}
#: any JSON value a free-form schema allows, with the keys and integers a wire carries
_ANY_CARRIED = {
    "anyOf": [
        _SCALAR,
        {"type": "array", "items": _SCALAR},
        {"type": "object", "propertyNames": _NAMES, "additionalProperties": _SCALAR},
    ]
}
_SCHEMA_MAPS = ("properties", "$defs", "patternProperties", "dependentSchemas")
_VALUES = ("enum", "const", "default", "examples", "required")


def carried(schema: Any, keys: bool = True) -> Any:
    """``schema`` held to what the wire carries, as the catalog refuses the
    rest before sending (``core.catalog._operation._check_wire``): integers
    in 64 bits (the descriptions leave them unbounded; stripe-mock refuses
    larger), object keys not empty and without brackets (a form body's
    ``a[b]`` names; ``a[]`` is an array append: ``keys``, where keys are
    bracketed), no "" in string lists."""
    if isinstance(schema, list):
        return [carried(s, keys) for s in schema]
    if (schema is True or schema == {}) and keys:
        return _ANY_CARRIED
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: carried(sub, keys) for name, sub in value.items()}
        elif key in _VALUES:
            out[key] = value
        else:
            out[key] = carried(value, keys)
    kinds = out.get("type")
    if kinds == "integer" or (isinstance(kinds, list) and "integer" in kinds):
        out["minimum"] = max(out.get("minimum", INT64[0]), INT64[0])
        out["maximum"] = min(out.get("maximum", INT64[1]), INT64[1])
    items = out.get("items")
    if kinds == "array" and isinstance(items, dict) and items.get("type") == "string":
        # an exploded query list of "" reads as an empty value, refused as such
        out["items"] = {**items, "minLength": max(1, items.get("minLength", 0))}
    if keys and (kinds == "object" or "properties" in schema or "additionalProperties" in schema):
        out.setdefault("propertyNames", _NAMES)
        out.setdefault("additionalProperties", _ANY_CARRIED)
    return out


def _in_int64(value: Any) -> bool:
    """No integer beyond 64 bits anywhere in ``value`` (free-form values a
    schema cannot bound without hypothesis-jsonschema giving up)."""
    if isinstance(value, bool):
        return True
    if isinstance(value, int):
        return INT64[0] <= value <= INT64[1]
    if isinstance(value, dict):
        return all(_in_int64(v) for v in value.values())
    if isinstance(value, list):
        return all(_in_int64(v) for v in value)
    return True


def examples(schema: dict[str, Any], bracketed: bool = True) -> Examples:
    """A few params objects of ``schema``; the minimal one when generation fails."""
    found: list[dict[str, Any]] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            strategy = from_schema(carried(schema, bracketed))

            @EXAMPLES
            @given(strategy)
            def collect(value: Any) -> None:
                found.append(value)

            collect()
    except Exception:  # generation or canonicalisation gave up (HypothesisException too)
        found = [v for v in found if isinstance(v, dict)]
    found = [v for v in found if isinstance(v, dict) and _in_int64(v)]
    if found:
        return Examples(found, False)
    return Examples([minimal(schema)], True)


# -- the judge ------------------------------------------------------------


def wire(call: ApiCall, template: str) -> WireRequest:
    """``call`` as the wire carries it."""
    url = urlsplit(call.path)
    raw = call.params.items() if isinstance(call.params, Mapping) else call.params or []
    query = [(str(k), str(v)) for k, v in raw]
    body: bytes | None = None
    content_type = ""
    if call.body_kind == "json":
        body, content_type = json.dumps(call.body).encode(), "application/json"
    elif call.body_kind == "form":
        body, content_type = urlencode(call.body).encode(), "application/x-www-form-urlencoded"
    elif call.body_kind == "multipart":
        body, kind = encode_body(multipart=call.body)
        content_type = kind or ""
    elif call.body_kind == "content":
        body, content_type = call.body, call.headers.get("Content-Type", "").lower()
    return wire_request(
        f"{url.scheme}://{url.netloc}",
        call.method,
        url.path,
        template,
        query,
        call.headers,
        content_type,
        body,
    )


@dataclass
class Tally:
    ops: int = 0
    examples: int = 0
    accepted: int = 0
    oracle_valid: int = 0
    fallbacks: list[str] = field(default_factory=list)
    unsendable: list[str] = field(default_factory=list)
    unjudged: dict[str, str] = field(default_factory=dict)
    wrong_host: set[str] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)

    def line(self, connector: str) -> str:
        reasons: dict[str, int] = {}
        for why in self.unjudged.values():
            why = why.split(":")[0]
            reasons[why] = reasons.get(why, 0) + 1
        return (
            f"{connector}: ops={self.ops} examples={self.examples} accepted={self.accepted} "
            f"oracle-valid={self.oracle_valid} could-not-judge={len(self.unjudged)} {reasons} "
            f"fallbacks={len(self.fallbacks)} {self.fallbacks} "
            f"unsendable-examples={len(self.unsendable)} wrong-host={sorted(self.wrong_host)}"
        )


def judge(connector: str, op: Any, call: ApiCall, tally: Tally) -> None:
    """openapi-core's verdict on ``call`` (:func:`tests.openapi_judge.verdict`),
    added to ``tally``."""
    found = verdict(connector, op.base, wire(call, op.path), op.params)
    if found.wrong_host:
        tally.wrong_host.add(op.name)
    elif found.failure is not None:
        tally.failures.append(f"{op.name}: {found.failure}")
    elif found.unjudged is not None:
        tally.unjudged[op.name] = found.unjudged
    else:
        tally.oracle_valid += 1
