"""Generic: Standard Webhooks or a configured HMAC scheme in; declarative
request templates (``generic.request``) out.

Idempotency: with ``idempotency_header`` set the provider's key covers
``idempotency_window_s``; without it the sink's ledger covers redelivery for
as long as it keeps the command id. The sandbox is the core demo provider
(``/echo``, ``/v1/things`` with Idempotency-Key).
"""

from __future__ import annotations

from typing import Any

from core.connector import Connector, Verifier, WebhookSpec
from core.webhooks import StandardWebhooksVerifier

from ._api import client_setup
from ._commands import COMMANDS, RequestTemplate
from ._settings import GenericSettings
from ._webhook import normalize

__all__ = ["GenericSettings", "RequestTemplate", "client_setup", "connector", "sandbox"]


def sandbox(**kwargs: Any) -> Any:
    """The core demo sandbox."""
    from core.testing import DemoSandbox

    return DemoSandbox(**kwargs)


def _verifier(settings: GenericSettings) -> Verifier | None:
    if settings.hmac is not None:
        return settings.hmac.build()
    if not settings.webhook_secrets:
        return None
    return StandardWebhooksVerifier(
        [s.get_secret_value() for s in settings.webhook_secrets],
        tolerance=settings.webhook_tolerance_s,
    )


connector = Connector(
    name="generic",
    settings=GenericSettings,
    commands=COMMANDS,
    webhook=WebhookSpec(verifier=_verifier, normalize=normalize, ack_deadline_s=4.0),
    description="Any provider: Standard Webhooks or configured HMAC",
    api=client_setup,
    sandbox=sandbox,
)
