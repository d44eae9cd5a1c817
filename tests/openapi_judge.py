"""openapi-core as an independent judge of requests against the providers'
stripped descriptions (``connectors/<c>/_spec/*.openapi.json.gz``).

Shared by the in-process fidelity check (``tests/unit/catalog_oracle.py``:
requests the catalog builds) and the spec-driven responder
(``tests/specresponder.py``: requests as they arrive over HTTP).

openapi-core decodes deepObject one level deep only, so the judge gets a
full bracket decoder (:func:`deep_object_loads`); a verdict against that
only this decoder reaches is not taken as one (:func:`verdict` asks the
stock judge). :func:`unjudged` names the other limits.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parents[1]

#: per connector: which description judges an operation of which ``base``
DESCRIPTIONS: dict[str, dict[str, str]] = {
    "stripe": {"": "stripe.openapi.json.gz", "files": "stripe.openapi.json.gz"},
    "github": {"": "github.openapi.json.gz", "uploads": "github.openapi.json.gz"},
    "twilio": {
        "": "twilio_api_v2010.openapi.json.gz",
        "messaging": "twilio_messaging_v1.openapi.json.gz",
    },
}


@cache
def description(connector: str, base: str) -> dict[str, Any]:
    name = DESCRIPTIONS[connector][base]
    path = ROOT / "connectors" / connector / "_spec" / name
    loaded: dict[str, Any] = json.loads(gzip.decompress(path.read_bytes()))
    return loaded


@dataclass
class WireRequest:
    """A request as the wire carries it, in openapi-core's Request protocol."""

    host_url: str
    path: str
    method: str
    parameters: Any
    content_type: str
    body: bytes | None
    template: str
    full_url_pattern: str = field(default="")


def path_values(template: str, path: str) -> dict[str, str] | None:
    """The path parameters of ``path`` under ``template``, decoded (openapi-core
    matches the encoded path but would judge the encoded values); None: no match."""
    names: list[str] = []
    pattern = ""
    for literal, name in re.findall(r"([^{]*)(?:\{([^}]+)\})?", template):
        pattern += re.escape(literal)
        if name:
            names.append(name)
            pattern += "([^/]*)"
    match = re.fullmatch(pattern, path)
    if match is None:
        return None
    return {n: unquote(v) for n, v in zip(names, match.groups(), strict=True)}


