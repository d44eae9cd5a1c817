"""The connector registry.

Connectors are found by name through the ``switchboard.connectors`` entry
points (faust's ``FactoryMapping`` idea): installing a package that declares
one is enough to make its commands, settings and routes available. This
module is the only place that loads them.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points

from pydantic import BaseModel

from core.connector import CommandParams, Connector, unknown_type_message

__all__ = ["UnknownCommandType", "command_model", "get", "names", "registry", "settings_sections"]

ENTRY_POINT_GROUP = "switchboard.connectors"


class UnknownCommandType(LookupError):
    """No registered connector declares this command type."""


@cache
def registry() -> dict[str, Connector]:
    """Every installed connector by name (loaded once per process)."""
    found: dict[str, Connector] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        connector = ep.load()
        if not isinstance(connector, Connector):
            raise TypeError(f"entry point {ep.name!r} ({ep.value}) is not a core Connector")
        if connector.name != ep.name:
            raise ValueError(f"entry point {ep.name!r} names connector {connector.name!r}")
        found[connector.name] = connector
    return dict(sorted(found.items()))


def names() -> list[str]:
    return list(registry())


def get(name: str) -> Connector:
    try:
        return registry()[name]
    except KeyError:
        raise LookupError(
            f"unknown connector {name!r}; installed: {', '.join(names()) or 'none'}"
        ) from None


def settings_sections() -> dict[str, type[BaseModel]]:
    """The settings sections to add to core's settings, one per connector."""
    return {name: c.settings for name, c in registry().items()}


def command_model(command_type: str) -> tuple[Connector, type[CommandParams]]:
    """The connector and params model for ``<connector>.<command>``."""
    connector_name, _, command = command_type.partition(".")
    connector = registry().get(connector_name)
    if connector is None or command not in connector.commands:
        known = [t for c in registry().values() for t in c.command_types()]
        raise UnknownCommandType(unknown_type_message(command_type, known))
    return connector, connector.commands[command]
