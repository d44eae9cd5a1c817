from __future__ import annotations

from typing import ClassVar

from pydantic import Field, HttpUrl, SecretStr

from core.connector import ConnectorSettings

#: the version of the API description the stripe.* commands are made from
API_VERSION = "2026-08-26.dahlia"


class StripeSettings(ConnectorSettings):
    """The ``stripe`` section. ``files_base_url`` is where file uploads and
    downloads go (``files.create``, ``quotes.pdf``: files.stripe.com); left
    unset, it follows ``base_url`` when that is not the default (a mock such
    as stripe-mock, or a proxy, gets those calls too)."""

    follow_base_url: ClassVar[tuple[str, ...]] = ("files_base_url",)
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
    files_base_url: HttpUrl = Field(
        default=HttpUrl("https://files.stripe.com"),
        description="where files.create and quotes.pdf go; unset: base_url when that is "
        "not the default",
    )
