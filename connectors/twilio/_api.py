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
from core.classify import ErrorMapping
from core.client import ClientPolicy
from core.connector_kit import FOR_COMMANDS_AND_POLLS, required, secret_setup
from core.ratelimit import RatePolicy

from ._settings import TwilioSettings

__all__ = ["client_setup"]

ERRORS = ErrorMapping().override(request_id_headers=("twilio-request-id", "x-request-id"))


def client_setup(settings: TwilioSettings) -> ClientSetup:
    account = required(settings.account_sid, "twilio.account_sid", FOR_COMMANDS_AND_POLLS)
    if settings.api_key_sid and settings.api_key_secret is not None:
        user, secret = settings.api_key_sid, settings.api_key_secret
    else:
        user = account
        secret = required(
            settings.auth_tokens[0] if settings.auth_tokens else None,
            "twilio.auth_tokens",
            FOR_COMMANDS_AND_POLLS,
            what="twilio.auth_tokens (or api_key_sid + api_key_secret)",
        )
    return secret_setup(
        ClientPolicy(
            connector="twilio",
            base_url=str(settings.base_url),
            rate=RatePolicy(rate=settings.rate),
            errors=ERRORS,
        ),
        secret,
        basic_user=user,
        api_version="2010-04-01",  # in every path; Messaging v1 commands record v1
    )
