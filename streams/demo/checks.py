"""How the demo tells what it saw: a step heading, a checked line (``ok`` or
``!!``), what was missed, the failure exit, and the worker's backlog as
the first thing to look at when an outcome did not come."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NoReturn

import click

from ..kafka.topics import TopicNames
from ..settings import Settings
from .namespace import backlog, sink_group, worker_group

__all__ = ["DEMO_CONNECTORS", "SINK_CONNECTOR", "Checks", "fail", "step", "why"]

DEMO_CONNECTORS = ("stripe", "github", "slack")
SINK_CONNECTOR = "stripe"  # the demo's sink runs against this connector's sandbox


def step(text: str) -> None:
    click.echo(click.style(f"\n==> {text}", bold=True))


@dataclass
class Checks:
    """What the demo expected and did not see."""

    missed: list[str] = field(default_factory=list)

    def check(self, ok: bool, line: str, expected: str) -> bool:
        click.echo(f"{'ok ' if ok else '!! '} {line}")
        if not ok:
            self.missed.append(expected)
        return ok


def fail(message: str) -> NoReturn:
    """``error: message`` on stderr and exit 1, as every command reports a failure."""
    click.echo(f"error: {message}", err=True)
    raise SystemExit(1)


async def why(settings: Settings) -> str:
    """The worker's backlog: what its groups have not consumed yet."""
    names = TopicNames.from_settings(settings)
    ingest = [names.ingest(name) for name in DEMO_CONNECTORS]
    commands = [names.commands(SINK_CONNECTOR)]
    return "; ".join(
        [
            await backlog(settings, worker_group(settings), ingest),
            await backlog(settings, sink_group(settings, SINK_CONNECTOR), commands),
        ]
    )
