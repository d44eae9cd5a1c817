"""SendGrid signed Event Webhook: ECDSA P-256 / SHA-256 over ``timestamp + body``.

The elliptic-curve work is the ``cryptography`` package's; only the header
handling and the timestamp tolerance (which SendGrid's own helper lacks) are
ours. SendGrid's helper is the oracle in the tests.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterable, Mapping

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key, load_pem_public_key

from core.webhooks._private.common import (
    DEFAULT_TOLERANCE,
    MAX_SIGNATURES,
    Clock,
    Headers,
    VerificationError,
    Verified,
    b64decode,
    body_digest,
    check_tolerance,
    parse_timestamp,
)

__all__ = ["SendGridVerifier", "load_sendgrid_public_key"]

_ECDSA = ec.ECDSA(hashes.SHA256())


def load_sendgrid_public_key(
    key: str | bytes | ec.EllipticCurvePublicKey,
) -> ec.EllipticCurvePublicKey:
    """An EC P-256 public key from SendGrid's "Verification Key" setting.

    Accepts the base64 DER text SendGrid shows (``MFkwEwYHKoZIzj0CAQYI...``),
    a PEM block, raw DER bytes, or a key object. Raises ``ValueError`` naming
    ``public_keys`` when it is none of these or not a P-256 key.
    """
    if isinstance(key, ec.EllipticCurvePublicKey):
        loaded: object = key
    else:
        try:
            if isinstance(key, str):
                text = key.strip()
                if text.startswith("-----BEGIN"):
                    loaded = load_pem_public_key(text.encode("ascii"))
                else:
                    der = base64.b64decode("".join(text.split()), validate=True)
                    loaded = load_der_public_key(der)
            else:
                loaded = load_der_public_key(key)
        except (ValueError, UnsupportedAlgorithm, UnicodeError) as exc:
            raise ValueError("public_keys: not a base64 DER or PEM public key") from exc
    if not isinstance(loaded, ec.EllipticCurvePublicKey) or not isinstance(
        loaded.curve, ec.SECP256R1
    ):
        raise ValueError("public_keys: must be an EC P-256 public key")
    return loaded


class SendGridVerifier:
    """SendGrid ``X-Twilio-Email-Event-Webhook-Signature`` (base64 DER ECDSA)
    and ``X-Twilio-Email-Event-Webhook-Timestamp``.

    The signature is ECDSA P-256 with SHA-256 over the timestamp header's
    exact text followed by the raw body. Any configured public key may match
    (rotation). The timestamp must be within ``tolerance`` seconds of the
    clock, either way (SendGrid's own helper checks none; ``None`` disables).
    """

    scheme = "sendgrid"
    header = "X-Twilio-Email-Event-Webhook-Signature"
    timestamp_header = "X-Twilio-Email-Event-Webhook-Timestamp"

    def __init__(
        self,
        public_keys: str
        | bytes
        | ec.EllipticCurvePublicKey
        | Iterable[str | bytes | ec.EllipticCurvePublicKey],
        *,
        tolerance: float | None = DEFAULT_TOLERANCE,
        clock: Clock = time.time,
    ) -> None:
        items = (
            [public_keys]
            if isinstance(public_keys, (str, bytes, ec.EllipticCurvePublicKey))
            else list(public_keys)
        )
        if not items:
            raise ValueError("public_keys: at least one public key is required")
        if len(items) > MAX_SIGNATURES:
            raise ValueError(f"public_keys: at most {MAX_SIGNATURES} keys")
        self._keys = tuple(load_sendgrid_public_key(k) for k in items)
        if tolerance is not None and tolerance < 0:
            raise ValueError("tolerance: must be >= 0 seconds (or None to disable)")
        self._tolerance = tolerance
        self._clock = clock

    def verify(
        self, body: bytes, headers: Mapping[str, str], *, url: str | None = None
    ) -> Verified:
        """See :class:`~core.webhooks.Verifier`; ``url`` is ignored."""
        view = Headers(headers, self.scheme, [self.header, self.timestamp_header])
        signature = b64decode(view.require(self.header), self.header, self.scheme)
        timestamp = view.require(self.timestamp_header)
        ts = parse_timestamp(timestamp, self.timestamp_header, self.scheme)
        signed = timestamp.encode("ascii") + body
        if not any(self._verify_one(key, signature, signed) for key in self._keys):
            raise VerificationError("bad_signature", "no matching signature", scheme=self.scheme)
        check_tolerance(ts, self._clock, self._tolerance, self.scheme)
        return Verified(body_digest(body), timestamp=ts)

    @staticmethod
    def _verify_one(key: ec.EllipticCurvePublicKey, signature: bytes, signed: bytes) -> bool:
        try:
            key.verify(signature, signed, _ECDSA)
        except (InvalidSignature, ValueError):  # ValueError: undecodable DER signature
            return False
        return True
