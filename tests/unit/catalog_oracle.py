"""Helpers for test_catalog_fidelity: examples from the params schemas
(hypothesis-jsonschema) and openapi-core as an independent judge of the
requests the catalog builds."""

from __future__ import annotations

import gzip
import json
import re
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.internal.conjecture import utils as cu
from hypothesis_jsonschema import _from_schema, from_schema

from core.apicall import ApiCall
from core.encoding import encode_body

ROOT = Path(__file__).resolve().parents[2]

#: per connector: which description judges an operation of which ``base``
DESCRIPTIONS: dict[str, dict[str, str]] = {
    "stripe": {"": "stripe.openapi.json.gz", "files": "stripe.openapi.json.gz"},
    "github": {"": "github.openapi.json.gz", "uploads": "github.openapi.json.gz"},
    "twilio": {
        "": "twilio_api_v2010.openapi.json.gz",
        "messaging": "twilio_messaging_v1.openapi.json.gz",
    },
}

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


def _minimal(schema: Any, defs: dict[str, Any], depth: int = 0) -> Any:
    """A small value of ``schema`` from its required fields (the fallback)."""
    if not isinstance(schema, dict) or depth > 12:
        return None
    if "$ref" in schema:
        return _minimal(defs[schema["$ref"].rsplit("/", 1)[-1]], defs, depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            return _minimal(schema[key][0], defs, depth + 1)
    if schema.get("allOf"):
        out: dict[str, Any] = {}
        for sub in schema["allOf"]:
            part = _minimal(sub, defs, depth + 1)
            if isinstance(part, dict):
                out.update(part)
        return out
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        return {
            n: _minimal(props.get(n, {}), defs, depth + 1) for n in schema.get("required") or ()
        }
    if kind == "array":
        return [_minimal(schema.get("items", {}), defs, depth + 1)] * int(schema.get("minItems", 0))
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    if kind == "boolean":
        return True
    if kind == "string":
        return {
            "date-time": "2024-01-01T00:00:00Z",
            "date": "2024-01-01",
            "uri": "https://e.x/",
            "email": "a@b.c",
        }.get(schema.get("format", ""), "x" * max(1, schema.get("minLength", 1)))
    return None


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
    return Examples([_minimal(schema, schema.get("$defs", {}))], True)


# -- the judge ------------------------------------------------------------


@dataclass
class WireRequest:
    """An ApiCall as the wire sees it, in openapi-core's Request protocol."""

    host_url: str
    path: str
    method: str
    parameters: Any
    content_type: str
    body: bytes | None
    full_url_pattern: str = field(default="")


def _path_values(template: str, path: str) -> dict[str, str]:
    """The path parameters of ``path``, decoded (openapi-core matches the
    encoded path but would judge the encoded values)."""
    names: list[str] = []
    pattern = ""
    for literal, name in re.findall(r"([^{]*)(?:\{([^}]+)\})?", template):
        pattern += re.escape(literal)
        if name:
            names.append(name)
            pattern += "([^/]*)"
    match = re.fullmatch(pattern, path)
    assert match is not None, (template, path)
    return {n: unquote(v) for n, v in zip(names, match.groups(), strict=True)}


def wire(call: ApiCall, template: str) -> WireRequest:
    from openapi_core.datatypes import RequestParameters
    from werkzeug.datastructures import Headers, ImmutableMultiDict

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
    headers = {k: v for k, v in call.headers.items() if k.lower() != "content-type"}
    return WireRequest(
        f"{url.scheme}://{url.netloc}",
        url.path,
        call.method.lower(),
        RequestParameters(
            query=ImmutableMultiDict(query),
            header=Headers(headers),
            path=_path_values(template, url.path),
        ),
        content_type,
        body,
    )


_SEGMENT = re.compile(r"\[([^\[\]]*)\]")


def deep_object_loads(explode: bool, name: str, schema_type: str, location: Any) -> Any:
    """deepObject at any depth (``a[b][0]=v``), which openapi-core stops at one level
    of an object; numbered keys are list items unless the schema is an object."""
    found: list[tuple[list[str], Any]] = []
    for key in location:
        if key == name:
            return location[key]
        rest = key[len(name) :] if key.startswith(name + "[") else ""
        segments = _SEGMENT.findall(rest)
        if rest and "".join(f"[{s}]" for s in segments) == rest:
            found.append((segments, location[key]))
    if not found:
        raise KeyError(name)
    root: dict[str, Any] = {}
    for segments, value in found:
        node = root
        for segment in segments[:-1]:
            node = node.setdefault(segment, {})
        node[segments[-1]] = value

    def listed(node: Any, top: bool) -> Any:
        if not isinstance(node, dict):
            return node
        node = {k: listed(v, False) for k, v in node.items()}
        if node and all(k.isdigit() for k in node) and not (top and schema_type == "object"):
            return [node[k] for k in sorted(node, key=int)]
        return node

    return listed(root, True)


@cache
def judges(connector: str, base: str, deep: bool = True) -> tuple[Any, Any, str]:
    """(parameters validator, body validator, server URL) of a description;
    ``deep``: with :func:`deep_object_loads` (else openapi-core as it is)."""
    from openapi_core import Config, OpenAPI
    from openapi_core.deserializing.styles import StyleDeserializersFactory, style_deserializers
    from openapi_core.validation.request.validators import (
        V30RequestBodyValidator,
        V30RequestParametersValidator,
    )

    name = DESCRIPTIONS[connector][base]
    spec = json.loads(
        gzip.decompress((ROOT / "connectors" / connector / "_spec" / name).read_bytes())
    )
    app = OpenAPI.from_dict(spec, config=Config(spec_validator_cls=None))
    server = spec["servers"][0]["url"].rstrip("/")
    styles = StyleDeserializersFactory(
        V30RequestParametersValidator.schema_casters_factory,
        style_deserializers={**style_deserializers, "deepObject": deep_object_loads},
    )
    if not deep:
        return V30RequestParametersValidator(app.spec), V30RequestBodyValidator(app.spec), server
    return (
        V30RequestParametersValidator(app.spec, style_deserializers_factory=styles),
        V30RequestBodyValidator(app.spec, style_deserializers_factory=styles),
        server,
    )


def _causes(exc: BaseException) -> Iterator[Any]:
    """``exc``, its causes, and the schema errors they carry."""
    seen: BaseException | None = exc
    while seen is not None:
        yield seen
        yield from getattr(seen, "schema_errors", ())
        seen = seen.__cause__


def unjudged(exc: BaseException) -> str | None:
    """Why openapi-core could not judge (None: a verdict against the request)."""
    for cause in _causes(exc):
        name = type(cause).__name__
        if name == "DeserializeError":  # deepObject past one level, arrays in it
            return "deepObject"
        if name == "CastError":  # casting a form/deepObject string to a nested type
            return "cast"
        if str(getattr(cause, "message", "")).startswith("Tried to write read-only"):
            return "readOnly parameter schema"
        schema = getattr(cause, "schema", None)
        if (
            getattr(cause, "instance", 0) is None
            and isinstance(schema, dict)
            and schema.get("nullable")
            and "type" not in schema
        ):
            # OAS 3.0.3: ``nullable`` without ``type`` has no effect; the catalog
            # takes the description at its word (GitHub accepts these nulls)
            return "nullable without type"
    return None


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


def judge(connector: str, op: Any, call: ApiCall, tally: Tally, deep: bool = True) -> None:
    """openapi-core's verdict on ``call``, added to ``tally``. A verdict against
    that only the test's own deepObject decoder reached is not counted as one:
    the stock judge is asked, and its DeserializeError is the answer."""
    params_validator, body_validator, _ = judges(connector, op.base, deep)
    request = wire(call, op.path)
    try:
        errors = [*params_validator.iter_errors(request), *body_validator.iter_errors(request)]
    except Exception as exc:  # openapi-core's own failure
        tally.unjudged[op.name] = f"internal {type(exc).__name__}"
        return
    errors = [e for e in errors if type(e).__name__ != "MissingRequestBody"]  # optional body
    if not errors:
        tally.oracle_valid += 1
        return
    for error in errors:
        if type(error).__name__ == "ServerNotFound":
            tally.wrong_host.add(op.name)
            return
        why = unjudged(error)
        if (
            type(error).__name__ == "MissingRequiredParameter"
            and getattr(error, "location", "") == "path"
            and getattr(error, "name", "") not in op.params
        ):  # the description has overlapping templates; openapi-core took the other
            why = "overlapping path templates"
        if why is None and deep:
            stock = Tally()
            judge(connector, op, call, stock, deep=False)
            if not stock.failures:  # only the test's own decoder objects
                detail = "; ".join(str(getattr(c, "message", c))[-160:] for c in _causes(error))
                tally.unjudged[op.name] = "deepObject, decoded by the test: " + detail
                return
        if why is None:
            detail = "; ".join(str(getattr(c, "message", c))[:200] for c in _causes(error))
            tally.failures.append(f"{op.name}: {detail}")
            return
        tally.unjudged[op.name] = why
