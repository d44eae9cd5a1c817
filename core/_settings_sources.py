"""Where settings come from, and errors that say where (see :mod:`core.settings`).

pydantic-settings reads the ``SWITCHBOARD_*`` variables and the YAML file;
this module adds what it does not do:

- a list setting also takes a plain value: ``a,b`` is ``["a", "b"]``, and a
  list of secrets takes one secret as it is (secrets may contain commas, so
  it is never split: rotate with a JSON list);
- an unknown name, variable or YAML key, at any level, is an error that
  suggests the closest known name (``difflib``);
- a value of the wrong shape names its variable and shows an example;
- every error names where the wrong value came from: the variable, or
  ``file:line key`` for the YAML file; broken YAML is one such line, never a
  parser traceback.
"""

from __future__ import annotations

import difflib
import json
import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import EnvSettingsSource

ENV_PREFIX = "SWITCHBOARD_"
CONFIG_ENV = ENV_PREFIX + "CONFIG"

Kind = Literal["list", "secrets", "mapping", "value"]


def env_name(path: str) -> str:
    """``kafka.bootstrap_servers`` -> ``SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS``."""
    return ENV_PREFIX + "__".join(part.upper() for part in path.split("."))


def _unwrap(annotation: Any) -> Any:
    """``X | None`` and ``Annotated[X, ...]`` -> ``X``."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _unwrap(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return _unwrap(args[0])
    return annotation


def _model_of(annotation: Any) -> type[BaseModel] | None:
    inner = _unwrap(annotation)
    if isinstance(inner, type) and issubclass(inner, BaseModel):
        return inner
    return None


def kind_of(annotation: Any) -> Kind:
    inner = _unwrap(annotation)
    origin = get_origin(inner) or inner
    if origin in (list, tuple, set, frozenset):
        args = get_args(inner)
        return "secrets" if args and _unwrap(args[0]) is SecretStr else "list"
    if origin is dict or _model_of(inner) is not None:
        return "mapping"
    return "value"


def plain_list(kind: Kind, value: str) -> list[str]:
    """A list setting's non-JSON value: one secret, or comma-separated items."""
    if kind == "secrets":
        return [value] if value else []
    return [item.strip() for item in value.split(",") if item.strip()]


@dataclass
class Unknown:
    path: str  # dotted, as given
    suggestion: str | None  # dotted, the closest known name
    known: list[str]  # the names known where it was looked up

    def describe(self, shown: str, suggestion_shown: str | None) -> str:
        if suggestion_shown:
            return f"unknown setting {shown}: did you mean {suggestion_shown}?"
        return f"unknown setting {shown}: known here are {', '.join(self.known)}"


def resolve(model: type[BaseModel], parts: list[str]) -> tuple[str, FieldInfo] | Unknown:
    """The field that ``parts`` (lowercase names) lead to, through nested
    sections; what remains past a non-section field are mapping keys."""
    current: type[BaseModel] = model
    path: list[str] = []
    for index, part in enumerate(parts):
        fields = current.model_fields
        if part not in fields:
            close = difflib.get_close_matches(part, list(fields), n=1, cutoff=0.6)
            return Unknown(
                ".".join([*path, part]),
                ".".join([*path, close[0]]) if close else None,
                sorted(fields),
            )
        path.append(part)
        found = fields[part]
        sub = _model_of(found.annotation)
        if sub is None or index == len(parts) - 1:
            return ".".join(path), found
        current = sub
    raise ValueError("no setting named")  # parts was empty


def _example(path: str, found: FieldInfo, kind: Kind) -> str:
    variable = env_name(path)
    if kind == "mapping":
        description = found.description or ""
        shown = description.split("e.g. ", 1)[1] if "e.g. " in description else '{"name": "value"}'
        return f"{variable}='{shown}'"
    if kind == "secrets":
        return f'{variable}=secret or {variable}=\'["new", "old"]\''
    return f'{variable}=a,b or {variable}=\'["a", "b"]\''


def check_env(env: Mapping[str, str], model: type[BaseModel]) -> list[str]:
    """Problems with the ``SWITCHBOARD_*`` variables: unknown names (with the
    closest known one) and values of the wrong shape (with an example)."""
    problems = []
    for key, value in sorted(env.items()):
        if not key.startswith(ENV_PREFIX) or key == CONFIG_ENV:
            continue
        parts = key[len(ENV_PREFIX) :].lower().split("__")
        found = resolve(model, parts)
        if isinstance(found, Unknown):
            suggestion = env_name(found.suggestion) if found.suggestion else None
            problems.append(found.describe(f"{key} ({found.path})", suggestion))
            continue
        path, info = found
        if len(parts) > len(path.split(".")):
            continue  # a key inside a mapping setting
        kind = kind_of(info.annotation)
        if kind == "value":
            continue
        try:
            decoded = json.loads(value)
        except ValueError:
            decoded = None
            if kind != "mapping" and not value.lstrip().startswith(("[", "{")):
                continue  # a plain list value (see plain_list)
        shape = {"mapping": dict, "list": list, "secrets": list}[kind]
        if not isinstance(decoded, shape):
            what = "a JSON object" if kind == "mapping" else "a JSON list or plain values"
            problems.append(
                f"{key} must be {what}, e.g. {_example(path, info, kind)} (got {len(value)} "
                "characters that are not)"
            )
    return problems


