"""Helpers for test_catalog_fidelity: examples from the params schemas
(hypothesis-jsonschema) and openapi-core (:mod:`tests.openapi_judge`) as an
independent judge of the requests the catalog builds."""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.internal.conjecture import utils as cu
from hypothesis_jsonschema import _from_schema, from_schema

from core.apicall import ApiCall
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


@dataclass
class Examples:
    values: list[dict[str, Any]]
    fallback: bool


def examples(schema: dict[str, Any]) -> Examples:
    """A few params objects of ``schema``; the minimal one when generation fails."""
    found: list[dict[str, Any]] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            strategy = from_schema(schema)

            @EXAMPLES
            @given(strategy)
            def collect(value: Any) -> None:
                found.append(value)

            collect()
    except Exception:  # generation or canonicalisation gave up (HypothesisException too)
        found = [v for v in found if isinstance(v, dict)]
    if found:
        return Examples([v for v in found if isinstance(v, dict)], False)
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
