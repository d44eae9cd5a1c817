"""Run a connector's commands the way the sink does, without Kafka.

:class:`CommandRunner` is the :class:`~core.executor.CommandExecutor` the
sink runs its commands with, its client given its own budget and breaker
registries (one test does not drain another's budget). A command takes the
real path: params model -> ``api_call`` -> ``ClientSetup.prepare`` (command
id header, idempotency key) -> :func:`~core.apicall.execute`. Point the
connector's settings section at a sandbox::

    async with connector.sandbox() as sb, CommandRunner(connector, section(sb.url)) as r:
        result = await r.run("customers.create", {"email": "a@example.com"}, "cmd-1")
        assert sb.side_effects("cmd-1") == 1

Invalid params raise :class:`~core.executor.InvalidCommand`, as the sink
sees them. Retry backoff is switched off by default (``sleep`` returns at
once), so a test never waits for a retry; pass ``sleep``/``clock`` to make
waits visible.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from core.apicall import ApiCall, CallResult
from core.breaker import BreakerRegistry
from core.connector import Connector
from core.executor import CommandExecutor
from core.ratelimit import BudgetRegistry

__all__ = ["CommandRunner"]


async def _no_sleep(seconds: float) -> None:
    await asyncio.sleep(0)


class CommandRunner(CommandExecutor):
    """A connector's executor with a test's own budgets (see the module docstring)."""

    def __init__(
        self,
        connector: Connector,
        section: Any,
        *,
        sleep: Callable[[float], Awaitable[None]] = _no_sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.budgets = BudgetRegistry(clock=clock, sleep=sleep)
        super().__init__(
            connector,
            section,
            budgets=self.budgets,
            breakers=BreakerRegistry(clock=clock),
            sleep=sleep,
            clock=clock,
        )

    async def raw(self, call: ApiCall, command_id: str = "raw-1") -> CallResult:
        """A call the params models would refuse, to reach the sandbox's own validation."""
        return await self.send(call, command_id)
