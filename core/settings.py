"""Settings: environment variables, an optional YAML file, defaults.

Precedence, highest first: values passed in code, ``SWITCHBOARD_*``
environment variables (``__`` separates nesting levels, e.g.
``SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS``), the YAML file named by
``SWITCHBOARD_CONFIG`` (or passed as ``config_file``), defaults.

A root settings class is composed of sections: those a subclass of
:class:`Settings` declares (a runtime's own: how to reach its broker, its
workers) and those :func:`load_settings` adds from ``sections`` (each
connector's, ``SWITCHBOARD_<CONNECTOR>__API_KEY`` ...). Core declares none, so
it never names a provider or a runtime.

Contract: :func:`load_settings` either returns a fully validated object or
raises :class:`SettingsError`, one line naming every wrong setting where
its value came from: the dotted path with its environment variable, or
``file:line key`` for the YAML file. An unknown name, variable or YAML key,
is an error too (a typo must not be silently ignored), with the closest
known name suggested; so is whatever a caller's ``checks`` find in the
validated object. List settings also take plain values (``a,b``; one
secret as it is). Reading and describing live in
:mod:`core._settings_sources`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from ._settings_sources import (
    CONFIG_ENV,
    ENV_PREFIX,
    EnvSource,
    YamlFile,
    check_env,
    check_yaml,
    env_name,
    load_yaml,
)

__all__ = [
    "ENV_PREFIX",
    "Check",
    "Section",
    "Settings",
    "SettingsError",
    "env_name",
    "load_settings",
]


class SettingsError(ValueError):
    """One or more settings are wrong; the message names each of them."""


class Section(BaseModel):
    """A settings section: unknown keys refused, defaults validated."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


class Settings(BaseSettings):
    """The root of every settings class; :func:`load_settings` extends a
    subclass of it with the ``sections`` it is given."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    _yaml_data: ClassVar[dict[str, Any] | None] = None  # the file load_settings read

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, EnvSource(settings_cls)]
        yaml_data = getattr(settings_cls, "_yaml_data", None)
        if yaml_data is not None:  # checked by load_settings, plain list values made lists
            sources.append(InitSettingsSource(settings_cls, yaml_data))
        return tuple(sources)

    def section(self, name: str) -> Any:
        """A section by name (``AttributeError`` if absent)."""
        return getattr(self, name)


S = TypeVar("S", bound=Settings)

Check = Callable[[S], Iterable[tuple[str, str]]]
"""A check of validated settings: (dotted path, problem) for each problem;
:func:`load_settings` says where each path's value came from."""


def load_settings(
    config_file: str | os.PathLike[str] | None = None,
    sections: Mapping[str, type[BaseModel]] | None = None,
    *,
    root: type[S] = Settings,  # type: ignore[assignment]
    checks: Iterable[Check[S]] = (),
    **overrides: Any,
) -> S:
    """Build and validate ``root`` with ``sections`` added, or raise :class:`SettingsError`."""
    env = os.environ
    sections = dict(sections or {})
    config_path = config_file or env.get(CONFIG_ENV) or None
    if config_path is not None and not Path(config_path).is_file():
        raise SettingsError(
            f"config file {config_path} (--config or {CONFIG_ENV}) does not exist: "
            "give the path of a YAML settings file"
        )

    fields: dict[str, Any] = {
        name: (model, Field(default_factory=model)) for name, model in sections.items()
    }
    cls: type[S] = create_model(root.__name__, __base__=root, __module__=root.__module__, **fields)

    loaded = None
    problems = check_env(env, cls)
    if config_path is not None:
        loaded, yaml_problems = load_yaml(Path(config_path))
        problems += yaml_problems or check_yaml(loaded, cls)
        cls._yaml_data = loaded.data
    if problems:
        raise SettingsError("; ".join(problems))
    try:
        settings = cls(**overrides)
    except ValidationError as exc:
        raise SettingsError(_describe(exc, env, loaded)) from None
    except ValueError as exc:  # a source failed to parse (check_env should have caught it)
        raise SettingsError(f"invalid settings: {exc}") from None
    found = [
        f"{_where(path, env, loaded)}: {problem}"
        for check in checks
        for path, problem in check(settings)
    ]
    if found:
        raise SettingsError("; ".join(found))
    return settings


def _where(path: str, env: Mapping[str, str], loaded: YamlFile | None) -> str:
    """Where a setting's value came from: its variable, or ``file:line key``."""
    parts = path.split(".")
    for end in range(len(parts), 0, -1):
        if env_name(".".join(parts[:end])) in env:
            return f"{path} ({env_name('.'.join(parts[:end]))})"
    located = loaded.where(path) if loaded is not None else None
    return located or f"{path} ({env_name(path)})"


def _describe(exc: ValidationError, env: Mapping[str, str], loaded: YamlFile | None) -> str:
    parts = []
    for item in exc.errors(include_url=False, include_input=False):
        loc = [str(p) for p in item["loc"]]
        path = ".".join(loc)
        msg = str(item["msg"]).removeprefix("Value error, ")
        if path:
            parts.append(f"{_where(path, env, loaded)}: {msg}")
        else:
            parts.append(msg)
    return "invalid setting " + "; ".join(parts)
