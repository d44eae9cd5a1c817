from __future__ import annotations

from pydantic import Field, HttpUrl, SecretStr

from core.connector import ConnectorSettings


class StripeSettings(ConnectorSettings):
    api_key: SecretStr | None = None
    webhook_secrets: list[SecretStr] = Field(
        default_factory=list, description="whsec_... secrets; several during a rotation"
    )
    base_url: HttpUrl = HttpUrl("https://api.stripe.com")
