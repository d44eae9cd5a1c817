"""SendGrid: ECDSA-signed Event Webhook batches in, Mail Send out.

Mail Send has no idempotency key: commands go through the sink's ledger
(``idempotency="ledger"``), covered for as long as the ledger keeps the
command id. Nothing is polled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.connector import Connector, SandboxFactory, WebhookSpec
from core.connector_kit import lazy_sandbox

from ._api import client_setup
from ._commands import COMMANDS, Address, Content, MailSend, Personalization
from ._settings import SendGridSettings
from ._webhook import SendGridVerifier, SendGridWebhookSettings, normalize, scheme

if TYPE_CHECKING:  # imported (with aiohttp) when a sandbox is made
    from ._sandbox import SendGridSandbox

__all__ = [
    "COMMANDS",
    "Address",
    "Content",
    "MailSend",
    "Personalization",
    "SendGridSettings",
    "SendGridVerifier",
    "SendGridWebhookSettings",
    "client_setup",
    "connector",
    "sandbox",
]

sandbox: SandboxFactory[SendGridSandbox] = lazy_sandbox(f"{__name__}._sandbox", "SendGridSandbox")

connector: Connector[SendGridSettings, SendGridSandbox] = Connector(
    name="sendgrid",
    settings=SendGridSettings,
    commands=COMMANDS,
    webhook=WebhookSpec(scheme=scheme, normalize=normalize, ack_deadline_s=8.0),
    description="SendGrid Mail Send and Event Webhook",
    api=client_setup,
    sandbox=sandbox,
)
