"""Deterministic minimal values of a JSON Schema (2020-12, refs under ``$defs``).

``minimal(schema)`` gives the smallest plain value the schema accepts that
this walk can find: required properties only, the first enum value, the
shortest string meeting its format, pattern and length, the number nearest
1 within its bounds, the first ``anyOf``/``oneOf`` branch that validates.
Every candidate is checked by ``jsonschema`` (an independent validator),
so what comes out is valid or is reported as not found (:class:`NoValue`).
No randomness: the same schema gives the same value on every run.

Used for command params (``tests/integration/test_catalog_sink.py``) and
for the responses of the spec-driven responder (``tests/specresponder.py``).
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterator, Mapping
from re import _parser as sre
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

__all__ = ["Minimal", "NoValue", "minimal", "string_of_pattern", "wrong_value"]

#: strings meeting a format (formats openapi-core or the providers check)
FORMATS: dict[str, str] = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "00:00:00Z",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "endpoint": "https://example.com/",
    "uri-reference": "https://example.com/",
    "email": "a@example.com",
    "currency": "usd",
    "decimal": "1",
    "phone-number": "+15005550006",
    "iso-country-code": "US",
    "http-method": "GET",
    "twiml": "<Response/>",
    "repo.nwo": "octo/repo",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "ipv4": "127.0.0.1",
    "hostname": "example.com",
}

_MAX_DEPTH = 24
_CHARS = "a0A-_."


class NoValue(ValueError):
    """No candidate of the walk satisfies the schema."""


def string_of_pattern(pattern: str) -> str:
    """The shortest string of a (simple) regular expression: the first branch,
    the fewest repeats, the first character of each class."""
    return "".join(_emit(sre.parse(pattern)))


def _emit(parsed: Any) -> Iterator[str]:
    for op, arg in parsed:
        name = str(op)
        if name == "LITERAL":
            yield chr(arg)
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, _high, sub = arg
            for _ in range(low):
                yield from _emit(sub)
        elif name in ("SUBPATTERN", "ATOMIC_GROUP"):
            yield from _emit(arg[-1])
        elif name == "BRANCH":
            yield from _emit(arg[1][0])
        elif name == "IN":
            yield _first_in(arg)
        elif name == "ANY":
            yield "a"
        elif name == "CATEGORY":
            yield _category(str(arg))
        elif name == "NOT_LITERAL":
            yield "a" if arg != ord("a") else "b"
        # AT (anchors), ASSERT: nothing to emit


def _category(name: str) -> str:
    return {"CATEGORY_DIGIT": "0", "CATEGORY_SPACE": " "}.get(name, "a")


def _first_in(items: list[tuple[Any, Any]]) -> str:
    if items and str(items[0][0]) == "NEGATE":
        banned = {chr(a) for op, a in items[1:] if str(op) == "LITERAL"}
        return next(c for c in _CHARS if c not in banned)
    op, arg = items[0]
    if str(op) == "RANGE":
        return chr(arg[0])
    if str(op) == "CATEGORY":
        return _category(str(arg))
    return chr(arg)


class Minimal:
    """Minimal values of the schemas under one root (its ``$defs``)."""

    def __init__(
        self, root: Mapping[str, Any], *, max_depth: int = _MAX_DEPTH, filled: bool = False
    ) -> None:
        self.defs: Mapping[str, Any] = root.get("$defs") or {}
        self.max_depth = max_depth
        #: no empty object or array below the top (a form body drops empties)
        self.filled = filled
        self._validators: dict[str, Draft202012Validator] = {}

    def valid(self, schema: Any, value: Any) -> bool:
        key = json.dumps(schema, sort_keys=True)
        validator = self._validators.get(key)
        if validator is None:
            document = schema if isinstance(schema, bool) else {**schema, "$defs": self.defs}
            validator = self._validators[key] = Draft202012Validator(document)
        try:
            validator.validate(value)
        except ValidationError:
            return False
        except RecursionError:
            return True  # too deep to check here; the judge downstream decides
        return True

    def value(self, schema: Any, depth: int = 0) -> Any:
        """The first candidate ``schema`` accepts; raises :class:`NoValue`."""
        for candidate in itertools.islice(self.candidates(schema, depth), 12):
            if depth >= self.max_depth or self.valid(schema, candidate):
                return candidate
        raise NoValue(json.dumps(schema)[:200])

    def _resolve(self, schema: Any) -> Any:
        while isinstance(schema, Mapping) and "$ref" in schema:
            schema = self.defs[schema["$ref"].rsplit("/", 1)[-1]]
        return schema

    def candidates(self, schema: Any, depth: int = 0) -> Iterator[Any]:
        schema = self._resolve(schema)
        if schema is True or not isinstance(schema, Mapping) or not schema:
            yield "x"
            return
        if "const" in schema:
            yield schema["const"]
            return
        if "enum" in schema:
            yield from sorted(schema["enum"], key=lambda v: v is None)
            return
        for key in ("anyOf", "oneOf"):
            if schema.get(key):
                rest = {k: v for k, v in schema.items() if k != key}
                for branch in schema[key]:
                    yield from self._branch(rest, branch, depth)
                return
        if schema.get("allOf"):
            yield from self._all_of(schema, depth)
            return
        yield from self._typed(schema, depth)

    def _branch(self, rest: Mapping[str, Any], branch: Any, depth: int) -> Iterator[Any]:
        try:
            merged = {**rest, "allOf": [branch]} if rest else branch
            yield self.value(merged, depth + 1)
        except (NoValue, RecursionError):
            return

    def _all_of(self, schema: Mapping[str, Any], depth: int) -> Iterator[Any]:
        parts = [self._resolve(p) for p in schema["allOf"]]
        rest = {k: v for k, v in schema.items() if k != "allOf"}
        positive = [p for p in [rest, *parts] if isinstance(p, Mapping) and set(p) - {"not"}]
        if len(positive) == 1:
            yield from self.candidates(positive[0], depth + 1)
            return
        merged: dict[str, Any] = {}
        props: dict[str, Any] = {}
        required: list[str] = []
        for part in positive:
            if any(k in part for k in ("anyOf", "oneOf", "allOf", "$ref")):
                yield from self.candidates(part, depth + 1)  # the narrowest part first
                continue
            props.update(part.get("properties") or {})
            required.extend(part.get("required") or [])
            merged.update({k: v for k, v in part.items() if k not in ("properties", "required")})
        if props or required:
            merged |= {"properties": props, "required": required}
        if merged:
            yield from self._typed(merged, depth + 1)

    def _typed(self, schema: Mapping[str, Any], depth: int) -> Iterator[Any]:
        kinds = schema.get("type")
        if isinstance(kinds, str):
            kinds = [kinds]
        if not kinds:
            kinds = ["object"] if "properties" in schema else ["string", "object", "integer"]
        for kind in [k for k in kinds if k != "null"] + (["null"] if "null" in kinds else []):
            yield from getattr(self, "_" + kind)(schema, depth)

    def _null(self, schema: Mapping[str, Any], depth: int) -> Iterator[Any]:
        yield None

    def _boolean(self, schema: Mapping[str, Any], depth: int) -> Iterator[Any]:
        yield False
        yield True

    def _integer(self, schema: Mapping[str, Any], depth: int) -> Iterator[Any]:
        for value in self._numbers(schema):
            if float(value).is_integer():
                yield int(value)

    def _number(self, schema: Mapping[str, Any], depth: int) -> Iterator[Any]:
        yield from self._numbers(schema)

    @staticmethod
    def _numbers(schema: Mapping[str, Any]) -> Iterator[float | int]:
        low = schema.get("minimum", schema.get("exclusiveMinimum"))
        high = schema.get("maximum", schema.get("exclusiveMaximum"))
        step = schema.get("multipleOf")
        tried = [1, 0, 2]
        if low is not None:
            tried = [low, low + 1, *tried]
        if high is not None:
            tried += [high, high - 1]
        if step:
            tried = [step * max(1, math.ceil(t / step)) for t in tried] + tried
        yield from tried

    def _string(self, schema: Mapping[str, Any], depth: int) -> Iterator[Any]:
        low = int(schema.get("minLength", 1) or 1)
        if "pattern" in schema:
            found = string_of_pattern(schema["pattern"])
            yield found
            yield found + "a" * max(0, low - len(found))
        if schema.get("format") in FORMATS:
            yield FORMATS[schema["format"]]
        yield "x" * low
        yield "1" * low

    def _array(self, schema: Mapping[str, Any], depth: int) -> Iterator[Any]:
        least = int(schema.get("minItems", 0))
        items = schema.get("items", {})
        if least == 0 and not (self.filled and depth):
            yield []
        try:
            first = self.value(items, depth + 1)
        except NoValue:
            return
        if schema.get("uniqueItems") and least > 1:
            return
        yield [first] * max(1, least)

    def _object(self, schema: Mapping[str, Any], depth: int) -> Iterator[Any]:
        props = schema.get("properties") or {}
        out: dict[str, Any] = {}
        for name in schema.get("required") or ():
            out[name] = self.value(props.get(name, {}), depth + 1)
        if out or not (self.filled and depth):
            yield out
        for name, prop in itertools.islice(((n, p) for n, p in props.items() if n not in out), 4):
            try:
                yield {**out, name: self.value(prop, depth + 1)}
            except NoValue:
                continue
        if not props and schema.get("additionalProperties") not in (None, False):
            extra = schema["additionalProperties"]
            yield {**out, "key": self.value({} if extra is True else extra, depth + 1)}


def minimal(schema: Mapping[str, Any], *, filled: bool = False) -> Any:
    """The minimal value of a root schema (see :class:`Minimal`)."""
    top = {k: v for k, v in schema.items() if k != "$defs"}
    return Minimal(schema, filled=filled).value(top)


_OF_KIND: list[tuple[str, Any]] = [
    ("object", {"zz": 1}),
    ("array", [1, 2]),
    ("boolean", True),
    ("string", "zz-not-allowed"),
    ("integer", 7),
    ("number", 7.5),
]


def wrong_value(schema: Mapping[str, Any]) -> tuple[bool, Any]:
    """A value ``schema`` (resolved) refuses by its type or enum alone, if there is one."""
    if any(k in schema for k in ("anyOf", "oneOf", "allOf", "not")):
        return False, None
    types = schema.get("type")
    if isinstance(types, str):
        types = [types]
    if types:
        allowed = set(types) | ({"number"} if "integer" in types else set())
        if "number" in allowed:
            allowed.add("integer")
        for kind, value in _OF_KIND:
            if kind not in allowed:
                return True, value
    if "enum" in schema:
        return True, "zz-not-in-the-enum"
    return False, None
