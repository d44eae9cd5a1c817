"""Twilio: signed status callbacks and incoming messages; messages.create out.

Twilio has no idempotency key for messages: commands go through the sink's
ledger (``idempotency="ledger"``), covered for as long as the ledger keeps
the command id. Polls: the account's message list when ``poll_messages``
is on (``_poll``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.catalog import CatalogCommands
from core.connector import Connector, SandboxFactory, WebhookSpec
from core.connector_kit import lazy_sandbox

from ._api import client_setup
from ._commands import CATALOG, COMMANDS, MessagesCreate
from ._poll import polls
from ._settings import TwilioSettings
from ._webhook import TwilioVerifier, TwilioWebhookSettings, normalize, scheme

if TYPE_CHECKING:  # imported (with aiohttp) when a sandbox is made
    from ._sandbox import TwilioSandbox

__all__ = [
    "CATALOG",
    "COMMANDS",
    "MessagesCreate",
    "TwilioSettings",
    "TwilioVerifier",
    "TwilioWebhookSettings",
    "client_setup",
    "connector",
    "polls",
    "sandbox",
]

sandbox: SandboxFactory[TwilioSandbox] = lazy_sandbox(f"{__name__}._sandbox", "TwilioSandbox")

connector: Connector[TwilioSettings, TwilioSandbox] = Connector(
    name="twilio",
    settings=TwilioSettings,
    commands=CatalogCommands(CATALOG, COMMANDS),
    # Twilio waits 15 s for a webhook response. Its callbacks are a few dozen
    # parameters (a message body is at most 1,600 characters): 64 KiB leaves a
    # wide margin and bounds what verification canonicalises (413 above it).
    webhook=WebhookSpec(
        scheme=scheme, normalize=normalize, max_body_bytes=64 * 1024, ack_deadline_s=10.0
    ),
    description="Twilio Programmable Messaging",
    api=client_setup,
    sandbox=sandbox,
    polls=polls,
)
