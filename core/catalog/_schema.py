"""Validators compiled from OpenAPI 3.0 schemas (the subset descriptions use).

:func:`compile_schema` turns a schema into a function that checks a JSON
value and raises :class:`ParamsError` naming the JSON path of the first
problem (``params.items[0].price``) and, for an unknown property, the
closest valid names. Compiled once per schema node and cached; ``$ref`` s
are followed lazily, so recursive schemas compile.

Keywords: type (with OpenAPI's ``nullable``), enum, const, format
(date-time, date, email, uri, uuid, ipv4, ipv6; others pass), lengths,
pattern, numeric bounds (3.0 boolean and 3.1 numeric exclusives),
multipleOf, items, item counts, uniqueItems, properties, required,
additionalProperties, min/maxProperties, allOf, anyOf, oneOf (exactly
one), not. Anything else (discriminator, readOnly, ...) is not checked.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
import uuid
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

__all__ = ["Check", "ParamsError", "SchemaSet", "closest", "compile_schema", "refs_of"]

Check = Callable[[Any, str], None]


class ParamsError(ValueError):
    """Params that do not fit their description; ``path`` is the JSON path."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


def closest(name: str, known: list[str] | set[str] | frozenset[str], n: int = 3) -> list[str]:
    """The ``n`` known names closest to ``name`` (may be empty)."""
    return difflib.get_close_matches(name, sorted(known), n=n, cutoff=0.6)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def _is(kind: str, value: Any) -> bool:
    actual = _kind(value)
    if actual == kind:
        return True
    if kind == "number":
        return actual == "integer"
    if kind == "integer" and actual == "number":
        return float(value).is_integer() and -(2**63) <= value < 2**63  # orjson: past 64 bits
    return False


def _datetime(text: str) -> bool:
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return False
    return "T" in text.upper() or " " in text


def _date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _ip(version: int) -> Callable[[str], bool]:
    def check(text: str) -> bool:
        try:
            return ipaddress.ip_address(text).version == version
        except ValueError:
            return False

    return check


def _uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


