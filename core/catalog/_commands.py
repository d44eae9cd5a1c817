"""A connector's catalog: every described operation as a command type.

:class:`Catalog` reads a connector's ``_spec/catalog.json.gz`` (made by
``make specs``) the first time it is asked for anything, so importing a
connector or running ``switchboard --help`` costs nothing. :class:`CatalogCommands`
is the ``Connector.commands`` mapping: the connector's hand-written models
first (they keep today's names, wire behaviour and stricter checks), then
one :class:`OperationParams` class per operation, made when first used.

A hand-written model whose name is also a described operation takes the
operation's other params too (:func:`overlay`): params in the hand-written
shape are validated and sent as before; params beyond it are validated by
the description (the hand-written checks still apply to the fields it
knows) and sent as the description says.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator, Mapping
from importlib import resources
from typing import Any, ClassVar, Self, cast

from pydantic import ConfigDict, ValidationError

from core.apicall import ApiCall, CallContext
from core.connector import CommandParams
from core.errors import FatalConfigError

from ._expand import Expansions
from ._export import params_schema
from ._operation import Operation
from ._schema import ParamsError, SchemaSet

__all__ = ["Catalog", "CatalogCommands", "OperationParams", "overlay"]

BaseUrls = Callable[[Any], Mapping[str, str]]
Defaults = Callable[[Any], Mapping[str, Any]]


class OperationParams(CommandParams):
    """Params of one described operation (see :mod:`core.catalog._operation`).

    Validated by the operation's compiled schema, not by pydantic fields:
    the values are kept as given (``model_extra``).
    """

    model_config = ConfigDict(extra="allow")
    operation: ClassVar[Operation]
    catalog: ClassVar[Catalog]

    @classmethod
    def model_validate(
        cls,
        obj: Any,
        *,
        strict: bool | None = None,
        extra: Any = None,
        from_attributes: bool | None = None,
        context: Any | None = None,
        by_alias: bool | None = None,
        by_name: bool | None = None,
    ) -> Self:
        if isinstance(obj, cls):
            return obj
        return cast(Self, cls.model_construct(**cls.operation.validate(obj)))

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return cls.catalog.params_schema(cls.operation.name)

    @classmethod
    def http_method(cls) -> str | None:
        return cls.operation.method

    @classmethod
    def api_version(cls) -> str | None:
        """Set for an operation on another API than the connector's main one
        (a second API served from another base URL); the connector's pin otherwise."""
        versions = cls.catalog.api_version
        if isinstance(versions, dict) and cls.operation.base:
            return str(versions[cls.operation.base])
        return None

    def values(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    def api_call(self, ctx: CallContext) -> ApiCall:
        op = self.operation
        values = self.values()
        missing = [n for n in self.catalog.defaulted if n in op.params and values.get(n) is None]
        if missing:
            defaults = self.catalog.defaults(ctx.settings)
            for name in missing:
                if defaults.get(name) is None:
                    raise FatalConfigError(
                        f"{self.catalog.package}: {name} is neither in the params nor in the "
                        "settings; set it in the connector's settings"
                    )
                values[name] = defaults[name]
        return op.api_call(values, self.catalog.base_url(op.base, ctx.settings))


class Catalog:
    """The described operations of one connector, loaded on first use.

    ``package`` holds ``_spec/catalog.jsonl.gz``; ``base_urls(settings)``
    maps an operation's ``base`` (e.g. ``messaging``) to the URL from the
    connector's settings (the default base is the client's own);
    ``defaulted`` params (e.g. an account id in every path) may be left
    out of a command, and then come from ``defaults(settings)``.
    """

    def __init__(
        self,
        package: str,
        *,
        base_urls: BaseUrls | None = None,
        defaulted: frozenset[str] = frozenset(),
        defaults: Defaults | None = None,
    ) -> None:
        self.package = package
        self._base_urls = base_urls
        self.defaulted = defaulted
        self._defaults = defaults
        self._lines: _Lines | None = None
        self._schemas: SchemaSet | None = None
        self._expansions: Expansions | None = None
        self._operations: dict[str, Operation] = {}
        self._classes: dict[str, type[OperationParams]] = {}

    def _load(self) -> _Lines:
        if self._lines is None:
            raw = resources.files(self.package).joinpath("_spec/catalog.jsonl.gz").read_bytes()
            self._lines = _Lines(gzip.decompress(raw))
        return self._lines

    @property
    def header(self) -> dict[str, Any]:
        return self._load().header

    @property
    def name(self) -> str:
        return str(self.header["name"])

    @property
    def api_version(self) -> Any:
        """The pinned version (a mapping when the catalog spans several APIs: one per ``base``)."""
        return self.header["api_version"]

    @property
    def schemas(self) -> Mapping[str, Any]:
        return self._load().schemas

    @property
    def expansions(self) -> Expansions | None:
        """What expansion params may hold (None: the catalog does not say)."""
        rule = self.header.get("expand")
        if rule is not None and self._expansions is None:
            lines = self._load()
            self._expansions = Expansions(rule["param"], int(rule["depth"]), lines.expansions)
        return self._expansions

    def names(self) -> list[str]:
        return list(self._load().operations)

    def __contains__(self, name: object) -> bool:
        return name in self._load().operations

    def operation(self, name: str) -> Operation:
        op = self._operations.get(name)
        if op is None:
            lines = self._load()
            if self._schemas is None:
                self._schemas = SchemaSet(lines.schemas)
            op = Operation(
                name,
                lines.operations[name],
                self._schemas,
                optional=self.defaulted,
                expansions=self.expansions,
            )
            self._operations[name] = op
        return op

    def params_class(self, name: str) -> type[OperationParams]:
        cls = self._classes.get(name)
        if cls is None:
            op = self.operation(name)
            title = "".join(part.title() for part in name.replace(".", "_").split("_"))
            cls = type(
                title,
                (OperationParams,),
                {"operation": op, "catalog": self, "__module__": __name__, "__doc__": op.doc},
            )
            self._classes[name] = cls
        return cls

    def defaults(self, settings: Any) -> Mapping[str, Any]:
        return {} if self._defaults is None or settings is None else self._defaults(settings)

    def base_url(self, base: str, settings: Any) -> str:
        if not base:
            return ""
        if self._base_urls is None or settings is None:
            raise ParamsError("params", f"no base URL for the {base!r} API in this connector")
        return self._base_urls(settings)[base]

    def params_schema(self, name: str) -> dict[str, Any]:
        """A JSON Schema (2020-12) of the command's params, refs under ``$defs``."""
        op = self.operation(name)
        return params_schema(f"{self.name}.{name}", self.schemas, op)


class _Entries(Mapping[str, Any]):
    """Entries of one kind, parsed when asked for (and kept)."""

    def __init__(self, raw: bytes, spans: dict[str, tuple[int, int]]) -> None:
        self._raw = raw
        self._spans = spans
        self._parsed: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        value = self._parsed.get(name)
        if value is None:
            start, end = self._spans[name]
            value = self._parsed[name] = json.loads(self._raw[start:end])
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self._spans)

    def __len__(self) -> int:
        return len(self._spans)

    def __contains__(self, name: object) -> bool:
        return name in self._spans


