"""One described operation: its params, how they are checked, how they are sent.

A command's params are one flat object, as the providers' SDKs take them:
the path and query parameters and the body's fields side by side
(``{"customer": "cus_1", "email": "a@b.c"}`` for ``POST
/v1/customers/{customer}``). A body that is not an object with named
fields (a JSON array, a text) is the param ``body``. Where a body field
has the name of a path parameter the value goes in the path, as Octokit
does.

Encoding follows the description: path values percent-encoded as one
segment (:func:`core.apicall.fill_path`); query values per ``style``
(``deepObject``: ``created[gte]=1``; ``form``: repeated keys, or commas
when ``explode`` is false); form bodies per field encoding (``deepObject``:
bracket nesting, else repeated keys); JSON bodies as JSON; multipart
bodies as form fields in parts, a file field as a file part (given as
text or base64: :mod:`core.catalog._files`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from core.apicall import ApiCall, BodyKind, fill_path, path_value_problem
from core.encoding import FilePart, form_encode

from ._expand import ExpandCheck, Expansions
from ._files import FILE_SCHEMA, file_part, is_file_field
from ._form import UNSENT, as_sent
from ._schema import Check, ParamsError, SchemaSet, closest

__all__ = ["BODY", "Operation", "Param"]

BODY = "body"
Location = Literal["path", "query", "header"]
Media = Literal["json", "form", "multipart", "text", "bytes"]
Answer = Literal["json", "text", "bytes", "redirect"]

_MEDIA: dict[str, Media] = {
    "application/json": "json",
    "application/x-www-form-urlencoded": "form",
    "multipart/form-data": "multipart",
    "text/plain": "text",
    "application/octet-stream": "bytes",
}


@dataclass(frozen=True)
class Param:
    """A path, query or header parameter."""

    name: str
    location: Location
    required: bool
    schema: Mapping[str, Any]
    style: str
    explode: bool


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _styled(name: str, value: Any, style: str, explode: bool) -> list[tuple[str, str]]:
    """``name=value`` as query or form pairs in ``style``."""
    if style == "deepObject":
        return form_encode({name: value})
    if isinstance(value, list | tuple):
        if explode:
            return [(name, _scalar(v)) for v in value]
        return [(name, ",".join(_scalar(v) for v in value))]
    if isinstance(value, Mapping):
        if explode:
            return [(str(k), _scalar(v)) for k, v in value.items()]
        return [(name, ",".join(f"{k},{_scalar(v)}" for k, v in value.items()))]
    return [(name, _scalar(value))]


def _answer_kind(media: str | None) -> Answer:
    if not media:
        return "json"
    if media == "redirect":
        return "redirect"
    if media.startswith("text/") or media.endswith(("/xml", "+xml")):
        return "text"
    return "bytes"


_INT64 = range(-(2**63), 2**63)


def _check_wire(value: Any, where: str, bracketed: bool) -> None:
    """What the wire cannot carry although the schema allows it: integers
    beyond 64 bits (no provider API takes them), and, where keys become
    ``a[b][c]``, a key that is empty or holds a bracket (``a[]`` is an
    array append to a form parser, ``a[b]c`` another field)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value not in _INT64:
            raise ParamsError(where, "integer out of the 64-bit range the API takes")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if bracketed and (key == "" or "[" in key or "]" in key):
                raise ParamsError(
                    f"{where}.{key}",
                    "a key that is empty or has [ or ] cannot be sent in a form body; rename it",
                )
            _check_wire(item, f"{where}.{key}", bracketed)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_wire(item, f"{where}[{i}]", bracketed)


