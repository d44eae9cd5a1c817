"""Building a command: the one place a command is validated before Kafka.

:func:`build_command` validates with the sink's own validation
(:func:`core.executor.validate_params`), so an invalid command is rejected
where it is made (the CLI's ``send``, :class:`streams.commands.CommandClient`)
instead of being dead-lettered later; :func:`check_request` also builds its
request from this process's connector settings, as the sink will.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import connectors
from core import errors as e
from core.apicall import CallContext
from core.catalog import OperationParams
from core.connector import CommandParams
from core.envelopes import Command, EnvelopeError
from core.executor import InvalidCommand, validate_params
from streams.settings import Settings

__all__ = [
    "CommandInvalid",
    "build_command",
    "check_reply_to",
    "check_request",
    "command_type_of",
    "topic_name_problem",
]

_TOPIC_NAME = re.compile(r"[a-zA-Z0-9._-]{1,249}")


def topic_name_problem(name: str) -> str | None:
    """Why ``name`` is not a valid Kafka topic name (None if it is one).

    Kafka's own rule: 1 to 249 of ``a-z A-Z 0-9 . _ -``, and not ``.`` or ``..``.
    """
    if _TOPIC_NAME.fullmatch(name) and name not in {".", ".."}:
        return None
    return (
        f"{name!r} is not a valid Kafka topic name "
        "(1 to 249 of a-z A-Z 0-9 . _ -, and not '.' or '..')"
    )


class CommandInvalid(ValueError):
    """The command cannot be sent: unknown type, invalid params/envelope, or
    its topics do not exist. Nothing was produced."""


def command_type_of(params: CommandParams) -> str:
    """The registered command type whose model is exactly ``type(params)``.

    Raises :class:`CommandInvalid` if no connector (or more than one)
    registers that model.
    """
    model = type(params)
    if isinstance(params, OperationParams):  # one class per described operation
        return f"{params.catalog.name}.{params.operation.name}"
    found = [
        f"{connector.name}.{name}"
        for connector in connectors.registry().values()
        for name, candidate in getattr(
            connector.commands, "hand_written", connector.commands
        ).items()
        if candidate is model
    ]
    if len(found) != 1:
        reason = "no registered command" if not found else f"several commands ({', '.join(found)})"
        raise CommandInvalid(
            f"{model.__qualname__} is the params model of {reason}; pass the command type too"
        )
    return found[0]


def build_command(
    command_type: str,
    params: Mapping[str, Any] | CommandParams,
    *,
    command_id: str | None = None,
    reply_to: str | None = None,
    expires_at: datetime | None = None,
    metadata: Mapping[str, str] | None = None,
) -> Command:
    """A validated :class:`Command`; raises :class:`CommandInvalid` (one line).

    ``params`` is a mapping validated by the type's model, or an instance of
    exactly that model (``connectors.command_model(command_type)``); the
    validation is :func:`core.executor.validate_params`, the sink's own.
    """
    try:
        connector, _model = connectors.command_model(command_type)
        validated = validate_params(connector, command_type, params)
    except (connectors.UnknownCommandType, InvalidCommand) as exc:
        raise CommandInvalid(str(exc)) from None
    check_reply_to(reply_to)
    envelope: dict[str, Any] = {
        "type": command_type,
        "params": validated.model_dump(mode="json", exclude_unset=True),
        "reply_to": reply_to,
        "expires_at": expires_at,
        "metadata": dict(metadata or {}),
    }
    if command_id is not None:
        envelope["id"] = command_id
    try:
        return Command.from_obj({k: v for k, v in envelope.items() if v is not None})
    except EnvelopeError as exc:
        raise CommandInvalid(str(exc)) from None


def check_request(settings: Settings, command: Command) -> None:
    """Build ``command``'s request from this process's connector settings, as
    the sink will (no I/O); raises :class:`CommandInvalid` if it cannot be
    built (e.g. ``generic.request`` naming a template that is not configured).

    The CLI's ``send`` checks this; a producer whose settings lack the
    sink's connector section should not (it would refuse good commands).
    """
    connector, _model = connectors.command_model(command.type)
    try:
        params = validate_params(connector, command.type, command.params)
    except InvalidCommand as exc:
        raise CommandInvalid(str(exc)) from None
    try:
        params.api_call(CallContext(command.id, settings.section(command.connector)))
    except e.SwitchboardError as exc:
        raise CommandInvalid(
            f"{command.type}: {exc} (checked with the {command.connector} settings here; "
            "the sink would fail it the same way)"
        ) from None


def check_reply_to(reply_to: str | None) -> None:
    problem = None if reply_to is None else topic_name_problem(reply_to)
    if problem:
        raise CommandInvalid(f"reply_to {problem}")
