"""The one command executor: decode -> validate -> call -> outcome, without Kafka.

A command's way from bytes (or a producer's arguments) to its provider
call is written here once, and used by the sink (``streams.sink``), by the
Kafka-free test runner (:class:`core.testing.commands.CommandRunner`) and
by command building for ``send`` / ``CommandClient``:

1. decode -- :func:`decode_command`: a ``Command`` envelope for this
   connector (its type prefix names it);
2. validate -- :func:`validate_params`, with the connector in hand: its own
   params model for the command, one-line errors naming the field;
3. call -- :class:`CommandExecutor` holds what running a connector's
   commands needs (its :class:`~core.apicall.ClientSetup`, one
   :class:`~core.client.ProviderClient`, the GraphQL clients over it) and
   sends the params' :class:`~core.apicall.ApiCall` through them;
4. outcome -- :func:`core.outcomes.command_result` makes the Result.

Anything refused in steps 1-2 raises :class:`InvalidCommand`; nothing is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

from pydantic import ValidationError

from core.apicall import (
    ApiCall,
    CallContext,
    CallResult,
    ClientSetup,
    Safety,
    execute,
    run_command,
    safety,
)
from core.catalog import ParamsError
from core.client import ProviderClient
from core.connector import CommandParams, Connector, unknown_type_message
from core.envelopes import Command, EnvelopeError, describe_validation_error, new_id
from core.graphql import GraphQLClients

__all__ = ["CommandExecutor", "InvalidCommand", "decode_command", "validate_params"]


class InvalidCommand(ValueError):
    """The command cannot be run by this connector: not a Command, another
    connector's, an unknown type or invalid params. Nothing was sent."""


def validate_params(
    connector: Connector, command_type: str, params: Mapping[str, Any] | CommandParams
) -> CommandParams:
    """``params`` of ``command_type`` (``<connector>.<command>``) validated by
    ``connector``'s model for it; raises :class:`InvalidCommand` (one line).

    ``params`` is a mapping, or an instance of exactly that model (or of
    one the model ``accepts``).
    """
    _prefix, _, name = command_type.partition(".")
    model = connector.commands.get(name)
    if model is None or _prefix != connector.name:
        raise InvalidCommand(unknown_type_message(command_type, connector.command_types()))
    if isinstance(params, CommandParams):
        # a hand-written model that also takes its described operation's
        # params makes instances of either (core.catalog.overlay)
        if type(params) not in getattr(model, "accepts", (model,)):
            raise InvalidCommand(
                f"params of {command_type} must be a {model.__qualname__}, "
                f"got a {type(params).__qualname__}"
            )
    elif not isinstance(params, Mapping):
        raise InvalidCommand(
            f"params of {command_type} must be a JSON object, got {type(params).__name__}"
        )
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        _field, message = describe_validation_error(exc, prefix="params")
        raise InvalidCommand(f"{command_type}: {message}") from None
    except ParamsError as exc:
        raise InvalidCommand(f"{command_type}: {exc}") from None


def decode_command(
    connector: Connector, raw: bytes, *, where: str = "this connector"
) -> tuple[Command, CommandParams]:
    """The Command in ``raw`` and its validated params; raises :class:`InvalidCommand`.

    ``where`` names where ``raw`` came from (the sink gives its topic).
    """
    try:
        command = Command.from_json(raw)
    except EnvelopeError as exc:
        raise InvalidCommand(f"not a Command: {exc}") from None
    if command.connector != connector.name:
        raise InvalidCommand(f"{command.type} sent to {where}, the topic of {connector.name}")
    return command, validate_params(connector, command.type, command.params)


class CommandExecutor:
    """Runs one connector's commands with its settings ``section``.

    ``setup`` defaults to ``connector.api(section)``; ``client`` to
    ``setup.client(**client_options)`` (then closed by :meth:`aclose`).
    Share one executor between all of a connector's commands: its client
    carries the budget, the breaker and the connections, its GraphQL
    clients the learnt document costs.
    """

    def __init__(
        self,
        connector: Connector,
        section: Any,
        *,
        setup: ClientSetup | None = None,
        client: ProviderClient | None = None,
        **client_options: Any,
    ) -> None:
        if setup is None:
            if connector.api is None:
                raise ValueError(f"connector {connector.name!r} declares no api (no commands)")
            setup = connector.api(section)
        self.connector = connector
        self.section = section
        self.setup = setup
        self.client = client or setup.client(**client_options)
        self._own_client = client is None
        self.graphql = GraphQLClients(self.client)

    def params(self, name: str, params: Mapping[str, Any]) -> CommandParams:
        """``params`` of the command ``name`` (without the connector prefix), validated."""
        return validate_params(self.connector, f"{self.connector.name}.{name}", params)

    def decode(self, raw: bytes, *, where: str = "this connector") -> tuple[Command, CommandParams]:
        """:func:`decode_command` for this executor's connector."""
        return decode_command(self.connector, raw, where=where)

    def safety(self, params: CommandParams) -> Safety:
        """How ``params``' call is kept to one side effect (see :func:`core.apicall.safety`)."""
        return safety(type(params).http_method(), self.setup.idempotency)

    def api_version(self, params: CommandParams | None = None) -> str | None:
        """The provider API version ``params``' call is made with."""
        version = type(params).api_version() if params is not None else None
        return version or self.setup.api_version

    def context(self, command_id: str) -> CallContext:
        return CallContext(command_id, self.section)

    async def call(self, params: CommandParams, command_id: str) -> CallResult:
        """Build ``params``' call, add the command id (and key), and send it;
        raises what :func:`core.apicall.execute` raises."""
        return await run_command(
            self.setup, self.client, params, self.context(command_id), graphql=self.graphql
        )

    async def run(
        self, name: str, params: Mapping[str, Any], command_id: str | None = None
    ) -> CallResult:
        """Validate ``params`` for the command ``name`` and call it (a fresh
        command id when None): :meth:`params`, then :meth:`call`."""
        return await self.call(self.params(name, params), command_id or new_id())

    async def send(self, call: ApiCall, command_id: str) -> CallResult:
        """Send a call built by hand (command id header and key added)."""
        return await execute(
            self.client,
            self.setup.prepare(call, command_id),
            graphql_cost=self.setup.graphql_cost,
            graphql=self.graphql,
        )

    async def aclose(self) -> None:
        """Close the client if this executor made it."""
        if self._own_client:
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
