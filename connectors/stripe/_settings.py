from __future__ import annotations

from pydantic import Field, HttpUrl, SecretStr

from core.connector import ConnectorSettings

#: the version of the API description the stripe.* commands are made from
API_VERSION = "2026-08-26.dahlia"


class StripeSettings(ConnectorSettings):
    api_key: SecretStr | None = Field(default=None, description="sk_... secret key (commands)")
    api_version: str = Field(
        default=API_VERSION,
        min_length=1,
        description="Stripe-Version header sent on every call (the catalog's pinned version)",
    )
    rate: float = Field(default=25, gt=0, description="requests/s (Stripe: 100 live, 25 test)")
    webhook_secrets: list[SecretStr] = Field(
        default_factory=list,
        description="whsec_... endpoint secrets; several while one is rolled",
    )
    webhook_tolerance_s: float = Field(default=300, gt=0)
    base_url: HttpUrl = HttpUrl("https://api.stripe.com")