class _Lines:
    """A ``catalog.jsonl`` held as bytes with an index of its lines."""

    def __init__(self, raw: bytes) -> None:
        first = raw.index(b"\n")
        self.header: dict[str, Any] = json.loads(raw[:first])
        spans: dict[bytes, dict[str, tuple[int, int]]] = {b"O": {}, b"S": {}, b"E": {}}
        pos = first + 1
        while pos < len(raw):
            end = raw.index(b"\n", pos)
            name_end = raw.index(b" ", pos + 2)
            spans[raw[pos : pos + 1]][raw[pos + 2 : name_end].decode()] = (name_end + 1, end)
            pos = end + 1
        self.operations = _Entries(raw, spans[b"O"])
        self.schemas = _Entries(raw, spans[b"S"])
        self.expansions = _Entries(raw, spans[b"E"])


def _field_names(model: type[CommandParams]) -> frozenset[str]:
    names = set()
    for name, info in model.model_fields.items():
        names.add(name)
        if info.alias:
            names.add(info.alias)
        if isinstance(info.validation_alias, str):
            names.add(info.validation_alias)
    return frozenset(names)


def overlay(hand: type[CommandParams], described: type[OperationParams]) -> type[CommandParams]:
    """``hand`` (a hand-written model) that also takes ``described``'s params.

    Params that name only ``hand``'s fields are ``hand``'s (today's checks
    and wire behaviour). Params with any other name are validated by the
    description and sent as it says, and the fields of ``hand`` among them
    still pass ``hand``'s checks (its stricter rules hold either way).
    Its instances are ``hand``'s or ``described``'s (``accepts``).
    """
    known = _field_names(hand)
    renames = _path_renames(hand, described.operation.path)

    def model_validate(cls: type[CommandParams], /, obj: Any, **kwargs: Any) -> Any:
        if isinstance(obj, hand | described) or not isinstance(obj, Mapping):
            return hand.model_validate(obj, **kwargs)
        if set(obj) <= known:
            return hand.model_validate(obj, **kwargs)
        params = described.model_validate({renames.get(k, k): v for k, v in obj.items()})
        mine = {k: v for k, v in obj.items() if k in known}
        if mine:
            _check_known(hand, mine)
        return params

    return type(
        hand.__name__,
        (hand,),
        {
            "__module__": hand.__module__,
            "__doc__": hand.__doc__,
            "__qualname__": hand.__qualname__,
            "__annotations__": {
                "described": ClassVar[type[OperationParams]],
                "renames": ClassVar[dict[str, str]],
                "accepts": ClassVar[tuple[type[CommandParams], ...]],
            },
            "model_validate": classmethod(model_validate),
            "described": described,
            "renames": renames,
            "accepts": (hand, described),
        },
    )


