"""Run a connector's commands the way the sink does, without Kafka.

:class:`CommandRunner` holds what a sink holds per connector -- its
:class:`~core.apicall.ClientSetup` and one :class:`~core.client.ProviderClient`
with its own budget and breaker registries -- and runs a command through
the real path: params model -> ``api_call`` -> ``ClientSetup.prepare``
(command id header, idempotency key) -> :func:`~core.apicall.execute`.
Point the connector's settings section at a sandbox::

    async with connector.sandbox() as sb, CommandRunner(connector, section(sb.url)) as r:
        result = await r.run("customers.create", {"email": "a@example.com"}, "cmd-1")
        assert sb.side_effects("cmd-1") == 1

Retry backoff is switched off by default (``sleep`` returns at once), so a
test never waits for a retry; pass ``sleep``/``clock`` to make waits visible.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Self

from core.apicall import ApiCall, CallContext, CallResult, ClientSetup, execute, run_command
from core.breaker import BreakerRegistry
from core.client import ProviderClient
from core.connector import Connector
from core.ratelimit import BudgetRegistry

__all__ = ["CommandRunner"]


async def _no_sleep(seconds: float) -> None:
    await asyncio.sleep(0)


class CommandRunner:
    """One connector's setup and client, as a sink holds them (see the module docstring)."""

    def __init__(
        self,
        connector: Connector,
        section: Any,
        *,
        sleep: Callable[[float], Awaitable[None]] = _no_sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if connector.api is None:
            raise ValueError(f"connector {connector.name!r} declares no api (no commands)")
        self.connector = connector
        self.section = section
        self.setup: ClientSetup = connector.api(section)
        self.budgets = BudgetRegistry(clock=clock, sleep=sleep)
        self.client: ProviderClient = self.setup.client(
            budgets=self.budgets, breakers=BreakerRegistry(clock=clock), sleep=sleep, clock=clock
        )

    async def run(
        self, name: str, params: dict[str, Any], command_id: str | None = None
    ) -> CallResult:
        """Validate ``params`` with the command ``name``'s model and run it
        (a fresh command id when None); raises what the sink would see."""
        model = self.connector.commands[name].model_validate(params)
        ctx = CallContext(command_id or str(uuid.uuid4()), self.section)
        return await run_command(self.setup, self.client, model, ctx)

    async def raw(self, call: ApiCall, command_id: str = "raw-1") -> CallResult:
        """A call the params models would refuse, to reach the sandbox's own validation."""
        return await execute(
            self.client, self.setup.prepare(call, command_id), graphql_cost=self.setup.graphql_cost
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
