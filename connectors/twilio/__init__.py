"""Twilio: signed status callbacks and incoming messages."""

from __future__ import annotations

from pydantic import Field, HttpUrl, SecretStr, model_validator

from core.connector import Connector, ConnectorSettings, Verifier, WebhookSpec
from core.webhooks import TwilioVerifier

from ._webhook import normalize

__all__ = ["TwilioSettings", "connector"]


class TwilioSettings(ConnectorSettings):
    account_sid: str | None = None
    auth_tokens: list[SecretStr] = Field(
        default_factory=list, description="auth token(s) that sign webhooks"
    )
    public_url: HttpUrl | None = Field(
        default=None,
        description="the origin Twilio calls (e.g. https://hooks.example.com): Twilio signs "
        "the full URL, which a proxy in front of the worker changes",
    )
    base_url: HttpUrl = HttpUrl("https://api.twilio.com")

    @model_validator(mode="after")
    def _public_url_for_webhooks(self) -> TwilioSettings:
        if self.auth_tokens and self.public_url is None:
            raise ValueError(
                "public_url is required with auth_tokens: Twilio signs the full URL it calls"
            )
        return self


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
    # Twilio waits 15 s for a webhook response.
    webhook=WebhookSpec(verifier=_verifier, normalize=normalize, ack_deadline_s=10.0),
    description="Twilio Programmable Messaging",
)
