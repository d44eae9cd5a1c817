"""Commands from the providers' own API descriptions.

A connector with a ``_spec/catalog.json.gz`` (``make specs``) offers every
operation of its provider's OpenAPI description as a command type, named
after the provider's SDK: :class:`Catalog` loads it on first use,
:class:`CatalogCommands` is the connector's ``commands`` mapping (its
hand-written models first), :class:`Operation` checks params against the
description and builds the request, :class:`ParamsError` names the JSON
path of the first problem; :class:`Expansions` and :class:`ExpandCheck`
check the dot paths of an expansion param (``expand``) against what the
response can expand. :class:`EventSchemas` gives an Event type its
payload's schema (CloudEvents ``dataschema``).
"""

from ._commands import Catalog, CatalogCommands, OperationParams
from ._events import EventSchemas, schema_uri
from ._expand import ExpandCheck, Expansions
from ._operation import BODY, Operation, Param
from ._schema import ParamsError, closest, compile_schema

__all__ = [
    "BODY",
    "Catalog",
    "CatalogCommands",
    "EventSchemas",
    "ExpandCheck",
    "Expansions",
    "Operation",
    "OperationParams",
    "Param",
    "ParamsError",
    "closest",
    "compile_schema",
    "schema_uri",
]