def wire_request(
    server: str,
    method: str,
    path: str,
    template: str,
    query: list[tuple[str, str]],
    headers: Mapping[str, str],
    content_type: str,
    body: bytes | None,
) -> WireRequest:
    """``path`` (encoded, no query) under ``template`` as openapi-core reads it."""
    from openapi_core.datatypes import RequestParameters
    from werkzeug.datastructures import Headers, ImmutableMultiDict

    values = path_values(template, path)
    assert values is not None, (template, path)
    return WireRequest(
        server,
        path,
        method.lower(),
        RequestParameters(
            query=ImmutableMultiDict(query),
            header=Headers({k: v for k, v in headers.items() if k.lower() != "content-type"}),
            path=values,
        ),
        content_type,
        body,
        template,
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
def _writable(connector: str, base: str) -> dict[str, Any]:
    """The description with ``readOnly`` dropped from the schemas of parameters.

    ``readOnly`` is about properties of bodies; openapi-core applies it to a
    parameter's own schema too and refuses every value ("Tried to write
    read-only") when a description (GitHub's ``alert-number``) shares a
    response schema with a parameter. Bodies keep their ``readOnly``."""
    spec = description(connector, base)
    components = dict(spec.get("components", {}))
    schemas = components.get("schemas", {})

    def writable(param: Any) -> Any:
        if not isinstance(param, dict) or "schema" not in param:
            return param
        schema = param["schema"]
        if "$ref" in schema and schema["$ref"].startswith("#/components/schemas/"):
            schema = schemas[schema["$ref"].rsplit("/", 1)[-1]]
        if not schema.get("readOnly"):
            return param
        return {**param, "schema": {k: v for k, v in schema.items() if k != "readOnly"}}

    def item_of(item: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in item.items():
            if key == "parameters":
                value = [writable(p) for p in value]
            elif isinstance(value, dict) and "parameters" in value:
                value = {**value, "parameters": [writable(p) for p in value["parameters"]]}
            out[key] = value
        return out

    parameters = components.get("parameters", {})
    components["parameters"] = {k: writable(v) for k, v in parameters.items()}
    paths = {t: item_of(item) for t, item in spec["paths"].items()}
    return {**spec, "components": components, "paths": paths}


@cache
def judges(connector: str, base: str, template: str, deep: bool = True) -> tuple[Any, Any]:
    """(parameters validator, body validator) of one path of a description:
    the caller knows the operation, and openapi-core finding a path among
    hundreds costs more than judging. ``deep``: with :func:`deep_object_loads`
    (else openapi-core as it is)."""
    from openapi_core import Config, OpenAPI
    from openapi_core.deserializing.styles import StyleDeserializersFactory, style_deserializers
    from openapi_core.validation.request.validators import (
        V30RequestBodyValidator,
        V30RequestParametersValidator,
    )

    spec = _writable(connector, base)
    one = {**spec, "paths": {template: spec["paths"][template]}}
    app = OpenAPI.from_dict(one, config=Config(spec_validator_cls=None))
    if not deep:
        return V30RequestParametersValidator(app.spec), V30RequestBodyValidator(app.spec)
    styles = StyleDeserializersFactory(
        V30RequestParametersValidator.schema_casters_factory,
        style_deserializers={**style_deserializers, "deepObject": deep_object_loads},
    )
    return (
        V30RequestParametersValidator(app.spec, style_deserializers_factory=styles),
        V30RequestBodyValidator(app.spec, style_deserializers_factory=styles),
    )


def server(connector: str, base: str) -> str:
    url: str = description(connector, base)["servers"][0]["url"]
    return url.rstrip("/")


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


@dataclass(frozen=True)
class Verdict:
    """openapi-core's answer on one request: ``failure`` (a verdict against it),
    ``unjudged`` (why it could not judge), ``wrong_host``; all empty: valid."""

    failure: str | None = None
    unjudged: str | None = None
    wrong_host: bool = False

    @property
    def valid(self) -> bool:
        return self.failure is None and self.unjudged is None and not self.wrong_host


def verdict(
    connector: str, base: str, request: WireRequest, params: Collection[str], deep: bool = True
) -> Verdict:
    """openapi-core's verdict on ``request`` (``params``: the operation's
    parameter names). A verdict against that only the test's own deepObject
    decoder reached is not counted as one: the stock judge is asked, and its
    DeserializeError is the answer."""
    params_validator, body_validator = judges(connector, base, request.template, deep)
    try:
        errors = [*params_validator.iter_errors(request), *body_validator.iter_errors(request)]
    except Exception as exc:  # openapi-core's own failure
        return Verdict(unjudged=f"internal {type(exc).__name__}")
    errors = [e for e in errors if type(e).__name__ != "MissingRequestBody"]  # optional body
    for error in errors:
        if type(error).__name__ == "ServerNotFound":
            return Verdict(wrong_host=True)
        why = unjudged(error)
        if (
            why is None
            and deep
            and verdict(connector, base, request, params, deep=False).failure is None
        ):  # only the test's own decoder objects
            detail = "; ".join(str(getattr(c, "message", c))[-160:] for c in _causes(error))
            return Verdict(unjudged="deepObject, decoded by the test: " + detail)
        if why is None:
            detail = "; ".join(str(getattr(c, "message", c))[:200] for c in _causes(error))
            return Verdict(failure=detail)
        return Verdict(unjudged=why)
    return Verdict()
