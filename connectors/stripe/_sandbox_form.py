"""The Stripe sandbox's wire: form bodies in, Stripe's error answers out.

Stripe takes form-encoded bodies with bracket nesting (``items[0][price]``,
``metadata[k]``), which :func:`decode_form` turns back into the nested dicts
and lists Stripe parses. A handler refuses a call by raising
:class:`Invalid` (400, or 404 for an unknown resource by path); the sandbox
answers it as Stripe does, ``{"error": {"type", "code", "param",
"message"}}`` (:func:`stripe_error`). A handler that answers without acting
returns :class:`Unchanged`, so no side effect is counted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from connectors._sandbox import json_response

__all__ = [
    "Invalid",
    "Unchanged",
    "decode_form",
    "integer",
    "merge_metadata",
    "missing",
    "stripe_error",
]

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


def decode_form(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Bracket-nested form pairs back to nested dicts/lists (what Stripe parses)."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        m = _KEY.match(key)
        if m is None:
            root[key] = value
            continue
        parts = [m.group(1), *re.findall(r"\[([^\[\]]*)\]", m.group(2))]
        node = root
        for part in parts[:-1]:
            nxt = node.get(part)
            if not isinstance(nxt, dict):
                nxt = node[part] = {}
            node = nxt
        node[parts[-1]] = value
    result: dict[str, Any] = _lists(root)
    return result


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    fixed = {k: _lists(v) for k, v in node.items()}
    if fixed and all(k.isdigit() for k in fixed):
        return [fixed[k] for k in sorted(fixed, key=int)]
    return fixed


@dataclass(frozen=True)
class Unchanged:
    """A handler's answer that did not act (no side effect to count)."""

    obj: dict[str, Any]


class Invalid(Exception):
    """A call Stripe refuses: 400 with ``code`` and ``param`` (``status`` may be 404)."""

    def __init__(self, message: str, param: str | None = None, code: str = "parameter_invalid"):
        super().__init__(message)
        self.param, self.code, self.status = param, code, 400


def missing(kind: str, ident: str, param: str | None = None) -> Invalid:
    """``No such <kind>``: 404 when the path names it, 400 when a parameter does."""
    err = Invalid(f"No such {kind}: '{ident}'", param, "resource_missing")
    err.status = 404 if param is None else 400
    return err


def integer(data: dict[str, Any], name: str, required: bool = False) -> int | None:
    """The integer parameter ``name`` (form values are strings), None if absent."""
    raw = data.get(name)
    if raw is None:
        if required:
            raise Invalid(f"Missing required param: {name}.", name, "parameter_missing")
        return None
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise Invalid(f"Invalid integer: {raw}", name, "parameter_invalid_integer") from None


def merge_metadata(obj: dict[str, Any], data: dict[str, Any]) -> None:
    """Stripe's metadata update: ``""`` clears all, a key set to ``""`` is removed."""
    meta = data.get("metadata")
    if meta == "":
        obj["metadata"] = {}
    elif isinstance(meta, dict):
        for key, value in meta.items():
            if value == "":
                obj["metadata"].pop(key, None)
            else:
                obj["metadata"][key] = value


def stripe_error(status: int, message: str, code: str | None, param: str | None) -> web.Response:
    """Stripe's error answer (``invalid_request_error``)."""
    error: dict[str, Any] = {"type": "invalid_request_error", "message": message}
    if code:
        error["code"] = code
    if param:
        error["param"] = param
    return json_response({"error": error}, status=status)
