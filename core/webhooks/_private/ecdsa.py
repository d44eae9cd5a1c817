"""ECDSA P-256 / SHA-256 signatures checked against several public keys.

The elliptic-curve work is the ``cryptography`` package's; this module only
loads keys in the forms providers show them and turns every failure into
:class:`VerificationError` (a scheme's own code reads its headers).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key, load_pem_public_key

from core.webhooks._private.common import MAX_SIGNATURES, VerificationError

__all__ = ["EcdsaKeys", "PublicKey", "load_p256_public_key"]

_ECDSA = ec.ECDSA(hashes.SHA256())

PublicKey = str | bytes | ec.EllipticCurvePublicKey
"""Base64 DER text, a PEM block, raw DER bytes, or a key object."""


def load_p256_public_key(key: PublicKey) -> ec.EllipticCurvePublicKey:
    """An EC P-256 public key from its base64 DER text, PEM, DER bytes, or a key object.

    Raises ``ValueError`` naming ``public_keys`` when it is none of these or
    not a P-256 key.
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


class EcdsaKeys:
    """Base of an ECDSA scheme: every currently valid P-256 public key (several while rotating).

    ``ValueError`` naming ``public_keys`` at construction for none, more than
    :data:`MAX_SIGNATURES`, or one that does not load.
    """

    scheme: str = "ecdsa"

    def __init__(self, public_keys: PublicKey | Iterable[PublicKey]) -> None:
        items = (
            [public_keys]
            if isinstance(public_keys, (str, bytes, ec.EllipticCurvePublicKey))
            else list(public_keys)
        )
        if not items:
            raise ValueError("public_keys: at least one public key is required")
        if len(items) > MAX_SIGNATURES:
            raise ValueError(f"public_keys: at most {MAX_SIGNATURES} keys")
        self._keys = tuple(load_p256_public_key(k) for k in items)

    def check_signature(self, signature: bytes, signed: bytes) -> None:
        """Return if a key verifies the DER ``signature`` of ``signed``; else ``bad_signature``."""
        if not any(self._verify_one(key, signature, signed) for key in self._keys):
            raise VerificationError("bad_signature", "no matching signature", scheme=self.scheme)

    @staticmethod
    def _verify_one(key: ec.EllipticCurvePublicKey, signature: bytes, signed: bytes) -> bool:
        try:
            key.verify(signature, signed, _ECDSA)
        except (InvalidSignature, ValueError):  # ValueError: undecodable DER signature
            return False
        return True
