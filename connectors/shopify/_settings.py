from __future__ import annotations

from typing import Literal

from pydantic import Field, HttpUrl, SecretStr

from core.connector import ConnectorSettings

__all__ = ["ShopifySettings"]


class ShopifySettings(ConnectorSettings):
    access_token: SecretStr | None = Field(default=None, description="Admin API access token")
    api_version: str = Field(default="2025-01", pattern=r"^\d{4}-\d{2}$|^unstable$")
    rate: float = Field(default=20, gt=0, description="requests/s (cost points are separate)")
    default_cost: float = Field(
        default=10, gt=0, description="points assumed for a mutation before Shopify reports one"
    )
    webhook_secrets: list[SecretStr] = Field(
        default_factory=list, description="the app's client secret(s)"
    )
    base_url: HttpUrl = HttpUrl("https://example.myshopify.com")
    poll_orders: bool = Field(
        default=False, description="poll the shop's orders by updated_at (needs read_orders)"
    )
    poll_orders_api: Literal["rest", "graphql"] = Field(
        default="rest",
        description="rest: orders.json + Link page_info (stream orders); "
        "graphql: orders + pageInfo (stream orders-graphql)",
    )
    poll_lookback_s: float = Field(
        default=300, ge=0, description="seconds before the latest polled update a run starts"
    )
