"""Slack: Events API webhooks (v0 signatures, url_verification handshake),
Web API commands out.

Slack has no idempotency key for messages: commands go through the sink's
ledger (``idempotency="ledger"``), covered for as long as the ledger keeps
the command id. HTTP 200 ``{"ok": false}`` is an error (see ``_api.ok_false``).
Polls: ``conversations.history`` of each channel in ``poll_channels`` (``_poll``).
"""

from __future__ import annotations

from typing import Any

from core.connector import Connector, Verifier, WebhookSpec
from core.webhooks import SlackVerifier

from ._api import client_setup, ok_false
from ._commands import COMMANDS
from ._poll import polls
from ._settings import SlackSettings
from ._webhook import handshake, normalize

__all__ = ["SlackSettings", "client_setup", "connector", "ok_false", "sandbox"]


def sandbox(**kwargs: Any) -> Any:
    """A :class:`~connectors.slack._sandbox.SlackSandbox`."""
    from ._sandbox import SlackSandbox

    return SlackSandbox(**kwargs)


def _verifier(settings: SlackSettings) -> Verifier | None:
    if not settings.signing_secrets:
        return None
    return SlackVerifier(
        [s.get_secret_value() for s in settings.signing_secrets],
        tolerance=settings.webhook_tolerance_s,
    )


connector = Connector(
    name="slack",
    settings=SlackSettings,
    commands=COMMANDS,
    # Slack retries a delivery not answered within 3 s.
    webhook=WebhookSpec(
        verifier=_verifier, normalize=normalize, handshake=handshake, ack_deadline_s=2.5
    ),
    description="Slack Web API and Events API",
    api=client_setup,
    sandbox=sandbox,
    polls=polls,
)
