"""What every CLI command shares: settings, error reporting, running async code."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click

import connectors

from ..kafka import KafkaUnavailable
from ..localkafka import LocalKafkaError
from ..settings import Settings, SettingsError, load_settings

P = ParamSpec("P")
T = TypeVar("T")

EXIT_FAILURE = 1
EXIT_USAGE = 2


class Context:
    """Per-invocation state: the config file and the settings, loaded once."""

    def __init__(self, config_file: Path | None) -> None:
        self.config_file = config_file
        self._settings: Settings | None = None
        self._overrides: dict[str, Any] = {}

    def use_config(self, config_file: Path) -> None:
        """A ``--config`` given after the subcommand (it wins over one before)."""
        self.config_file = config_file
        self._settings = None

    def override(self, **values: Any) -> None:
        self._overrides.update(values)
        self._settings = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = load_settings(
                    self.config_file,
                    sections=connectors.settings_sections(),
                    **self._overrides,
                )
            except SettingsError as exc:
                fail(str(exc), EXIT_USAGE)
        assert self._settings is not None
        return self._settings


pass_ctx = click.make_pass_decorator(Context)


def fail(message: str, code: int = EXIT_FAILURE) -> None:
    """Print ``error: message`` to stderr and exit with ``code``."""
    click.echo(f"error: {message}", err=True)
    raise SystemExit(code)


def friendly_errors(func: Callable[P, T]) -> Callable[P, T]:
    """Known failures become one clear line on stderr, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return func(*args, **kwargs)
        except KafkaUnavailable as exc:
            fail(str(exc))
        except LocalKafkaError as exc:
            fail(str(exc))
        except SettingsError as exc:
            fail(str(exc), EXIT_USAGE)
        except KeyboardInterrupt:
            raise SystemExit(130) from None
        raise AssertionError("unreachable")

    return wrapper


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)
