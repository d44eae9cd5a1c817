"""Standard Webhooks (https://www.standardwebhooks.com), also sent by Svix.

Written here rather than wrapping the ``standardwebhooks`` package: it lets
``ValueError`` out of a malformed ``webhook-signature`` entry, reads the wall
clock directly, takes one secret, and decodes the body as text. The scheme
is one HMAC; the package is the oracle in the tests.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterable, Mapping

from core.redaction import register_secret
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
    mac,
    matches,
    parse_timestamp,
)
from core.webhooks._private.keys import tolerance_argument

__all__ = ["StandardWebhooksVerifier", "decode_standard_secret"]

_PREFIX = "whsec_"


def decode_standard_secret(secret: str | bytes) -> bytes:
    """Key bytes of a Standard Webhooks secret.

    A ``str`` is ``whsec_<base64>`` (the prefix is optional; unpadded base64
    is accepted, as the reference library does); ``bytes`` are the raw key.
    Raises ``ValueError`` (naming ``secrets``) for bad base64 or an empty key.
    """
    if isinstance(secret, bytes):
        key = secret
    else:
        register_secret(secret)
        text = secret.removeprefix(_PREFIX)
        padded = text + "=" * (-len(text) % 4)
        try:
            key = base64.b64decode(padded, validate=True)
        except ValueError as exc:  # binascii.Error is a ValueError
            raise ValueError("secrets: not a whsec_<base64> secret") from exc
    if not key:
        raise ValueError("secrets: secret must not be empty")
    return key


class StandardWebhooksVerifier:
    """Standard Webhooks: ``webhook-id``, ``webhook-timestamp``, ``webhook-signature``.

    ``webhook-signature`` holds space-separated ``v1,<base64>`` entries (one
    per active signing secret on the sender's side); entries of other
    versions (e.g. the asymmetric ``v1a``) are skipped. Signed content is
    ``<id>.<timestamp>.<body>``, HMAC-SHA256 keyed by the base64-decoded
    ``whsec_`` secret. The timestamp must be within ``tolerance`` seconds of
    the clock, either way. The ``svix-id``/``svix-timestamp``/
    ``svix-signature`` names are accepted when the ``webhook-*`` set is
    absent (the two sets are never mixed).
    """

    scheme = "standard_webhooks"
    _SETS = (
        ("webhook-id", "webhook-timestamp", "webhook-signature"),
        ("svix-id", "svix-timestamp", "svix-signature"),
    )

    def __init__(
        self,
        secrets: str | bytes | Iterable[str | bytes],
        *,
        tolerance: float | None = DEFAULT_TOLERANCE,
        clock: Clock = time.time,
    ) -> None:
        items = [secrets] if isinstance(secrets, (str, bytes)) else list(secrets)
        if not items:
            raise ValueError("secrets: at least one secret is required")
        self._keys = tuple(decode_standard_secret(s) for s in items)
        self._tolerance = tolerance_argument(tolerance)
        self._clock = clock

    def verify(
        self, body: bytes, headers: Mapping[str, str], *, url: str | None = None
    ) -> Verified:
        """See :class:`~core.webhooks.Verifier`; ``url`` is ignored. The
        :class:`~core.webhooks.Verified` carries the signed id and timestamp."""
        view = Headers(headers, self.scheme, self._SETS[0] + self._SETS[1])
        names = self._SETS[0]
        if view.get(names[2]) is None and view.get(self._SETS[1][2]) is not None:
            names = self._SETS[1]
        id_name, ts_name, sig_name = names
        msg_id = view.require(id_name)
        timestamp = view.require(ts_name)
        value = view.require(sig_name)
        ts = parse_timestamp(timestamp, ts_name, self.scheme)
        given: list[bytes] = []
        for entry in value.split():
            version, sep, sig = entry.partition(",")
            if not sep:
                raise VerificationError(
                    "malformed_header", f"malformed {sig_name}", scheme=self.scheme
                )
            if version != "v1":
                continue
            if len(given) >= MAX_SIGNATURES:
                raise VerificationError(
                    "malformed_header", "too many signatures", scheme=self.scheme
                )
            given.append(b64decode(sig, sig_name, self.scheme))
        if not given:
            raise VerificationError("missing_header", "no v1 signature", scheme=self.scheme)
        try:
            signed = msg_id.encode("utf-8") + b"." + timestamp.encode("ascii") + b"." + body
        except UnicodeError as exc:
            raise VerificationError(
                "malformed_header", f"bad {id_name}", scheme=self.scheme
            ) from exc
        if not matches((mac(k, signed) for k in self._keys), given):
            raise VerificationError("bad_signature", "no matching signature", scheme=self.scheme)
        check_tolerance(ts, self._clock, self._tolerance, self.scheme)
        return Verified(body_digest(body), event_id=msg_id, timestamp=ts)
