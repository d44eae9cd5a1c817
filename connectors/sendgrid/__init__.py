"""SendGrid: ECDSA-signed Event Webhook batches."""

from __future__ import annotations

from pydantic import Field, HttpUrl, SecretStr

from core.connector import Connector, ConnectorSettings, Verifier, WebhookSpec
from core.webhooks import SendGridVerifier

from ._webhook import normalize

__all__ = ["SendGridSettings", "connector"]


class SendGridSettings(ConnectorSettings):
    api_key: SecretStr | None = None
    webhook_public_keys: list[str] = Field(
        default_factory=list, description="verification key(s), base64 DER or PEM"
    )
    webhook_tolerance_s: float = Field(default=300, gt=0)
    base_url: HttpUrl = HttpUrl("https://api.sendgrid.com")


def _verifier(settings: SendGridSettings) -> Verifier | None:
    if not settings.webhook_public_keys:
        return None
    return SendGridVerifier(settings.webhook_public_keys, tolerance=settings.webhook_tolerance_s)


connector = Connector(
    name="sendgrid",
    settings=SendGridSettings,
    webhook=WebhookSpec(verifier=_verifier, normalize=normalize, ack_deadline_s=8.0),
    description="SendGrid Mail Send and Event Webhook",
)
