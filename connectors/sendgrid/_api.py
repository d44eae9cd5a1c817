"""How SendGrid calls are made: bearer API key, JSON, 202 Accepted.

Idempotency: ``idempotency="ledger"``, window: covered by the sink's ledger
window. Mail Send v3 has no idempotency key. A 202 means queued for delivery, not delivered.
"""

from __future__ import annotations

from core.apicall import ClientSetup
from core.classify import ErrorMapping
from core.client import ClientPolicy
from core.connector_kit import required, secret_setup
from core.ratelimit import RatePolicy

from ._settings import SendGridSettings

__all__ = ["client_setup"]

ERRORS = ErrorMapping().override(request_id_headers=("x-message-id", "x-request-id"))


def client_setup(settings: SendGridSettings) -> ClientSetup:
    key = required(settings.api_key, "sendgrid.api_key")
    return secret_setup(
        ClientPolicy(
            connector="sendgrid",
            base_url=str(settings.base_url),
            rate=RatePolicy(rate=settings.rate),
            errors=ERRORS,
        ),
        key,
    )
