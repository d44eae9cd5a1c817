"""What a connector declares about itself.

A connector package (``connectors/<name>``) exposes one :class:`Connector`
and registers it under the ``switchboard.connectors`` entry-point group.
Core and streams only ever see this object, never a provider's module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict

__all__ = ["CommandParams", "Connector", "ConnectorSettings"]


class ConnectorSettings(BaseModel):
    """Base of a connector's settings section (``SWITCHBOARD_<NAME>__...``)."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


class CommandParams(BaseModel):
    """Base of a command's ``params`` model: unknown fields are an error."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Connector:
    """A provider integration as the rest of Switchboard sees it.

    ``commands`` maps the command name without the connector prefix
    (``customers.create``) to the model validating its ``params``.
    """

    name: str
    settings: type[ConnectorSettings] = ConnectorSettings
    commands: Mapping[str, type[CommandParams]] = field(default_factory=dict)
    description: str = ""

    def command_types(self) -> list[str]:
        return sorted(f"{self.name}.{cmd}" for cmd in self.commands)
