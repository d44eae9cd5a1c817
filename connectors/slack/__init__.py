"""Slack: Events API webhooks (v0 signatures, url_verification handshake),
Web API commands out.

Slack has no idempotency key for messages: commands go through the sink's
ledger (``idempotency="ledger"``), covered for as long as the ledger keeps
the command id. HTTP 200 ``{"ok": false}`` is an error (see ``_api.ok_false``).
Polls: ``conversations.history`` of each channel in ``poll_channels`` (``_poll``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.connector import Connector, SandboxFactory, WebhookSpec
from core.connector_kit import lazy_sandbox

from ._api import client_setup, ok_false
from ._commands import COMMANDS, ChatPostMessage, ChatUpdate
from ._poll import polls
from ._settings import SlackSettings
from ._webhook import SlackVerifier, SlackWebhookSettings, handshake, normalize, scheme

if TYPE_CHECKING:  # imported (with aiohttp) when a sandbox is made
    from ._sandbox import SlackSandbox

__all__ = [
    "COMMANDS",
    "ChatPostMessage",
    "ChatUpdate",
    "SlackSettings",
    "SlackVerifier",
    "SlackWebhookSettings",
    "client_setup",
    "connector",
    "ok_false",
    "polls",
    "sandbox",
]

sandbox: SandboxFactory[SlackSandbox] = lazy_sandbox(f"{__name__}._sandbox", "SlackSandbox")

connector: Connector[SlackSettings, SlackSandbox] = Connector(
    name="slack",
    settings=SlackSettings,
    commands=COMMANDS,
    # Slack retries a delivery not answered within 3 s.
    webhook=WebhookSpec(
        scheme=scheme, normalize=normalize, handshake=handshake, ack_deadline_s=2.5
    ),
    description="Slack Web API and Events API",
    api=client_setup,
    sandbox=sandbox,
    polls=polls,
)
