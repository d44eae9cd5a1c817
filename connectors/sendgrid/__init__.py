"""SendGrid: ECDSA-signed Event Webhook batches in, Mail Send out.

Mail Send has no idempotency key: commands go through the sink's ledger
(``idempotency="ledger"``), covered for as long as the ledger keeps the
command id.
"""

from __future__ import annotations

from typing import Any

from core.connector import Connector, Verifier, WebhookSpec
from core.webhooks import SendGridVerifier

from ._api import client_setup
from ._commands import COMMANDS
from ._settings import SendGridSettings
from ._webhook import normalize

__all__ = ["SendGridSettings", "client_setup", "connector", "sandbox"]


def sandbox(**kwargs: Any) -> Any:
    """A :class:`~connectors.sendgrid._sandbox.SendGridSandbox`."""
    from ._sandbox import SendGridSandbox

    return SendGridSandbox(**kwargs)


def _verifier(settings: SendGridSettings) -> Verifier | None:
    if not settings.webhook_public_keys:
        return None
    return SendGridVerifier(settings.webhook_public_keys, tolerance=settings.webhook_tolerance_s)


connector = Connector(
    name="sendgrid",
    settings=SendGridSettings,
    commands=COMMANDS,
    webhook=WebhookSpec(verifier=_verifier, normalize=normalize, ack_deadline_s=8.0),
    description="SendGrid Mail Send and Event Webhook",
    api=client_setup,
    sandbox=sandbox,
)
