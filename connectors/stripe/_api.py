"""How Stripe calls are made: bearer secret key, Idempotency-Key = command id.

Idempotency: ``idempotency="key"``, window: 24 h (:data:`IDEMPOTENCY_WINDOW`).
Stripe keeps an idempotency key for at least 24 hours: a redelivered
command within that window is answered with the first response and no new
side effect; the same key with a different body is a 400
``idempotency_error`` (FatalRequestError, never retried). Concurrent use of
a key answers 409, retried. A request refused by validation saves no
result, so a fixed command with the same id goes through. Keys are ignored
on DELETE (``subscriptions.cancel``), which is idempotent by nature.
``Stripe-Should-Retry`` overrides the status.
"""

from __future__ import annotations

from datetime import timedelta

from core.apicall import ClientSetup
from core.classify import Action, ErrorMapping, Resolution, ResponseView
from core.client import ClientPolicy
from core.connector_kit import required, secret_setup
from core.ratelimit import RatePolicy

from ._settings import StripeSettings

__all__ = ["IDEMPOTENCY_WINDOW", "client_setup", "should_retry"]

IDEMPOTENCY_WINDOW = timedelta(hours=24)


def should_retry(view: ResponseView) -> Resolution | None:
    """``Stripe-Should-Retry: true|false`` beats the status table."""
    value = view.headers.get("stripe-should-retry")
    if value == "true" and view.status >= 400:
        return Resolution(Action.RETRY)
    if value == "false" and view.status >= 500:
        return Resolution(Action.FATAL_REQUEST)
    return None


ERRORS = ErrorMapping().override(statuses={409: Action.RETRY}, rules=[should_retry])


def client_setup(settings: StripeSettings) -> ClientSetup:
    key = required(settings.api_key, "stripe.api_key")
    policy = ClientPolicy(
        connector="stripe",
        base_url=str(settings.base_url),
        rate=RatePolicy(rate=settings.rate),
        errors=ERRORS,
        idempotency_header="Idempotency-Key",
        headers={"Stripe-Version": settings.api_version},
    )
    return secret_setup(
        policy,
        key,
        idempotency="key",
        idempotency_window=IDEMPOTENCY_WINDOW,
        api_version=settings.api_version,
    )
