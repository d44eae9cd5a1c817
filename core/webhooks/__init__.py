"""Webhook signature verification: one verifier per provider scheme.

Every verifier implements :class:`Verifier`::

    verifier.verify(body, headers, url=None)  # -> Verified, or raises VerificationError

over the raw body bytes (before any parsing) and the request headers (any
mapping; names are matched case-insensitively). Comparisons are
constant-time, several secrets are accepted at once (rotation), timestamps
are checked both ways against an injectable ``clock`` (epoch seconds), and
*anything* wrong with a delivery raises :class:`VerificationError` (with a
machine-readable ``reason``) and never another exception, so a receiver maps
it to 401 without a catch-all. A header the scheme reads that occurs twice
is refused (``duplicate_header``). :class:`Verified` says what the signature
covered: the body's digest, and the id and timestamp when the scheme signs
them; normalization takes the event id from it, never from an unsigned
header. Constructors raise ``ValueError`` (naming the
argument) for a bad configuration; settings models raise pydantic's
``ValidationError`` naming the setting.

Schemes: :class:`StripeVerifier`, :class:`GitHubVerifier`,
:class:`SlackVerifier`, :class:`ShopifyVerifier`, :class:`TwilioVerifier`,
:class:`SendGridVerifier`, :class:`StandardWebhooksVerifier` (also Svix) and
:class:`GenericHmacVerifier`. Each has a settings model with ``build()``;
:data:`WebhookSettings` is their union tagged by ``type``.

Signers producing valid headers for tests, demos and benchmarks live in
:mod:`core.testing.signing`.
"""

from core.webhooks._private.common import (
    DEFAULT_TOLERANCE,
    Reason,
    VerificationError,
    Verified,
    Verifier,
    body_digest,
)
from core.webhooks._private.generic import GenericHmacSettings, GenericHmacVerifier
from core.webhooks._private.hmac_schemes import (
    GitHubVerifier,
    ShopifyVerifier,
    SlackVerifier,
    StripeVerifier,
)
from core.webhooks._private.sendgrid import SendGridVerifier
from core.webhooks._private.settings import (
    GitHubWebhookSettings,
    SendGridWebhookSettings,
    ShopifyWebhookSettings,
    SlackWebhookSettings,
    StandardWebhooksSettings,
    StripeWebhookSettings,
    TwilioWebhookSettings,
    WebhookSettings,
    build_verifier,
    webhook_settings_adapter,
)
from core.webhooks._private.standard import StandardWebhooksVerifier
from core.webhooks._private.twilio import TwilioVerifier

__all__ = [
    "DEFAULT_TOLERANCE",
    "GenericHmacSettings",
    "GenericHmacVerifier",
    "GitHubVerifier",
    "GitHubWebhookSettings",
    "Reason",
    "SendGridVerifier",
    "SendGridWebhookSettings",
    "ShopifyVerifier",
    "ShopifyWebhookSettings",
    "SlackVerifier",
    "SlackWebhookSettings",
    "StandardWebhooksSettings",
    "StandardWebhooksVerifier",
    "StripeVerifier",
    "StripeWebhookSettings",
    "TwilioVerifier",
    "TwilioWebhookSettings",
    "VerificationError",
    "Verified",
    "Verifier",
    "WebhookSettings",
    "body_digest",
    "build_verifier",
    "webhook_settings_adapter",
]