def _path_renames(hand: type[CommandParams], path: str) -> dict[str, str]:
    """Path params ``hand`` names otherwise than the description (same segment)."""
    endpoint = hand.endpoint
    if endpoint is None:
        return {}
    mine, theirs = endpoint.path.split("/"), path.split("/")
    if len(mine) != len(theirs):
        return {}
    return {
        a[1:-1]: b[1:-1]
        for a, b in zip(mine, theirs, strict=True)
        if a.startswith("{") and b.startswith("{") and a != b
    }


def _check_known(hand: type[CommandParams], given: Mapping[str, Any]) -> None:
    """``hand``'s checks on the fields it knows; a field it requires that the
    description does not is not demanded here (the description judged it)."""
    try:
        hand.model_validate(given)
    except ValidationError as exc:
        errors = [e for e in exc.errors() if e.get("type") != "missing"]
        if errors:
            first = errors[0]
            where = ".".join(["params", *(str(p) for p in first["loc"])])
            raise ParamsError(where, str(first["msg"])) from None


class CatalogCommands(Mapping[str, type[CommandParams]]):
    """``Connector.commands``: hand-written models, then every catalog operation."""

    def __init__(self, catalog: Catalog, hand_written: Mapping[str, type[CommandParams]]) -> None:
        self.catalog = catalog
        self.hand_written = dict(hand_written)
        self._overlays: dict[str, type[CommandParams]] = {}

    def __getitem__(self, name: str) -> type[CommandParams]:
        found = self.hand_written.get(name)
        if found is not None:
            if name not in self.catalog:
                return found
            combined = self._overlays.get(name)
            if combined is None:
                combined = overlay(found, self.catalog.params_class(name))
                self._overlays[name] = combined
            return combined
        if name in self.catalog:
            return self.catalog.params_class(name)
        raise KeyError(name)

    def get(self, name: str, default: Any = None) -> Any:  # no KeyError round trip
        try:
            return self[name]
        except KeyError:
            return default

    def __iter__(self) -> Iterator[str]:
        yield from self.hand_written
        for name in self.catalog.names():
            if name not in self.hand_written:
                yield name

    def __len__(self) -> int:
        return len(self.hand_written) + sum(
            1 for n in self.catalog.names() if n not in self.hand_written
        )

    def __contains__(self, name: object) -> bool:
        return name in self.hand_written or name in self.catalog
