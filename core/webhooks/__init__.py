"""Webhook signature verification: provider-agnostic primitives and core's own schemes.

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
header. Constructors raise ``ValueError`` (naming the argument) for a bad
configuration; settings models raise pydantic's ``ValidationError`` naming
the setting.

Core names no provider. It has the parts a scheme is made of -- strict
header parsing (:class:`Headers`, :func:`parse_timestamp`, :func:`hexdecode`,
:func:`b64decode`), several HMAC secrets compared in constant time
(:class:`HmacKeys`), timestamped HMAC with a tolerance
(:class:`TimestampedHmac`), ECDSA P-256 (:class:`EcdsaKeys`) -- and the
settings bases a scheme is configured with (:class:`SecretsSettings`,
:class:`TimestampedSecretsSettings`, :class:`PublicKeysSettings`), plus two
complete schemes: :class:`StandardWebhooksVerifier` (also Svix; ``v1`` HMAC and
``v1a`` ed25519) and
:class:`GenericHmacVerifier` (HMAC over chosen parts of the request). A
provider's own scheme and its settings live in its connector
(``connectors/<name>/_webhook.py``).

Signers producing valid headers for tests, demos and benchmarks live in
:mod:`core.testing.signing`.
"""

from core.webhooks._private.common import (
    DEFAULT_TOLERANCE,
    MAX_SIGNATURES,
    Clock,
    Headers,
    Reason,
    VerificationError,
    Verified,
    Verifier,
    b64decode,
    body_digest,
    check_tolerance,
    hexdecode,
    parse_timestamp,
    secret_list,
)
from core.webhooks._private.ecdsa import EcdsaKeys, PublicKey, load_p256_public_key
from core.webhooks._private.fields import KeyList, SecretList, Tolerance, nonempty_secrets
from core.webhooks._private.generic import GenericHmacSettings, GenericHmacVerifier
from core.webhooks._private.keys import HmacKeys, TimestampedHmac, tolerance_argument
from core.webhooks._private.settings import (
    PublicKeysSettings,
    SchemeSettings,
    SecretsSettings,
    StandardWebhooksSettings,
    TimestampedSecretsSettings,
    WebhookScheme,
    WebhookSettings,
    build_verifier,
    webhook_settings_adapter,
)
from core.webhooks._private.standard import (
    StandardWebhooksVerifier,
    decode_standard_public_key,
    decode_standard_secret,
)

__all__ = [
    "DEFAULT_TOLERANCE",
    "MAX_SIGNATURES",
    "Clock",
    "EcdsaKeys",
    "GenericHmacSettings",
    "GenericHmacVerifier",
    "Headers",
    "HmacKeys",
    "KeyList",
    "PublicKey",
    "PublicKeysSettings",
    "Reason",
    "SchemeSettings",
    "SecretList",
    "SecretsSettings",
    "StandardWebhooksSettings",
    "StandardWebhooksVerifier",
    "TimestampedHmac",
    "TimestampedSecretsSettings",
    "Tolerance",
    "VerificationError",
    "Verified",
    "Verifier",
    "WebhookScheme",
    "WebhookSettings",
    "b64decode",
    "body_digest",
    "build_verifier",
    "check_tolerance",
    "decode_standard_public_key",
    "decode_standard_secret",
    "hexdecode",
    "load_p256_public_key",
    "nonempty_secrets",
    "parse_timestamp",
    "secret_list",
    "tolerance_argument",
    "webhook_settings_adapter",
]
