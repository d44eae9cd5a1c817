"""Twilio: signed status callbacks and incoming messages; messages.create out.

Twilio has no idempotency key for messages: commands go through the sink's
ledger (``idempotency="ledger"``), covered for as long as the ledger keeps
the command id. Polls: the account's message list when ``poll_messages``
is on (``_poll``).
"""

from __future__ import annotations

from typing import Any

from core.connector import Connector, Verifier, WebhookSpec
from core.webhooks import TwilioVerifier

from ._api import client_setup
from ._commands import COMMANDS
from ._poll import polls
from ._settings import TwilioSettings
from ._webhook import normalize

__all__ = ["TwilioSettings", "client_setup", "connector", "sandbox"]


def sandbox(**kwargs: Any) -> Any:
    """A :class:`~connectors.twilio._sandbox.TwilioSandbox`."""
    from ._sandbox import TwilioSandbox

    return TwilioSandbox(**kwargs)


def _verifier(settings: TwilioSettings) -> Verifier | None:
    if not settings.auth_tokens:
        return None
    return TwilioVerifier(
        [s.get_secret_value() for s in settings.auth_tokens],
        public_url=str(settings.public_url).rstrip("/") if settings.public_url else None,
    )


connector = Connector(
    name="twilio",
    settings=TwilioSettings,
    commands=COMMANDS,
    # Twilio waits 15 s for a webhook response. Its callbacks are a few dozen
    # parameters (a message body is at most 1,600 characters): 64 KiB leaves a
    # wide margin and bounds what verification canonicalises (413 above it).
    webhook=WebhookSpec(
        verifier=_verifier, normalize=normalize, max_body_bytes=64 * 1024, ack_deadline_s=10.0
    ),
    description="Twilio Programmable Messaging",
    api=client_setup,
    sandbox=sandbox,
    polls=polls,
)
