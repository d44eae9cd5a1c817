"""Event payload schemas from a provider's description, for ``dataschema``.

:class:`EventSchemas` answers, for an Event type, the name of the schema
describing its ``data`` (``names`` of the described payloads are a small
list; the description itself is read only when a schema is exported), the
URI an Event carries in CloudEvents' ``dataschema``
(``urn:switchboard:schema:event:<connector>:<name>``) and the JSON Schema
itself (``$id`` = that URI), which ``schema export`` writes.

How an Event type finds its payload is the connector's ``lookup(event
type without the connector prefix, names) -> name | None``; ``payload(doc,
name)`` gives the payload's schema node in the description.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Mapping
from functools import cached_property
from importlib import resources
from typing import Any

from ._export import to_json_schema
from ._schema import refs_of

__all__ = ["EventSchemas", "schema_uri"]

#: Event types whose URI is remembered (a provider has a few hundred)
_MAX_CACHED = 4096

Lookup = Callable[[str, frozenset[str]], str | None]
Payload = Callable[[Mapping[str, Any], str], Mapping[str, Any]]


def schema_uri(connector: str, name: str) -> str:
    return f"urn:switchboard:schema:event:{connector}:{name}"


class EventSchemas:
    """The described event payloads of one connector (see the module docstring)."""

    def __init__(
        self,
        package: str,
        connector: str,
        description: str,
        *,
        lookup: Lookup,
        payload: Payload,
    ) -> None:
        self.package = package
        self.connector = connector
        self.description = description
        self._lookup = lookup
        self._payload = payload
        self._uris: dict[str, str | None] = {}  # per Event type, asked for every Event

    def _read(self, file: str) -> bytes:
        return resources.files(self.package).joinpath(f"_spec/{file}").read_bytes()

    @cached_property
    def doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(gzip.decompress(self._read(self.description)))
        return doc

    @cached_property
    def names(self) -> frozenset[str]:
        """The described payloads, from the small index ``make specs`` writes."""
        index = self._read(f"{self.description.split('.')[0]}.events.txt").decode()
        return frozenset(index.split())

    def name_of(self, event_type: str) -> str | None:
        """The payload name for a full Event type (``<connector>.order.paid``)."""
        prefix = f"{self.connector}."
        if not event_type.startswith(prefix):
            return None
        return self._lookup(event_type[len(prefix) :], self.names)

    def uri(self, event_type: str) -> str | None:
        try:
            return self._uris[event_type]
        except KeyError:
            pass
        name = self.name_of(event_type)
        uri = None if name is None else schema_uri(self.connector, name)
        if len(self._uris) < _MAX_CACHED:  # types come from signed deliveries; bounded anyway
            self._uris[event_type] = uri
        return uri

    def schema(self, name: str) -> dict[str, Any]:
        """The JSON Schema (2020-12) of the payload ``name``, refs under ``$defs``."""
        components = self.doc.get("components", {}).get("schemas", {})
        root = to_json_schema(self._payload(self.doc, name))
        schema: dict[str, Any] = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": schema_uri(self.connector, name),
            **root,
        }
        pending = set(refs_of(json.dumps(root)))
        defs: dict[str, Any] = {}
        while pending:
            ref = pending.pop()
            if ref in defs:
                continue
            defs[ref] = to_json_schema(components[ref])
            pending |= set(refs_of(json.dumps(defs[ref]))) - set(defs)
        if defs:
            schema["$defs"] = defs
        return schema
