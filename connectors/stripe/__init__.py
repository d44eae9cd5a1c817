"""Stripe: signed webhooks in, API commands out."""

from __future__ import annotations

from core.connector import Connector, Verifier, WebhookSpec
from core.webhooks import StripeVerifier

from ._commands import COMMANDS
from ._settings import StripeSettings
from ._webhook import normalize

__all__ = ["StripeSettings", "connector"]


def _verifier(settings: StripeSettings) -> Verifier | None:
    if not settings.webhook_secrets:
        return None
    return StripeVerifier(
        [s.get_secret_value() for s in settings.webhook_secrets],
        tolerance=settings.webhook_tolerance_s,
    )


connector = Connector(
    name="stripe",
    settings=StripeSettings,
    commands=COMMANDS,
    # Stripe times a delivery out after ~10 s: answer 503 well before.
    webhook=WebhookSpec(verifier=_verifier, normalize=normalize, ack_deadline_s=8.0),
    description="Stripe payments API (form-encoded, Idempotency-Key = command id)",
)
