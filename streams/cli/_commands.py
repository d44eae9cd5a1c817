"""``switchboard commands list|show``: the command types, without reading source."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Mapping
from typing import Any

import click

from core.apicall import safety
from core.catalog import BODY, CatalogCommands, ExpandCheck, closest
from core.connector import CommandParams, Connector, unknown_type_message

from ._common import EXIT_USAGE, fail

__all__ = ["commands_group"]


def _registry() -> dict[str, Connector]:
    import connectors

    return dict(connectors.registry())


def _rows(connector: Connector) -> list[dict[str, Any]]:
    commands = connector.commands
    hand = getattr(commands, "hand_written", commands)
    rows = []
    for name, model in hand.items():
        endpoint = getattr(model, "endpoint", None)
        method = endpoint.method if endpoint is not None else model.http_method()
        rows.append(
            {
                "type": f"{connector.name}.{name}",
                "method": method or "-",
                "path": endpoint.path if endpoint is not None else "-",
                "safety": safety(method, connector.idempotency),
                "source": "hand-written",
                "deprecated": False,
            }
        )
    if isinstance(commands, CatalogCommands):
        catalog = commands.catalog
        for name in catalog.names():
            if name in hand:
                continue
            op = catalog.operation(name)
            rows.append(
                {
                    "type": f"{connector.name}.{name}",
                    "method": op.method,
                    "path": op.path,
                    "safety": safety(op.method, connector.idempotency),
                    "source": "described",
                    "deprecated": op.deprecated,
                }
            )
    return sorted(rows, key=lambda r: r["type"])


@click.group("commands")
def commands_group() -> None:
    """List the command types and show their params."""


@commands_group.command("list")
@click.argument("provider", required=False)
@click.option("--search", "word", default=None, help="Only types or paths containing WORD.")
@click.option("--json", "as_json", is_flag=True, help="A JSON array instead of a table.")
def list_cmd(provider: str | None, word: str | None, as_json: bool) -> None:
    """Every command type (of PROVIDER): method, path, and how a repeat is prevented
    (read, idempotent, key = provider idempotency key, ledger = the sink's ledger)."""
    registry = _registry()
    if provider is not None and provider not in registry:
        near = closest(provider, set(registry))
        hint = f"did you mean {' or '.join(near)}? " if near else ""
        fail(
            f"unknown provider {provider!r}; {hint}known: {', '.join(sorted(registry))}", EXIT_USAGE
        )
    rows = [
        r for name in sorted(registry) if provider in (None, name) for r in _rows(registry[name])
    ]
    if word:
        needle = word.lower()
        rows = [r for r in rows if needle in r["type"].lower() or needle in r["path"].lower()]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    width = max((len(r["type"]) for r in rows), default=4)
    for r in rows:
        mark = " (hand-written)" if r["source"] == "hand-written" else ""
        mark += " (deprecated)" if r["deprecated"] else ""
        click.echo(f"{r['type']:<{width}}  {r['method']:<6}  {r['safety']:<10}  {r['path']}{mark}")
    click.echo(f"{len(rows)} command type(s)")


def _summary(schema: Any, defs: Mapping[str, Any], depth: int = 0) -> str:
    if not isinstance(schema, Mapping) or depth > 3:
        return "any"
    if "$ref" in schema:
        return _summary(defs.get(schema["$ref"].rsplit("/", 1)[-1], {}), defs, depth + 1)
    if "enum" in schema:
        return "one of " + ", ".join(json.dumps(v) for v in schema["enum"][:12])
    if "allOf" in schema:
        return _summary(schema["allOf"][0], defs, depth + 1)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " | ".join(dict.fromkeys(_summary(s, defs, depth + 1) for s in schema[key]))
    kind = schema.get("type", "any")
    if isinstance(kind, list):
        kind = "/".join(kind)
    if kind == "array":
        return f"array of {_summary(schema.get('items', {}), defs, depth + 1)}"
    limits = [
        f"{k}={schema[k]}"
        for k in ("minLength", "maxLength", "pattern", "format", "minimum", "maximum")
        if k in schema
    ]
    return f"{kind} ({', '.join(limits)})" if limits else str(kind)


def _host(connector: Connector, base: str) -> str:
    """Where an operation of another host goes with the default settings."""
    commands = connector.commands
    try:
        if isinstance(commands, CatalogCommands):
            return commands.catalog.base_url(base, connector.settings())
    except (ValueError, KeyError):  # settings that cannot be made without values
        pass
    return f"the {base!r} host of the connector's settings"


@commands_group.command("show")
@click.argument("command_type")
@click.option("--json", "as_json", is_flag=True, help="The params' JSON Schema.")
def show_cmd(command_type: str, as_json: bool) -> None:
    """Every param of COMMAND_TYPE: where it goes, its type, required, default, values."""
    registry = _registry()
    prefix, _, name = command_type.partition(".")
    connector = registry.get(prefix)
    if connector is None or name not in connector.commands:
        known = [t for c in registry.values() for t in c.command_types()]
        fail(unknown_type_message(command_type, known), EXIT_USAGE)
    assert connector is not None
    model: type[CommandParams] = connector.commands[name]
    schema = model.model_json_schema()
    if as_json:
        click.echo(json.dumps(schema, indent=2))
        return
    op = getattr(model, "operation", None)
    method = op.method if op is not None else model.http_method()
    endpoint = getattr(model, "endpoint", None)
    path = op.path if op is not None else endpoint.path if endpoint is not None else ""
    described = getattr(model, "described", None)
    if not method and described is not None:
        method, path = described.operation.method, described.operation.path
    click.echo(f"{command_type}  {method or '-'} {path}".rstrip())
    click.echo(f"safety: {safety(method, connector.idempotency)}")
    if op is not None and op.base:
        click.echo(f"host:   {_host(connector, op.base)}")
    if op is not None and op.doc:
        click.echo(f"docs:   {op.doc}")
    version = model.api_version() or getattr(
        getattr(connector.commands, "catalog", None), "api_version", None
    )
    if isinstance(version, str):
        click.echo(f"api version: {version}")
    click.echo("params:")
    _print_params(schema, op, in_path=_placeholders(path))
    if described is not None:
        dschema = described.model_json_schema()
        renames = getattr(model, "renames", {})
        shown = {renames.get(n, n) for n in schema.get("properties") or ()}
        click.echo(
            "or, when any param is not one of those above, the described operation's "
            "(validated and sent as described; the fields above keep their checks):"
        )
        _print_params(dschema, described.operation, skip=shown)
    check = getattr(op if op is not None else getattr(described, "operation", None), "expand", None)
    if check is not None:
        _show_expand(check)


def _placeholders(path: str) -> frozenset[str]:
    return frozenset(s[1:-1] for s in path.split("/") if s.startswith("{") and s.endswith("}"))


def _print_params(
    schema: Mapping[str, Any],
    op: Any,
    skip: set[str] | None = None,
    in_path: frozenset[str] = frozenset(),
) -> None:
    required = set(schema.get("required") or ())
    defs = schema.get("$defs") or {}
    for param, sub in (schema.get("properties") or {}).items():
        if skip and param in skip:
            continue
        where = "path" if param in in_path else "body"
        if op is not None and param in op.params:
            where = op.params[param].location
        elif op is not None and param == BODY and not op.flat:
            where = "whole body"
        flags = "required" if param in required else "optional"
        default = (
            f", default {json.dumps(sub['default'])}"
            if isinstance(sub, Mapping) and "default" in sub
            else ""
        )
        click.echo(f"  {param:<28} {where:<6} {flags:<8} {_summary(sub, defs)}{default}")
        if op is not None and isinstance(sub, Mapping) and sub.get("description"):
            # ours (a file's shape): the descriptions' own prose is stripped
            click.echo(f"  {'':<28} {sub['description']}")


def _show_expand(check: ExpandCheck) -> None:
    """The valid entries of the operation's expansion param (two levels when the
    first has one name only, as a list response's ``data``)."""
    levels = 1 if len(check.names(1)) != 1 else 2
    names = check.names(levels)
    deeper = [n for n in check.names(levels + 1) if n.count(".") == levels]
    example = f" (e.g. {deeper[0]})" if deeper else ""
    depth = check.expansions.depth
    click.echo(f"{check.param}: any of these; a dot path goes deeper, to {depth} segments{example}")
    text = ", ".join(names) if names else "none (nothing in the response can be expanded)"
    click.echo(textwrap.fill(text, width=96, initial_indent="  ", subsequent_indent="  "))
