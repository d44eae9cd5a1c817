from __future__ import annotations

from pydantic import Field, HttpUrl, SecretStr

from core.connector import ConnectorSettings

__all__ = ["SendGridSettings"]


class SendGridSettings(ConnectorSettings):
    api_key: SecretStr | None = Field(default=None, description="SG.... key for mail.send")
    rate: float = Field(default=10, gt=0, description="requests/s")
    webhook_public_keys: list[str] = Field(
        default_factory=list, description="verification key(s), base64 DER or PEM"
    )
    webhook_tolerance_s: float = Field(default=300, gt=0)
    base_url: HttpUrl = HttpUrl("https://api.sendgrid.com")
