"""Slack: Events API webhooks (v0 signatures, url_verification handshake)."""

from __future__ import annotations

from pydantic import Field, HttpUrl, SecretStr

from core.connector import Connector, ConnectorSettings, Verifier, WebhookSpec
from core.webhooks import SlackVerifier

from ._webhook import handshake, normalize

__all__ = ["SlackSettings", "connector"]


class SlackSettings(ConnectorSettings):
    bot_token: SecretStr | None = None
    signing_secrets: list[SecretStr] = Field(default_factory=list)
    webhook_tolerance_s: float = Field(default=300, gt=0)
    base_url: HttpUrl = HttpUrl("https://slack.com/api")


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
    # Slack retries a delivery not answered within 3 s.
    webhook=WebhookSpec(
        verifier=_verifier, normalize=normalize, handshake=handshake, ack_deadline_s=2.5
    ),
    description="Slack Web API and Events API",
)
