"""Typed params per provider: ``connectors/<c>/params.py``, generated.

One ``TypedDict`` per described operation (``CheckoutSessionsCreate`` for
``checkout.sessions.create``) with its required keys ``Required``, enums as
``Literal``, nested objects as their own ``TypedDict`` s, ``anyOf``/``oneOf``
as unions; what the schema does not pin down is ``Any``. They give an editor
completion and a type checker the description's names and shapes; the
values are still checked at run time by the catalog. A params dict of such
a type is what ``CommandClient.send`` takes.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["render_params_module"]

_MAX_DEPTH = 4


def _class_name(command: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[._]", command) if part)


def _ident(name: str) -> bool:
    return name.isidentifier() and not keyword.iskeyword(name)


class _Writer:
    def __init__(self, schemas: Mapping[str, Any]) -> None:
        self.schemas = schemas
        self.classes: list[str] = []
        self.names: set[str] = set()

    def resolve(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        seen = 0
        while "$ref" in schema and seen < 20:
            schema = self.schemas[schema["$ref"].rsplit("/", 1)[-1]]
            seen += 1
        return schema

    def type_of(self, schema: Any, owner: str, depth: int) -> str:
        if not isinstance(schema, Mapping):
            return "Any"
        schema = self.resolve(schema)
        nullable = " | None" if schema.get("nullable") else ""
        if "enum" in schema:
            values = [v for v in schema["enum"] if isinstance(v, str | int | bool) or v is None]
            shown = ", ".join(repr(v) for v in values if v is not None)
            return (f"Literal[{shown}]" if shown else "Any") + nullable
        for key in ("anyOf", "oneOf"):
            if key in schema:
                parts = [self.type_of(s, f"{owner}{i}", depth) for i, s in enumerate(schema[key])]
                unique = list(dict.fromkeys(parts))
                return ("Any" if "Any" in unique else " | ".join(unique)) + nullable
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), None)
        if kind == "string":
            return "str" + nullable
        if kind == "integer":
            return "int" + nullable
        if kind == "number":
            return "float" + nullable
        if kind == "boolean":
            return "bool" + nullable
        if kind == "array":
            return (
                f"list[{self.type_of(schema.get('items', {}), owner + 'Item', depth)}]" + nullable
            )
        props = schema.get("properties")
        if (
            (kind == "object" or props)
            and isinstance(props, Mapping)
            and props
            and depth < _MAX_DEPTH
        ):
            return (
                self.typed_dict(owner, props, set(schema.get("required") or ()), depth + 1)
                + nullable
            )
        if kind == "object":
            return "dict[str, Any]" + nullable
        return "Any"

    def typed_dict(
        self, name: str, props: Mapping[str, Any], required: set[str], depth: int
    ) -> str:
        while name in self.names:
            name += "_"
        self.names.add(name)
        fields = []
        for key, sub in props.items():
            hint = self.type_of(sub, name + _class_name(key), depth)
            fields.append((key, f"Required[{hint}]" if key in required else hint))
        if all(_ident(k) for k, _ in fields):
            body = "\n".join(f"    {k}: {t}" for k, t in fields) or "    pass"
            self.classes.append(f"class {name}(TypedDict, total=False):\n{body}\n")
        else:  # a key Python cannot spell as an attribute
            items = ", ".join(f"{k!r}: {t}" for k, t in fields)
            self.classes.append(f"{name} = TypedDict({name!r}, {{{items}}}, total=False)\n")
        return name


def render_params_module(connector: str, catalog: Mapping[str, Any]) -> str:
    """The source of ``connectors/<connector>/params.py`` for ``catalog``."""
    writer = _Writer(catalog["schemas"])
    index = []
    for command, entry in catalog["operations"].items():
        props: dict[str, Any] = {}
        required: set[str] = set()
        for param in entry["params"]:
            if param["in"] == "cookie":
                continue
            props[param["name"]] = param.get("schema") or {}
            if param.get("required") and param["name"] != "AccountSid":
                required.add(param["name"])
        body = entry.get("body")
        if body is not None:
            schema = writer.resolve(body.get("schema") or {})
            fields = schema.get("properties")
            if isinstance(fields, Mapping) and fields:
                for key, sub in fields.items():
                    props.setdefault(key, sub)
                required |= set(schema.get("required") or ()) - {"AccountSid"}
            else:
                props["body"] = body.get("schema") or {}
                if body.get("required"):
                    required.add("body")
        name = writer.typed_dict(_class_name(command), props, required, 1)
        index.append(f"    {command!r}: {name},")
    header = (
        f'"""Typed params of every described {connector} command (generated by '
        "``make specs``; do not edit).\n\n"
        f"``PARAMS`` maps each command name (without ``{connector}.``) to its TypedDict.\n"
        '"""\n\n'
        "# ruff: noqa: E501\n"
        "from typing import Any, Literal, Required, TypedDict\n\n"
    )
    return (
        header
        + "\n\n".join(writer.classes)
        + "\n\nPARAMS: dict[str, type] = {\n"
        + "\n".join(index)
        + "\n}\n"
    )
