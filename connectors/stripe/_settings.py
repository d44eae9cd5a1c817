from __future__ import annotations

from pydantic import Field, HttpUrl, SecretStr

from core.connector import ConnectorSettings


class StripeSettings(ConnectorSettings):
    api_key: SecretStr | None = Field(default=None, description="sk_... secret key (commands)")
    api_version: str | None = Field(default=None, description="Stripe-Version header, if pinned")
    rate: float = Field(default=25, gt=0, description="requests/s (Stripe: 100 live, 25 test)")
    webhook_secrets: list[SecretStr] = Field(
        default_factory=list,
        description="whsec_... endpoint secrets; several while one is rolled",
    )
    webhook_tolerance_s: float = Field(default=300, gt=0)
    base_url: HttpUrl = HttpUrl("https://api.stripe.com")
