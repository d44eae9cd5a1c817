"""Which sinks a worker runs: one per connector configured to send commands."""

from __future__ import annotations

import connectors
from core import errors as e
from core.apicall import ClientSetup
from core.connector import Connector
from streams.settings import Settings

from ._metrics import log
from ._sink import Sink

__all__ = ["build_sinks", "sink_setups"]


def sink_setups(settings: Settings) -> list[tuple[Connector, ClientSetup]]:
    """The connectors to run sinks for, with their client setups.

    ``sink.connectors`` names them explicitly (a missing setting is then an
    error: :class:`~core.errors.PolicyError`); by default every connector
    whose ``api`` settings are complete. Cheap: nothing is connected, so the
    CLI calls it to refuse bad settings before anything starts.
    """
    wanted = settings.sink.connectors
    found: list[tuple[Connector, ClientSetup]] = []
    for name in wanted if wanted is not None else connectors.names():
        connector = connectors.get(name)
        if connector.api is None or not connector.commands:
            if wanted is not None:
                raise e.PolicyError(
                    f"connector {name} has no commands to sink", setting="sink.connectors"
                )
            continue
        try:
            setup = connector.api(settings.section(name))
        except e.PolicyError as exc:
            if wanted is not None:
                raise
            log.info("sink %s: not started (%s)", name, exc)
            continue
        found.append((connector, setup))
    return found


def build_sinks(settings: Settings) -> list[Sink]:
    """A sink for every connector that is configured to send commands (see
    :func:`sink_setups`)."""
    return [Sink(settings, connector, setup) for connector, setup in sink_setups(settings)]
