"""Shopify: HMAC-signed webhooks."""

from __future__ import annotations

from pydantic import Field, HttpUrl, SecretStr

from core.connector import Connector, ConnectorSettings, Verifier, WebhookSpec
from core.webhooks import ShopifyVerifier

from ._webhook import normalize

__all__ = ["ShopifySettings", "connector"]


class ShopifySettings(ConnectorSettings):
    access_token: SecretStr | None = None
    webhook_secrets: list[SecretStr] = Field(
        default_factory=list, description="the app's client secret(s)"
    )
    base_url: HttpUrl = HttpUrl("https://example.myshopify.com")


def _verifier(settings: ShopifySettings) -> Verifier | None:
    if not settings.webhook_secrets:
        return None
    return ShopifyVerifier([s.get_secret_value() for s in settings.webhook_secrets])


connector = Connector(
    name="shopify",
    settings=ShopifySettings,
    # Shopify times out after 5 s.
    webhook=WebhookSpec(verifier=_verifier, normalize=normalize, ack_deadline_s=4.0),
    description="Shopify Admin API",
)
