"""Building a command from typed params or a mapping, and refusing a bad
reply_to before any Kafka call: the models side, no broker."""

from __future__ import annotations

import pytest

import connectors
from core.envelopes import Command
from streams.commands import (
    CommandClient,
    CommandInvalid,
    build_command,
    command_type_of,
)
from streams.settings import load_settings
from tests.integration.send_wait_support import CREATE


def test_a_typed_params_instance_builds_the_same_command_as_a_mapping() -> None:
    _, customers_create = connectors.command_model(CREATE)
    typed = build_command(
        CREATE, customers_create.model_validate({"email": "a@example.com", "name": "A"})
    )
    plain = build_command(CREATE, {"email": "a@example.com", "name": "A"})
    assert typed.params == plain.params == {"email": "a@example.com", "name": "A"}
    assert command_type_of(customers_create.model_validate({"email": "a@example.com"})) == CREATE


def test_a_params_instance_of_another_command_is_rejected() -> None:
    _, customers_create = connectors.command_model(CREATE)
    with pytest.raises(CommandInvalid, match="must be a CustomersUpdate"):
        build_command(
            "stripe.customers.update", customers_create.model_validate({"email": "a@example.com"})
        )


@pytest.mark.parametrize("reply_to", ["bad topic!", ".", "..", "x" * 250, "a/b", ""])
async def test_a_reply_to_that_is_not_a_topic_name_is_refused(reply_to: str) -> None:
    """Before connecting, for a command built here or one built elsewhere."""
    with pytest.raises(CommandInvalid, match=r"reply_to .* is not a valid Kafka topic name"):
        build_command(CREATE, {"email": "a@example.com"}, reply_to=reply_to)
    built = Command.model_construct(**{**build_command(CREATE, {}).__dict__, "reply_to": reply_to})
    client = CommandClient(load_settings(sections=connectors.settings_sections()))
    with pytest.raises(CommandInvalid, match="not a valid Kafka topic name"):
        await client.send(built)  # not started: refused before any Kafka call
    assert build_command(CREATE, {}, reply_to="my-app.replies_1").reply_to == "my-app.replies_1"
