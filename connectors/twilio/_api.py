"""How Twilio calls are made: HTTP Basic (account SID + auth token, or an
API key SID + secret), form bodies, the account SID in the path.

Idempotency: ``idempotency="ledger"``, window: covered by the sink's ledger
window. The Messages API takes no idempotency key
(``I-Twilio-Idempotency-Token`` is a header Twilio puts on the webhooks it
sends, not one it honours).

Errors carry Twilio's numeric ``code`` (e.g. 21211 invalid To) as the
``provider_code``.
"""

from __future__ import annotations

from core.apicall import ClientSetup
from core.auth import BasicAuth
from core.classify import ErrorMapping
from core.client import ClientPolicy, credential_fingerprint
from core.errors import PolicyError
from core.ratelimit import RatePolicy

from ._settings import TwilioSettings

__all__ = ["client_setup"]

ERRORS = ErrorMapping().override(request_id_headers=("twilio-request-id", "x-request-id"))


def client_setup(settings: TwilioSettings) -> ClientSetup:
    if not settings.account_sid:
        raise PolicyError(
            "twilio.account_sid is not set (needed for commands and polls)",
            setting="twilio.account_sid",
        )
    if settings.api_key_sid and settings.api_key_secret is not None:
        user, secret = settings.api_key_sid, settings.api_key_secret
    elif settings.auth_tokens:
        user, secret = settings.account_sid, settings.auth_tokens[0]
    else:
        raise PolicyError(
            "twilio.auth_tokens (or api_key_sid + api_key_secret) is not set "
            "(needed for commands and polls)",
            setting="twilio.auth_tokens",
        )
    return ClientSetup(
        policy=ClientPolicy(
            connector="twilio",
            base_url=str(settings.base_url),
            rate=RatePolicy(rate=settings.rate),
            errors=ERRORS,
        ),
        auth=BasicAuth(user, secret),
        credential=credential_fingerprint(f"{user}:{secret.get_secret_value()}"),
        idempotency="ledger",
    )
