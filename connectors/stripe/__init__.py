"""Stripe: signed webhooks in, ``/v1/events`` polled, API commands out.

Commands are form-encoded (bracket nesting) and carry the command id as
``Idempotency-Key``: Stripe keeps keys for 24 hours, so a command redelivered
or replayed within 24 h of its first call has exactly one side effect
(``ClientSetup.idempotency == "key"``, no ledger needed inside that window).
"""

from __future__ import annotations

from typing import Any

from core.connector import Connector, Verifier, WebhookSpec
from core.webhooks import StripeVerifier

from ._api import IDEMPOTENCY_WINDOW, client_setup
from ._commands import COMMANDS
from ._poll import poll_streams
from ._settings import StripeSettings
from ._webhook import normalize

__all__ = ["IDEMPOTENCY_WINDOW", "StripeSettings", "client_setup", "connector", "sandbox"]


def _verifier(settings: StripeSettings) -> Verifier | None:
    if not settings.webhook_secrets:
        return None
    return StripeVerifier(
        [s.get_secret_value() for s in settings.webhook_secrets],
        tolerance=settings.webhook_tolerance_s,
    )


def sandbox(**kwargs: Any) -> Any:
    """A :class:`~connectors.stripe._sandbox.StripeSandbox` (aiohttp loaded on demand)."""
    from ._sandbox import StripeSandbox

    return StripeSandbox(**kwargs)


connector = Connector(
    name="stripe",
    settings=StripeSettings,
    commands=COMMANDS,
    # Stripe times a delivery out after ~10 s: answer 503 well before.
    webhook=WebhookSpec(verifier=_verifier, normalize=normalize, ack_deadline_s=8.0),
    description="Stripe payments API (form-encoded, Idempotency-Key = command id)",
    api=client_setup,
    sandbox=sandbox,
    polls=poll_streams,
)
