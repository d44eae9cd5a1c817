"""What an operation's ``expand`` may name, from Stripe's ``x-expandableFields``.

Stripe marks on each resource schema the fields ``expand`` can fill in
(``x-expandableFields``; such a field is ``anyOf`` the id and the object(s),
or an object holding more of them). An ``expand`` entry is a dot path: its
first segment an expandable field of the operation's response resource
(``data`` of a list response, then a field of its items), each further one
an expandable field of the resource(s) the one before expands to, at most
four segments (docs.stripe.com/api/expanding_objects).

:func:`add_expansions` writes that into a catalog, structure only:

- per operation with an ``expand`` param, ``"expand"``: its roots, the
  nodes its response is;
- ``"expansions"``: node -> {field -> nodes it expands to}, for every
  named resource reached that has expandable fields (``E`` lines);
- the header's ``"expand"``: the param's name and the depth limit.

A node is a component name, or the field map itself for an unnamed schema
(a list response: ``{"data": ["customer"]}``); a resource with no
expandable fields of its own is left out (a field expanding only to such
resources has ``[]``: expandable, nothing below it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["DEPTH", "PARAM", "UNMARKED", "add_expansions"]

PARAM = "expand"
#: segments of one entry (``data.payment_intent.customer.default_source``)
DEPTH = 4
_MARK = "x-expandableFields"
#: fields left out of a response unless expanded, which only the prose says
#: (``number``: "omitted unless you explicitly request it with the `expand`
#: parameter"); tests/unit/test_expand.py finds them in the description
UNMARKED: dict[str, tuple[str, ...]] = {"issuing.card": ("cvc", "number")}

Node = str | dict[str, Any]


class _Walker:
    def __init__(self, doc: Mapping[str, Any]) -> None:
        self.schemas: Mapping[str, Any] = doc["components"]["schemas"]
        self.named: dict[str, dict[str, list[Node]]] = {}
        self._following: set[str] = set()

    def fields(self, schema: Mapping[str, Any], name: str = "") -> dict[str, list[Node]]:
        props = schema.get("properties") or {}
        marked = [*(schema.get(_MARK) or ()), *UNMARKED.get(name, ())]
        return {f: self.targets(props.get(f) or {}) for f in sorted(marked)}

    def targets(self, schema: Mapping[str, Any]) -> list[Node]:
        """The nodes a value of ``schema`` may be (ids and scalars: none)."""
        ref = schema.get("$ref")
        if isinstance(ref, str):
            name = ref.rsplit("/", 1)[-1]
            target = self.schemas[name]
            if not target.get(_MARK):
                if name in self._following:
                    return []
                self._following.add(name)  # a polymorphic one (anyOf bank_account | card)
                try:
                    return self.targets(target)
                finally:
                    self._following.discard(name)
            if name not in self.named:
                self.named[name] = {}  # recursion: filled below
                self.named[name] = self.fields(target, name)
            return [name]
        out: list[Node] = []
        for key in ("anyOf", "oneOf", "allOf"):
            for sub in schema.get(key) or ():
                out.extend(t for t in self.targets(sub) if t not in out)
        if schema.get("type") == "array":
            out.extend(t for t in self.targets(schema.get("items") or {}) if t not in out)
        if schema.get(_MARK):
            out.append(self.fields(schema))
        return out


def _takes_expand(doc: Mapping[str, Any], entry: Mapping[str, Any]) -> bool:
    if any(p["name"] == PARAM and p["in"] == "query" for p in entry["params"]):
        return True
    schema = (entry.get("body") or {}).get("schema") or {}
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return PARAM in (schema.get("properties") or {})


def _response_schema(op: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for code, response in sorted(op.get("responses", {}).items()):
        if code.startswith("2"):
            media = (response.get("content") or {}).get("application/json") or {}
            schema = media.get("schema")
            return schema if isinstance(schema, Mapping) else None
    return None


def add_expansions(doc: Mapping[str, Any], cat: dict[str, Any]) -> None:
    """Put into ``cat`` (made from ``doc``) what its ``expand`` params may name."""
    walker = _Walker(doc)
    for entry in cat["operations"].values():
        if not _takes_expand(doc, entry):
            continue
        schema = _response_schema(doc["paths"][entry["path"]][entry["method"].lower()])
        if schema is not None:
            entry["expand"] = walker.targets(schema)
    cat["expand"] = {"param": PARAM, "depth": DEPTH}
    cat["expansions"] = dict(sorted(walker.named.items()))
