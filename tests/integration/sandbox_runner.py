"""One connector's commands run against its sandbox, as the sink holds them:
the runner the provider sandbox tests share."""

from __future__ import annotations

from typing import Any

import connectors
from core.testing.commands import CommandRunner


def make_runner(connector: str, section: Any) -> CommandRunner:
    """One connector's setup and client against a sandbox, as the sink holds them."""
    return CommandRunner(connectors.get(connector), section)
