"""Generic: Standard Webhooks or a configured HMAC scheme."""

from __future__ import annotations

from pydantic import Field, HttpUrl, SecretStr

from core.connector import Connector, ConnectorSettings, Verifier, WebhookSpec
from core.webhooks import GenericHmacSettings, StandardWebhooksVerifier

from ._webhook import normalize

__all__ = ["GenericSettings", "connector"]


class GenericSettings(ConnectorSettings):
    webhook_secrets: list[SecretStr] = Field(
        default_factory=list, description="Standard Webhooks whsec_... secrets"
    )
    webhook_tolerance_s: float = Field(default=300, gt=0)
    hmac: GenericHmacSettings | None = Field(
        default=None, description="a custom HMAC scheme instead of Standard Webhooks"
    )
    base_url: HttpUrl | None = None


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
    webhook=WebhookSpec(verifier=_verifier, normalize=normalize, ack_deadline_s=4.0),
    description="Any provider: Standard Webhooks or configured HMAC",
)
