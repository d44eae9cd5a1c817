"""Standard Webhooks (https://www.standardwebhooks.com), also sent by Svix.

Written here rather than wrapping the ``standardwebhooks`` package: it lets
``ValueError`` out of a malformed ``webhook-signature`` entry, reads the wall
clock directly, takes one secret, decodes the body as text, and has no
``v1a`` (ed25519) verifier. The symmetric scheme (``v1``) is one HMAC; the
asymmetric one (``v1a``) is one ed25519 signature, checked with
``cryptography``. The package is the oracle for ``v1`` in the tests;
``v1a`` is checked against signatures made with ``cryptography`` directly.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Iterable, Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

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

__all__ = ["StandardWebhooksVerifier", "decode_standard_public_key", "decode_standard_secret"]

_PREFIX = "whsec_"
_PUBLIC_PREFIX = "whpk_"
_PRIVATE_PREFIX = "whsk_"


def _b64(text: str) -> bytes:
    """Standard base64, padding optional (as the reference library accepts)."""
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def decode_standard_secret(
    secret: str | bytes, *, setting: str = "secrets", keys_setting: str = "public_keys"
) -> bytes:
    """Key bytes of a Standard Webhooks ``v1`` secret.

    A ``str`` is ``whsec_<base64>`` (the prefix is optional; unpadded base64
    is accepted, as the reference library does); ``bytes`` are the raw key.
    Raises ``ValueError`` (naming ``setting``, and ``keys_setting`` when a
    ``v1a`` key was given instead) for a key of the wrong kind, bad base64 or
    an empty key. The message never repeats the value.
    """
    if isinstance(secret, bytes):
        key = secret
    else:
        if secret.startswith(_PUBLIC_PREFIX):
            raise ValueError(
                f"{setting}: a whpk_ key is a v1a (ed25519) public key, not a whsec_ secret:"
                f" put it in {keys_setting}"
            )
        register_secret(secret)
        if secret.startswith(_PRIVATE_PREFIX):
            raise ValueError(
                f"{setting}: a whsk_ key is the sender's private v1a signing key: keep it"
                f" secret and put its whpk_ public key in {keys_setting}"
            )
        try:
            key = _b64(secret.removeprefix(_PREFIX))
        except ValueError as exc:  # binascii.Error is a ValueError
            raise ValueError(f"{setting}: not a whsec_<base64> secret") from exc
    if not key:
        raise ValueError(f"{setting}: secret must not be empty")
    return key


def decode_standard_public_key(
    key: str | bytes, *, setting: str = "public_keys", secrets_setting: str = "secrets"
) -> Ed25519PublicKey:
    """The ed25519 public key of a Standard Webhooks ``v1a`` ``whpk_<base64>`` key.

    A ``str`` is ``whpk_`` and the base64 of the 32-byte raw public key (the
    prefix is optional); ``bytes`` are the 32 raw bytes. Raises ``ValueError``
    (naming ``setting``, and ``secrets_setting`` when a ``whsec_`` secret was
    given instead) for a key of the wrong kind or one that does not decode.
    The message never repeats the value.
    """
    if isinstance(key, str):
        if key.startswith(_PREFIX):
            register_secret(key)
            raise ValueError(
                f"{setting}: a whsec_ value is a v1 (HMAC) secret, not a whpk_ public key:"
                f" put it in {secrets_setting}"
            )
        if key.startswith(_PRIVATE_PREFIX):
            register_secret(key)
            raise ValueError(
                f"{setting}: a whsk_ key is the sender's private signing key: configure"
                " its whpk_ public key instead"
            )
        try:
            raw = _b64(key.removeprefix(_PUBLIC_PREFIX))
        except (ValueError, binascii.Error) as exc:
            raise ValueError(f"{setting}: not a whpk_<base64> ed25519 public key") from exc
    else:
        raw = key
    if len(raw) != 32:
        raise ValueError(
            f"{setting}: a whpk_ key holds 32 bytes of ed25519 public key, this one {len(raw)}"
        )
    return Ed25519PublicKey.from_public_bytes(raw)


def _listed(values: str | bytes | Iterable[str | bytes]) -> list[str | bytes]:
    return [values] if isinstance(values, (str, bytes)) else list(values)


def _ed25519_verifies(keys: Iterable[Ed25519PublicKey], given: list[bytes], data: bytes) -> bool:
    for key in keys:
        for sig in given:
            try:
                key.verify(sig, data)
            except InvalidSignature:
                continue
            return True
    return False


class StandardWebhooksVerifier:
    """Standard Webhooks: ``webhook-id``, ``webhook-timestamp``, ``webhook-signature``.

    ``webhook-signature`` holds space-separated ``<version>,<base64>``
    entries (one per active signing key on the sender's side). Signed
    content is ``<id>.<timestamp>.<body>``: a ``v1`` entry is its
    HMAC-SHA256 keyed by a base64-decoded ``whsec_`` secret (``secrets``), a
    ``v1a`` entry its ed25519 signature checked with a ``whpk_`` public key
    (``public_keys``). A delivery is accepted when any entry of a kind
    configured verifies with any key of that kind; entries of a kind with
    no key configured, and unknown versions, are skipped (so a delivery
    carrying only those is ``missing_header``). The timestamp must be within
    ``tolerance`` seconds of the clock, either way, whichever kind verified.
    The ``svix-id``/``svix-timestamp``/``svix-signature`` names are
    accepted when the ``webhook-*`` set is absent (the two sets are never
    mixed). At least one secret or public key is required.
    """

    scheme = "standard_webhooks"
    _SETS = (
        ("webhook-id", "webhook-timestamp", "webhook-signature"),
        ("svix-id", "svix-timestamp", "svix-signature"),
    )

    def __init__(
        self,
        secrets: str | bytes | Iterable[str | bytes] = (),
        *,
        public_keys: str | bytes | Iterable[str | bytes] = (),
        tolerance: float | None = DEFAULT_TOLERANCE,
        clock: Clock = time.time,
    ) -> None:
        items, public = _listed(secrets), _listed(public_keys)
        if not items and not public:
            raise ValueError("secrets: at least one whsec_ secret (or a whpk_ key in public_keys)")
        self._keys = tuple(decode_standard_secret(s) for s in items)
        self._public = tuple(decode_standard_public_key(k) for k in public)
        self._tolerance = tolerance_argument(tolerance)
        self._clock = clock

    def _signatures(self, value: str, sig_name: str) -> tuple[list[bytes], list[bytes]]:
        """The ``v1`` and ``v1a`` signatures of the header, for the kinds configured."""
        v1: list[bytes] = []
        v1a: list[bytes] = []
        wanted = {"v1": v1 if self._keys else None, "v1a": v1a if self._public else None}
        for entry in value.split():
            version, sep, sig = entry.partition(",")
            if not sep:
                raise VerificationError(
                    "malformed_header", f"malformed {sig_name}", scheme=self.scheme
                )
            into = wanted.get(version)
            if into is None:
                continue
            if len(v1) + len(v1a) >= MAX_SIGNATURES:
                raise VerificationError(
                    "malformed_header", "too many signatures", scheme=self.scheme
                )
            into.append(b64decode(sig, sig_name, self.scheme))
        return v1, v1a

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
        v1, v1a = self._signatures(value, sig_name)
        if not v1 and not v1a:
            kinds = " or ".join(k for k, on in (("v1", self._keys), ("v1a", self._public)) if on)
            raise VerificationError("missing_header", f"no {kinds} signature", scheme=self.scheme)
        try:
            signed = msg_id.encode("utf-8") + b"." + timestamp.encode("ascii") + b"." + body
        except UnicodeError as exc:
            raise VerificationError(
                "malformed_header", f"bad {id_name}", scheme=self.scheme
            ) from exc
        ok = bool(v1) and matches((mac(k, signed) for k in self._keys), v1)
        ok = ok or (bool(v1a) and _ed25519_verifies(self._public, v1a, signed))
        if not ok:
            raise VerificationError("bad_signature", "no matching signature", scheme=self.scheme)
        check_tolerance(ts, self._clock, self._tolerance, self.scheme)
        return Verified(body_digest(body), event_id=msg_id, timestamp=ts)