class EnvSource(EnvSettingsSource):
    """pydantic-settings' environment source, taking plain list values."""

    def decode_complex_value(self, field_name: str, field: FieldInfo, value: Any) -> Any:
        try:
            return super().decode_complex_value(field_name, field, value)
        except ValueError:
            kind = kind_of(field.annotation) if field is not None else "value"
            if isinstance(value, str) and kind in ("list", "secrets"):
                return plain_list(kind, value)
            raise


@dataclass
class YamlFile:
    """A loaded settings file: its data and the line of every key."""

    path: Path
    data: dict[str, Any] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)  # dotted key -> line (1-based)

    def where(self, path: str) -> str | None:
        """``file:line key`` for ``path`` or the closest enclosing key it has."""
        parts = path.split(".")
        for end in range(len(parts), 0, -1):
            line = self.lines.get(".".join(parts[:end]))
            if line is not None:
                return f"{self.path}:{line} {path}"
        return None


def load_yaml(path: Path) -> tuple[YamlFile, list[str]]:
    """The file's data, or the problems with it (one line each)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return YamlFile(path), [_yaml_syntax(path, text, exc)]
    if data is None:
        return YamlFile(path), []
    if not isinstance(data, dict) or not isinstance(root, yaml.MappingNode):
        return YamlFile(path), [
            f"{path}:1: the top level must be a mapping of sections (kafka:, worker:, ...)"
        ]
    return YamlFile(path, data, dict(_key_lines(root, ()))), []


def _key_lines(node: yaml.MappingNode, prefix: tuple[str, ...]) -> Iterator[tuple[str, int]]:
    for key_node, value_node in node.value:
        key = (*prefix, str(key_node.value))
        yield ".".join(key), key_node.start_mark.line + 1
        if isinstance(value_node, yaml.MappingNode):
            yield from _key_lines(value_node, key)


def _yaml_syntax(path: Path, text: str, exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "context_mark", None) or getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if mark is None:
        return f"{path}: not valid YAML ({problem})"
    key = _key_at(text.splitlines(), mark.line)
    at = f" (key {key})" if key else ""
    return f"{path}:{mark.line + 1}{at}: not valid YAML: {problem}; fix the syntax there"


def _key_at(lines: list[str], index: int) -> str:
    """The dotted key of the mapping entry on ``lines[index]`` (or above it),
    from indentation: enough to point at a key in a settings file."""
    path: list[tuple[int, str]] = []
    for line in lines[: index + 1]:
        stripped = line.lstrip()
        if not stripped or stripped.startswith(("#", "-")) or ":" not in stripped:
            continue
        indent = len(line) - len(stripped)
        while path and path[-1][0] >= indent:
            path.pop()
        path.append((indent, stripped.split(":", 1)[0].strip().strip("'\"")))
    return ".".join(name for _, name in path)


def check_yaml(loaded: YamlFile, model: type[BaseModel]) -> list[str]:
    """Unknown keys (with the closest known one), and plain list values made lists."""
    problems: list[str] = []
    _walk_yaml(loaded, model, loaded.data, [], problems)
    return problems


def _walk_yaml(
    loaded: YamlFile,
    model: type[BaseModel],
    data: dict[str, Any],
    prefix: list[str],
    problems: list[str],
) -> None:
    for key, value in list(data.items()):
        found = resolve(model, [str(key)])
        dotted = ".".join([*prefix, str(key)])
        if isinstance(found, Unknown):
            where = loaded.where(dotted) or f"{loaded.path}: {dotted}"
            suggestion = ".".join([*prefix, found.suggestion]) if found.suggestion else None
            problems.append(found.describe(where, suggestion))
            continue
        _name, info = found
        sub = _model_of(info.annotation)
        kind = kind_of(info.annotation)
        if sub is not None and isinstance(value, dict):
            _walk_yaml(loaded, sub, value, [*prefix, str(key)], problems)
        elif kind in ("list", "secrets") and isinstance(value, str):
            data[key] = plain_list(kind, value)
