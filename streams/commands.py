"""Producing commands: validate against the command's model, then send.

:func:`build_command` is the single place a command is validated before it
reaches Kafka (the CLI and the Python API both use it), so an invalid
command is rejected where it is made instead of being dead-lettered later.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

import connectors
from core.envelopes import Command, EnvelopeError, describe_validation_error
from core.settings import Settings

from . import kafka
from .topics import TopicNames, existing_topics

__all__ = ["CommandInvalid", "SentCommand", "build_command", "send_command"]


class CommandInvalid(ValueError):
    """The command cannot be sent: unknown type or invalid params/envelope."""


class SentCommand:
    __slots__ = ("command", "offset", "partition", "topic")

    def __init__(self, command: Command, topic: str, partition: int, offset: int) -> None:
        self.command = command
        self.topic = topic
        self.partition = partition
        self.offset = offset


def build_command(
    command_type: str,
    params: Any,
    *,
    command_id: str | None = None,
    reply_to: str | None = None,
    expires_at: datetime | None = None,
    metadata: Mapping[str, str] | None = None,
) -> Command:
    """A validated :class:`Command`; raises :class:`CommandInvalid` (one line)."""
    try:
        _connector, model = connectors.command_model(command_type)
    except connectors.UnknownCommandType as exc:
        raise CommandInvalid(str(exc)) from None
    if not isinstance(params, Mapping):
        raise CommandInvalid(
            f"params of {command_type} must be a JSON object, got {type(params).__name__}"
        )
    try:
        validated = model.model_validate(params)
    except ValidationError as exc:
        _field, message = describe_validation_error(exc, prefix="params")
        raise CommandInvalid(f"{command_type}: {message}") from None
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


async def send_command(
    settings: Settings, command: Command, *, key: str | None = None
) -> SentCommand:
    """Produce ``command`` to ``<c>.commands`` and wait for Kafka's ack.

    The record key is ``key`` (the ordering key) or, without one, the
    command id. Raises :class:`kafka.KafkaUnavailable` if Kafka is down.
    """
    topic = TopicNames.from_settings(settings).commands(command.connector)
    if topic not in await existing_topics(settings):
        raise CommandInvalid(
            f"topic {topic} does not exist: create it with "
            f"`switchboard topics create {command.connector}`"
        )
    async with kafka.connect(settings, kafka.producer(settings)) as producer:
        meta = await producer.send_and_wait(
            topic,
            command.to_json(),
            key=(key or command.id).encode(),
            headers=[("content-type", b"application/json"), ("type", command.type.encode())],
        )
    return SentCommand(command, meta.topic, meta.partition, meta.offset)
