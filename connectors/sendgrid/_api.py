"""How SendGrid calls are made: bearer API key, JSON, 202 Accepted.

Idempotency: ``idempotency="ledger"``, window: covered by the sink's ledger
window. Mail Send v3 has no idempotency key. A 202 means queued for delivery, not delivered.
"""

from __future__ import annotations

from core.apicall import ClientSetup
from core.auth import BearerAuth
from core.classify import ErrorMapping
from core.client import ClientPolicy, credential_fingerprint
from core.errors import PolicyError
from core.ratelimit import RatePolicy

from ._settings import SendGridSettings

__all__ = ["client_setup"]

ERRORS = ErrorMapping().override(request_id_headers=("x-message-id", "x-request-id"))


def client_setup(settings: SendGridSettings) -> ClientSetup:
    if settings.api_key is None or not settings.api_key.get_secret_value():
        raise PolicyError(
            "sendgrid.api_key is not set (needed to send commands)", setting="sendgrid.api_key"
        )
    return ClientSetup(
        policy=ClientPolicy(
            connector="sendgrid",
            base_url=str(settings.base_url),
            rate=RatePolicy(rate=settings.rate),
            errors=ERRORS,
        ),
        auth=BearerAuth(settings.api_key),
        credential=credential_fingerprint(settings.api_key.get_secret_value()),
        idempotency="ledger",
    )
