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
from core.classify import ErrorMapping
from core.client import ClientPolicy
from core.connector_kit import FOR_COMMANDS_AND_POLLS, required, secret_setup
from core.ratelimit import RatePolicy

from ._settings import ShopifySettings

__all__ = ["client_setup"]

ERRORS = ErrorMapping().override(
    request_id_headers=("x-request-id",), message_fields=("errors", "errors.0.message", "message")
)


def client_setup(settings: ShopifySettings) -> ClientSetup:
    token = required(settings.access_token, "shopify.access_token", FOR_COMMANDS_AND_POLLS)
    return secret_setup(
        ClientPolicy(
            connector="shopify",
            base_url=str(settings.base_url),
            rate=RatePolicy(rate=settings.rate),
            errors=ERRORS,
        ),
        token,
        api_key_header="X-Shopify-Access-Token",
        graphql_cost=settings.default_cost,
    )
