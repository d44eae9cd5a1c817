"""Catalog operations as JSON Schemas of their params (for ``schema export``,
``commands show`` and the tests' generators)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ._operation import Operation
from ._schema import refs_of

__all__ = ["params_schema", "to_json_schema"]

_DIALECT = "https://json-schema.org/draft/2020-12/schema"
_NOT_A_SEGMENT: dict[str, Any] = {"enum": ["", ".", ".."]}
_EMPTY: dict[str, Any] = {"enum": ["", []]}
_NOT_IN_A_FORM: dict[str, Any] = {"enum": [None, [], {}]}


def to_json_schema(node: Any) -> Any:
    """An OpenAPI 3.0 schema node as JSON Schema: ``nullable`` as a type,
    boolean exclusive bounds as numbers, refs under ``#/$defs``."""
    if isinstance(node, list):
        return [to_json_schema(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: to_json_schema(v) for k, v in node.items() if not k.startswith("x-")}
    if "$ref" in out:
        out["$ref"] = "#/$defs/" + out["$ref"].rsplit("/", 1)[-1]
    if out.pop("nullable", False):
        if "type" in out:
            types = out["type"] if isinstance(out["type"], list) else [out["type"]]
            out["type"] = [*types, "null"]
        elif "enum" in out:
            out["enum"] = [*out["enum"], None]
        elif any(k in out for k in ("anyOf", "oneOf", "allOf", "$ref")):
            out = {"anyOf": [out, {"type": "null"}]}
    for bound, key in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        if out.get(key) is True and bound in out:
            out[key] = out.pop(bound)
        elif out.get(key) is False:
            out.pop(key)
    return out


def params_schema(title: str, schemas: Mapping[str, Any], op: Operation) -> dict[str, Any]:
    """The JSON Schema of ``op``'s params (``schemas``: the catalog's components)."""
    properties = {name: to_json_schema(op.field_schema(name)) for name in op.field_names()}
    # what the wire cannot carry (see Operation._sendable)
    for name, param in op.params.items():
        if param.location in ("path", "query"):
            unsent = _NOT_A_SEGMENT if param.location == "path" else _EMPTY
            properties[name] = {"allOf": [properties[name], {"not": unsent}]}
    if op.media in ("form", "multipart"):
        for name in op.body_required_fields - op.file_fields:  # a file is never empty
            properties[name] = {"allOf": [properties[name], {"not": _NOT_IN_A_FORM}]}
    schema: dict[str, Any] = {
        "$schema": _DIALECT,
        "title": title,
        "type": "object",
        "properties": properties,
        "required": op.required_names(),
        "additionalProperties": False,
    }
    if op.flat:
        resolved = op.body_schema
        while "$ref" in resolved:
            resolved = schemas[resolved["$ref"].rsplit("/", 1)[-1]]
        extra = {
            k: to_json_schema(v) for k, v in resolved.items() if k in ("anyOf", "oneOf", "allOf")
        }
        schema.update(extra)
    names = set(refs_of(json.dumps(schema)))
    defs: dict[str, Any] = {}
    while names:
        name = names.pop()
        if name in defs:
            continue
        defs[name] = to_json_schema(schemas[name])
        names |= set(refs_of(json.dumps(defs[name]))) - set(defs)
    if defs:
        schema["$defs"] = defs
    return schema
