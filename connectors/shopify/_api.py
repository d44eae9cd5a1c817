"""How Shopify calls are made: ``X-Shopify-Access-Token``, GraphQL Admin API.

Throttling is cost-based: every response's ``extensions.cost.throttleStatus``
feeds the client's points budget, so the next mutation waits for the points
it needs instead of being THROTTLED (a THROTTLED answer is RateLimitedError).
Idempotency: ``idempotency="ledger"``, window: covered by the sink's ledger
window. Shopify has no idempotency header: only some mutations (payments,
billing attempts, ``refundCreate``, inventory adjustments) take an
``@idempotent(key:)`` directive inside the document, which a
``graphql.mutation`` command may carry itself; the ledger covers the rest.
"""

from __future__ import annotations

from core.apicall import ClientSetup
from core.auth import ApiKeyAuth
from core.classify import ErrorMapping
from core.client import ClientPolicy, credential_fingerprint
from core.errors import PolicyError
from core.ratelimit import RatePolicy

from ._settings import ShopifySettings

__all__ = ["client_setup"]

ERRORS = ErrorMapping().override(
    request_id_headers=("x-request-id",), message_fields=("errors", "errors.0.message", "message")
)


def client_setup(settings: ShopifySettings) -> ClientSetup:
    if settings.access_token is None or not settings.access_token.get_secret_value():
        raise PolicyError(
            "shopify.access_token is not set (needed for commands and polls)",
            setting="shopify.access_token",
        )
    return ClientSetup(
        policy=ClientPolicy(
            connector="shopify",
            base_url=str(settings.base_url),
            rate=RatePolicy(rate=settings.rate),
            errors=ERRORS,
        ),
        auth=ApiKeyAuth(settings.access_token, name="X-Shopify-Access-Token"),
        credential=credential_fingerprint(settings.access_token.get_secret_value()),
        idempotency="ledger",
        graphql_cost=settings.default_cost,
    )
