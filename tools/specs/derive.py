"""Structure-only derivatives of the provider descriptions, and the catalogs.

:func:`strip` keeps what a machine checks (types, formats, enums, lengths,
required, composition, encodings, refs, the operations' doc URLs) and drops
the vendor's prose (descriptions, summaries, titles, examples, tags).
:func:`catalog` turns a stripped description into the runtime catalog a
connector loads: per command name its method, path, parameters, body
schema and (when it is not JSON) the media type of its answer, plus the
component schemas those refer to.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from .names import METHODS

__all__ = ["FORMAT", "catalog", "refs_in", "strip"]

FORMAT = 1

#: prose and presentation, dropped wherever they are a keyword
_PROSE = frozenset({"description", "summary", "title", "example", "examples", "tags"})
#: keys whose values are name -> node maps (a property called "description" stays)
_NAME_MAPS = frozenset(
    {
        "properties",
        "patternProperties",
        "schemas",
        "paths",
        "responses",
        "parameters",
        "headers",
        "content",
        "encoding",
        "requestBodies",
        "securitySchemes",
        "webhooks",
        "x-webhooks",
        "callbacks",
        "dependentProperties",
    }
)
#: vendor extensions kept (structure: expandable fields, Twilio's tree)
_KEEP_X = frozenset(
    {"x-expandableFields", "x-resourceId", "x-stripeBypassValidation", "x-twilio", "x-stripeEvent"}
)


def strip(node: Any, *, names: bool = False) -> Any:
    """``node`` without prose; ``names``: ``node`` is a name -> node map."""
    if isinstance(node, list):
        return [strip(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if not names:
            if key in _PROSE:
                continue
            if key == "info" and isinstance(value, dict):
                out["info"] = {"version": value.get("version")}
                continue
            if key.startswith("x-") and key not in _KEEP_X:
                continue
            if key == "externalDocs":
                if isinstance(value, dict) and "url" in value:
                    out["externalDocs"] = {"url": value["url"]}
                continue
            if key == "x-twilio" and isinstance(value, dict):
                value = {k: v for k, v in value.items() if k != "defaultOutputProperties"}
        out[key] = strip(value, names=not names and key in _NAME_MAPS)
    return out


_REF = re.compile(r"^#/components/(\w+)/(.+)$")


def refs_in(node: Any) -> Iterator[tuple[str, str]]:
    """Every ``(section, name)`` a ``$ref`` in ``node`` points at."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and (m := _REF.match(ref)):
            yield m.group(1), m.group(2)
        for value in node.values():
            yield from refs_in(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs_in(item)


def _resolve(doc: Mapping[str, Any], node: Any) -> Any:
    """A parameter or request body with its own top-level ``$ref`` followed."""
    while isinstance(node, dict) and "$ref" in node:
        m = _REF.match(node["$ref"])
        if m is None:
            raise ValueError(f"unsupported $ref {node['$ref']!r}")
        node = doc["components"][m.group(1)][m.group(2)]
    return node


def _params(doc: Mapping[str, Any], item: Mapping[str, Any], op: Mapping[str, Any]) -> list[Any]:
    merged: dict[tuple[str, str], Any] = {}
    for raw in [*item.get("parameters", []), *op.get("parameters", [])]:
        param = _resolve(doc, raw)
        merged[(param["in"], param["name"])] = {
            k: param[k]
            for k in ("name", "in", "required", "schema", "style", "explode", "deprecated")
            if k in param
        }
    return list(merged.values())


def _body(doc: Mapping[str, Any], method: str, op: Mapping[str, Any]) -> dict[str, Any] | None:
    if method == "get" or "requestBody" not in op:
        return None
    body = _resolve(doc, op["requestBody"])
    media, content = next(iter(body["content"].items()))
    out = {
        "media": media,
        "required": bool(body.get("required")),
        "schema": content.get("schema", {}),
    }
    if content.get("encoding"):
        out["encoding"] = content["encoding"]
    return out


def _answer(doc: Mapping[str, Any], op: Mapping[str, Any]) -> str | None:
    """The media type of the operation's first 2xx answer when it is not JSON
    (GitHub's ``markdown/render`` answers text/html), ``redirect`` when it
    answers with a 3xx only (a download link); None for JSON or no body."""
    responses = op.get("responses") or {}
    codes = sorted(k for k in responses if str(k).startswith("2"))
    if not codes:
        return "redirect" if any(str(k).startswith("3") for k in responses) else None
    answer = responses[codes[0]]
    if "$ref" in answer:
        answer = doc["components"]["responses"][answer["$ref"].rsplit("/", 1)[-1]]
    media = list(answer.get("content") or {})
    if not media or any("json" in m for m in media):
        return None
    return str(media[0])


def _host(url: str) -> str:
    return url.rstrip("/")


def _base(
    doc: Mapping[str, Any],
    item: Mapping[str, Any],
    op: Mapping[str, Any],
    base: str,
    hosts: Mapping[str, str],
    command: str,
) -> str:
    """The ``base`` of an operation: ``base`` when it is served where the
    description's first server is, else its host's name in ``hosts``
    (an operation's ``servers`` beat its path's)."""
    servers = op.get("servers") or item.get("servers")
    if not servers:
        return base
    url = _host(servers[0]["url"])
    if url == _host(doc["servers"][0]["url"]):
        return base
    if url not in hosts:
        raise ValueError(
            f"{command} is served from {url}, which has no base name: add it to the "
            "catalog's hosts (and a setting for it to the connector)"
        )
    return hosts[url]


def catalog(
    doc: Mapping[str, Any],
    *,
    name: str,
    api_version: str,
    source: str,
    namer: Callable[[str, str, Mapping[str, Any]], str],
    base: str = "",
    hosts: Mapping[str, str] | None = None,
    doc_url: Callable[[str, Mapping[str, Any]], str | None] = lambda _n, op: None,
) -> dict[str, Any]:
    """The runtime catalog of a stripped description.

    ``namer(method, path, op)`` names each operation; ``base`` names the
    server the operations go to when it is not the connector's default;
    ``hosts`` names the other servers single operations are served from
    (URL -> base name, e.g. ``{"https://files.example.com": "files"}``): an
    operation whose ``servers`` name one gets that ``base``, and a host not
    in ``hosts`` is an error (a request must not go to the wrong host);
    ``doc_url(name, op)`` links to the provider's page for it.
    """
    ops: dict[str, Any] = {}
    for path, item in doc["paths"].items():
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            command = namer(method, path, op)
            if command in ops:
                raise ValueError(
                    f"two operations named {command!r}: {ops[command]['op']} and {path}"
                )
            entry: dict[str, Any] = {
                "op": op.get("operationId", f"{method} {path}"),
                "method": method.upper(),
                "path": path,
                "params": _params(doc, item, op),
            }
            body = _body(doc, method, op)
            if body is not None:
                entry["body"] = body
            if op_base := _base(doc, item, op, base, hosts or {}, command):
                entry["base"] = op_base
            if answer := _answer(doc, op):
                entry["answer"] = answer
            if url := (op.get("externalDocs") or {}).get("url") or doc_url(command, op):
                entry["doc"] = url
            if op.get("deprecated"):
                entry["deprecated"] = True
            ops[command] = entry
    schemas: dict[str, Any] = {}
    pending = [ref for ref in refs_in(ops) if ref[0] == "schemas"]
    while pending:
        _, ref = pending.pop()
        if ref in schemas:
            continue
        schemas[ref] = doc["components"]["schemas"][ref]
        pending.extend(r for r in refs_in(schemas[ref]) if r[0] == "schemas")
    return {
        "format": FORMAT,
        "name": name,
        "api_version": api_version,
        "source": source,
        "operations": dict(sorted(ops.items())),
        "schemas": dict(sorted(schemas.items())),
    }