_FORMATS: dict[str, Callable[[str], bool]] = {
    "date-time": _datetime,
    "date": _date,
    "email": lambda t: re.fullmatch(r"[^@\s]+@[^@\s]+", t) is not None,
    "uri": lambda t: re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", t) is not None,
    "uuid": _uuid,
    "ipv4": _ip(4),
    "ipv6": _ip(6),
}


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class SchemaSet:
    """Compiles schemas that may ``$ref`` the components in ``schemas``."""

    def __init__(self, schemas: Mapping[str, Any]) -> None:
        self.schemas = schemas
        self._refs: dict[str, Check] = {}

    def ref(self, ref: str) -> Check:
        name = ref.rsplit("/", 1)[-1]
        if name not in self._refs:
            cell: list[Check] = []
            self._refs[name] = lambda v, p: cell[0](v, p)  # recursion: filled below
            cell.append(self.compile(self.schemas[name]))
            self._refs[name] = cell[0]
        return self._refs[name]

    def compile(self, schema: Any) -> Check:
        if not isinstance(schema, Mapping) or not schema:
            return lambda _v, _p: None
        if "$ref" in schema:
            return self.ref(schema["$ref"])
        checks: list[Check] = []
        nullable = bool(schema.get("nullable"))
        types = schema.get("type")
        if isinstance(types, list):
            nullable = nullable or "null" in types
            types = [t for t in types if t != "null"]
        elif isinstance(types, str):
            types = [types]
        if types:
            wanted = tuple(types)

            def check_type(v: Any, p: str) -> None:
                if not any(_is(t, v) for t in wanted):
                    raise ParamsError(
                        p, f"expected {' or '.join(wanted)}, got {_kind(v)} {_show(v)}"
                    )

            checks.append(check_type)
        if "enum" in schema:
            allowed = [x for x in schema["enum"] if x is not None or nullable]

            def check_enum(v: Any, p: str) -> None:
                if not any(v == a and _kind(v) == _kind(a) for a in allowed):
                    shown = ", ".join(_show(a) for a in allowed[:12])
                    more = f" (+{len(allowed) - 12} more)" if len(allowed) > 12 else ""
                    raise ParamsError(p, f"{_show(v)} is not one of {shown}{more}")

            checks.append(check_enum)
        if "const" in schema:
            const = schema["const"]

            def check_const(v: Any, p: str) -> None:
                if v != const:
                    raise ParamsError(p, f"must be {_show(const)}")

            checks.append(check_const)
        checks.extend(self._string(schema))
        checks.extend(self._number(schema))
        checks.extend(self._array(schema))
        checks.extend(self._object(schema))
        checks.extend(self._composition(schema))
        if not checks:
            return lambda _v, _p: None
        only = tuple(checks)

        def check(v: Any, p: str) -> None:
            if v is None:
                if nullable or not types:
                    return
                raise ParamsError(p, f"expected {' or '.join(types)}, got null")
            for c in only:
                c(v, p)

        return check

    def _string(self, s: Mapping[str, Any]) -> list[Check]:
        out: list[Check] = []
        lo, hi = s.get("minLength"), s.get("maxLength")
        if lo is not None or hi is not None:

            def length(v: Any, p: str) -> None:
                if isinstance(v, str):
                    if lo is not None and len(v) < lo:
                        raise ParamsError(p, f"at least {lo} characters, got {len(v)}")
                    if hi is not None and len(v) > hi:
                        raise ParamsError(p, f"at most {hi} characters, got {len(v)}")

            out.append(length)
        if "pattern" in s:
            rx = re.compile(s["pattern"])

            def pattern(v: Any, p: str) -> None:
                if isinstance(v, str) and rx.search(v) is None:
                    raise ParamsError(p, f"{_show(v)} does not match {s['pattern']!r}")

            out.append(pattern)
        fmt = _FORMATS.get(s.get("format", ""))
        if fmt is not None:
            name = s["format"]

            def form(v: Any, p: str) -> None:
                if isinstance(v, str) and not fmt(v):
                    raise ParamsError(p, f"{_show(v)} is not a valid {name}")

            out.append(form)
        return out

    def _number(self, s: Mapping[str, Any]) -> list[Check]:
        # (bound, strict?, words): 3.0's boolean exclusives and 3.1's numbers
        bounds: list[tuple[float, bool, bool, str]] = []
        for key, low in (("minimum", True), ("maximum", False)):
            if key in s:
                strict = s.get("exclusive" + key.capitalize()) is True
                word = (
                    ("more than" if low else "less than")
                    if strict
                    else ("at least" if low else "at most")
                )
                bounds.append((s[key], strict, low, word))
        for key, low in (("exclusiveMinimum", True), ("exclusiveMaximum", False)):
            value = s.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                bounds.append((value, True, low, "more than" if low else "less than"))
        out: list[Check] = []
        if bounds:
            fixed = tuple(bounds)

            def bounded(v: Any, p: str) -> None:
                if isinstance(v, int | float) and not isinstance(v, bool):
                    for bound, strict, low, word in fixed:
                        if low:
                            ok = v > bound if strict else v >= bound
                        else:
                            ok = v < bound if strict else v <= bound
                        if not ok:
                            raise ParamsError(p, f"must be {word} {bound}, got {v}")

            out.append(bounded)
        if "multipleOf" in s:
            step = s["multipleOf"]

            def multiple(v: Any, p: str) -> None:
                number = isinstance(v, int | float) and not isinstance(v, bool)
                if number and (v / step) != int(v / step):
                    raise ParamsError(p, f"must be a multiple of {step}")

            out.append(multiple)
        return out

    def _array(self, s: Mapping[str, Any]) -> list[Check]:
        out: list[Check] = []
        if "items" in s:
            item = self.compile(s["items"])

            def items(v: Any, p: str) -> None:
                if isinstance(v, list | tuple):
                    for i, x in enumerate(v):
                        item(x, f"{p}[{i}]")

            out.append(items)
        lo, hi = s.get("minItems"), s.get("maxItems")
        if lo is not None or hi is not None or s.get("uniqueItems"):
            unique = bool(s.get("uniqueItems"))

            def count(v: Any, p: str) -> None:
                if isinstance(v, list | tuple):
                    if lo is not None and len(v) < lo:
                        raise ParamsError(p, f"at least {lo} items, got {len(v)}")
                    if hi is not None and len(v) > hi:
                        raise ParamsError(p, f"at most {hi} items, got {len(v)}")
                    if unique and len({repr(x) for x in v}) != len(v):
                        raise ParamsError(p, "items must be unique")

            out.append(count)
        return out

    def _object(self, s: Mapping[str, Any]) -> list[Check]:
        props = s.get("properties") or {}
        required = tuple(s.get("required") or ())
        extra = s.get("additionalProperties", True)
        lo, hi = s.get("minProperties"), s.get("maxProperties")
        if not props and not required and extra is True and lo is None and hi is None:
            return []
        compiled = {name: self.compile(sub) for name, sub in props.items()}
        extra_check = self.compile(extra) if isinstance(extra, Mapping) else None
        names = frozenset(props)

        def obj(v: Any, p: str) -> None:
            if not isinstance(v, Mapping):
                return
            for name in required:
                if name not in v:
                    raise ParamsError(f"{p}.{name}", "required")
            for key, value in v.items():
                check = compiled.get(key)
                if check is not None:
                    check(value, f"{p}.{key}")
                elif extra is False:
                    near = closest(str(key), names)
                    hint = f"; did you mean {' or '.join(near)}?" if near else ""
                    known = ", ".join(sorted(names)[:20])
                    raise ParamsError(f"{p}.{key}", f"unknown field{hint} (known: {known})")
                elif extra_check is not None:
                    extra_check(value, f"{p}.{key}")
            if lo is not None and len(v) < lo:
                raise ParamsError(p, f"at least {lo} fields")
            if hi is not None and len(v) > hi:
                raise ParamsError(p, f"at most {hi} fields")

        return [obj]

    def _composition(self, s: Mapping[str, Any]) -> list[Check]:
        out: list[Check] = []
        for sub in s.get("allOf") or ():
            out.append(self.compile(sub))
        for key in ("anyOf", "oneOf"):
            if key not in s:
                continue
            branches = [self.compile(sub) for sub in s[key]]
            exactly_one = key == "oneOf"

            def choice(
                v: Any, p: str, branches: list[Check] = branches, one: bool = exactly_one
            ) -> None:
                errors: list[ParamsError] = []
                matched = 0
                for branch in branches:
                    try:
                        branch(v, p)
                    except ParamsError as exc:
                        errors.append(exc)
                    else:
                        matched += 1
                        if not one:
                            return
                if matched == 1 or (matched and not one):
                    return
                if matched > 1:
                    raise ParamsError(p, "matches more than one of the allowed shapes")
                # the deepest problem is the most telling one
                best = max(errors, key=lambda exc: len(exc.path))
                if len(errors) > 1 and best.path == p:
                    raise ParamsError(
                        p,
                        "does not match any allowed shape: "
                        + "; ".join(dict.fromkeys(exc.message for exc in errors)),
                    )
                raise best

            out.append(choice)
        if "not" in s:
            negated = self.compile(s["not"])

            def check_not(v: Any, p: str) -> None:
                try:
                    negated(v, p)
                except ParamsError:
                    return
                raise ParamsError(p, "is a value this field does not allow")

            out.append(check_not)
        return out


def compile_schema(schema: Any, schemas: Mapping[str, Any] | None = None) -> Check:
    """A checker for ``schema`` (refs into ``schemas``)."""
    return SchemaSet(schemas or {}).compile(schema)


_REF_TEXT = re.compile(r'"\$ref": ?"#/(?:components/schemas|\$defs)/([^"]+)"')


def refs_of(text: str) -> list[str]:
    """The component names a schema's JSON text refers to."""
    return _REF_TEXT.findall(text)