class Operation:
    """A catalog entry made usable: ``validate`` then ``api_call``."""

    def __init__(
        self,
        name: str,
        entry: Mapping[str, Any],
        schemas: SchemaSet,
        *,
        optional: frozenset[str] = frozenset(),
        expansions: Expansions | None = None,
    ) -> None:
        self.name = name
        self.operation_id: str = entry["op"]
        self.method: str = entry["method"]
        self.path: str = entry["path"]
        self.base: str = entry.get("base", "")
        self.doc: str | None = entry.get("doc")
        self.deprecated = bool(entry.get("deprecated"))
        #: what a success carries (the catalog's ``answer``): ``redirect``
        #: when the description answers with a 3xx only, ``text`` when with
        #: text (text/*, XML), ``bytes`` when with another media type (a PDF)
        self.answer: Answer = _answer_kind(entry.get("answer"))
        self._schemas = schemas
        self.params: dict[str, Param] = {}
        for raw in entry["params"]:
            location = raw["in"]
            if location == "cookie":
                continue
            self.params[raw["name"]] = Param(
                raw["name"],
                location,
                (bool(raw.get("required")) or location == "path") and raw["name"] not in optional,
                raw.get("schema") or {},
                raw.get("style") or ("simple" if location in ("path", "header") else "form"),
                bool(raw.get("explode", raw.get("style", "form") == "form")),
            )
        body = entry.get("body")
        self.media: Media | None = None
        self.body_required = False
        self.body_schema: Mapping[str, Any] = {}
        self.encoding: Mapping[str, Any] = {}
        self.body_fields: dict[str, Mapping[str, Any]] = {}
        self.flat = False
        self.body_required_fields: frozenset[str] = frozenset()
        self.file_fields: frozenset[str] = frozenset()
        if body is not None:
            self.media = _MEDIA.get(body["media"], "bytes")
            self.body_required = bool(body.get("required"))
            self.body_schema = body.get("schema") or {}
            self.encoding = body.get("encoding") or {}
            resolved = self._resolved(self.body_schema)
            props = resolved.get("properties")
            if self.media in ("json", "form", "multipart") and isinstance(props, Mapping) and props:
                self.flat = True
                self.body_fields = {k: v for k, v in props.items() if k not in self.params}
                required = frozenset(resolved.get("required") or ())
                self.body_required_fields = required - set(self.params)
                if self.media == "multipart":
                    self._take_files(resolved)
        self._checks: dict[str, Check] | None = None
        self._body_check: Check | None = None
        #: the entries the expansion param may hold (None: not checked past its schema)
        self.expand: ExpandCheck | None = None
        if expansions is not None and entry.get("expand") is not None:
            self.expand = expansions.check(entry["expand"])

    def _take_files(self, resolved: Mapping[str, Any]) -> None:
        """File fields take a file as JSON can carry it (:data:`FILE_SCHEMA`)."""
        files = {k for k, v in self.body_fields.items() if is_file_field(self._resolved(v))}
        if not files:
            return
        self.file_fields = frozenset(files)
        fields = self.body_fields
        self.body_fields = {k: FILE_SCHEMA if k in files else v for k, v in fields.items()}
        props = resolved["properties"]
        self.body_schema = {
            **resolved,
            "properties": {k: FILE_SCHEMA if k in files else v for k, v in props.items()},
        }

    def _resolved(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        while "$ref" in schema:
            schema = self._schemas.schemas[schema["$ref"].rsplit("/", 1)[-1]]
        return schema

    # -- what the params are ------------------------------------------------

    def field_names(self) -> list[str]:
        """Every top-level param name, path parameters first."""
        names = list(self.params)
        if self.flat:
            names.extend(self.body_fields)
        elif self.media is not None:
            names.append(BODY)
        return names

    def required_names(self) -> list[str]:
        names = [p.name for p in self.params.values() if p.required]
        if self.flat:
            names.extend(sorted(self.body_required_fields))
        elif self.media is not None and self.body_required:
            names.append(BODY)
        return names

    def field_schema(self, name: str) -> Mapping[str, Any]:
        if name in self.params:
            return self.params[name].schema
        if name == BODY and not self.flat:
            return self.body_schema
        return self.body_fields[name]

    # -- checking -----------------------------------------------------------

    def _compiled(self) -> dict[str, Check]:
        if self._checks is None:
            self._checks = {n: self._schemas.compile(p.schema) for n, p in self.params.items()}
            self._body_check = self._schemas.compile(self.body_schema)
        return self._checks

    def validate(self, params: Any, where: str = "params") -> dict[str, Any]:
        """``params`` checked against the description (a copy); raises ParamsError."""
        if not isinstance(params, Mapping):
            raise ParamsError(where, f"must be a JSON object, got {type(params).__name__}")
        checks = self._compiled()
        for key in params:
            if (
                key not in self.params
                and key not in self.body_fields
                and not (key == BODY and self.media is not None and not self.flat)
            ):
                known = self.field_names()
                near = closest(str(key), known)
                hint = f"did you mean {' or '.join(near)}? " if near else ""
                listed = ", ".join(known[:25]) + (" ..." if len(known) > 25 else "")
                raise ParamsError(
                    f"{where}.{key}", f"unknown param; {hint}known: {listed or 'none'}"
                )
        for name in self.required_names():
            if name not in params:
                raise ParamsError(f"{where}.{name}", "required")
        for name, check in checks.items():
            if name in params:
                if params[name] is None and not self.params[name].required:
                    continue
                check(params[name], f"{where}.{name}")
                self._sendable(self.params[name], params[name], f"{where}.{name}")
        if self._body_check is not None and self.media is not None:
            if self.flat:
                body = {k: v for k, v in params.items() if k in self.body_fields}
                if self.media in ("form", "multipart"):
                    for name in self.body_required_fields & set(body):
                        if not self._form_pairs(name, body[name]):
                            raise ParamsError(
                                f"{where}.{name}", f"{UNSENT}: give it at least one field or item"
                            )
                if body or self.body_required:
                    self._body_check(body, where)
                    if self.media in ("form", "multipart"):
                        self._check_as_sent(body, where)
            elif BODY in params:
                self._body_check(params[BODY], f"{where}.{BODY}")
        for key, value in params.items():
            bracketed = (self.media in ("form", "multipart") and key in self.body_fields) or (
                key in self.params and self.params[key].style == "deepObject"
            )
            _check_wire(value, f"{where}.{key}", bracketed)
        if self.expand is not None and self.expand.param in params:
            self.expand(params[self.expand.param], f"{where}.{self.expand.param}")
        return dict(params)

    def _check_as_sent(self, body: Mapping[str, Any], where: str) -> None:
        """The form body as the provider reads it (empties left out) fits too."""
        assert self._body_check is not None
        sent = as_sent(body, where)
        if sent == body:
            return
        try:
            self._body_check(sent, where)
        except ParamsError as exc:
            if exc.message == "required":
                fix = "give it at least one field or item, or leave out the object holding it"
                raise ParamsError(exc.path, f"{UNSENT}: {fix}") from None
            raise ParamsError(
                exc.path,
                f"{exc.message}, once the empty values a form body does not carry are left "
                "out: give them a value or leave them out",
            ) from None

    @staticmethod
    def _sendable(param: Param, value: Any, where: str) -> None:
        """A value the wire keeps: a whole path segment, no empty query value
        (the descriptions allow none: OpenAPI's ``allowEmptyValue`` is false)."""
        if param.location == "path":
            problem = path_value_problem(param.name, _scalar(value))
            if problem:
                raise ParamsError(where, problem)
        elif param.location == "query":
            pairs = _styled(param.name, value, param.style, param.explode)
            # an exploded list of one "" is a value of an array (not of a
            # string-or-array, which reads ``?a=`` as an empty string)
            listed = (
                param.explode
                and isinstance(value, list | tuple)
                and param.schema.get("type") == "array"
            )
            empty = (
                pairs == [(param.name, "")]
                if param.style == "deepObject"
                else any(v == "" for _, v in pairs)
            )
            if empty and not listed:
                raise ParamsError(where, "an empty value is not allowed in the query")

    def _form_pairs(self, key: str, value: Any) -> list[tuple[str, str]]:
        if value is None:
            return []
        enc = self.encoding.get(key) or {}
        return _styled(key, value, enc.get("style", "form"), bool(enc.get("explode", True)))

    # -- sending ------------------------------------------------------------

    def api_call(self, values: Mapping[str, Any], base_url: str = "") -> ApiCall:
        """The request for validated ``values`` (no idempotency key: ClientSetup adds it)."""
        path_values = {}
        query: list[tuple[str, str]] = []
        headers: dict[str, str] = {}
        for name, param in self.params.items():
            if name not in values or values[name] is None:
                continue
            if param.location == "path":
                path_values[name] = _scalar(values[name])
            elif param.location == "query":
                query.extend(_styled(name, values[name], param.style, param.explode))
            else:
                headers[name] = _scalar(values[name])
        path = base_url.rstrip("/") + fill_path(self.path, path_values)
        answer = self.answer

        def call(kind: BodyKind, body: Any, extra: Mapping[str, str] | None = None) -> ApiCall:
            sent = {**headers, **(extra or {})}
            pairs = query or None
            return ApiCall(self.method, path, kind, body, params=pairs, headers=sent, answer=answer)

        if self.media is None:
            return call("none", None)
        if self.flat:
            body: Any = {k: v for k, v in values.items() if k in self.body_fields}
        else:
            body = values.get(BODY)
        if self.media == "json":
            return call("json" if body is not None or self.body_required else "none", body)
        if self.media == "multipart" and isinstance(body, Mapping):
            parts: list[tuple[str, str | FilePart]] = []
            for key, value in body.items():
                if key in self.file_fields and value is not None:
                    parts.append((key, file_part(value)))
                else:
                    parts.extend(self._form_pairs(key, value))
            return call("multipart", parts)
        if self.media in ("form", "multipart") and isinstance(body, Mapping):
            pairs: list[tuple[str, str]] = []
            for key, value in body.items():
                pairs.extend(self._form_pairs(key, value))
            return call("form", pairs)
        content = body if isinstance(body, bytes) else _scalar(body).encode() if body else b""
        media = "text/plain" if self.media == "text" else "application/octet-stream"
        return call("content", content, {"Content-Type": media})

    def __repr__(self) -> str:
        return f"<Operation {self.name} {self.method} {self.path}>"
