"""The fake authorization server's id tokens: a rotating RSA key set and forgeries.

The ``id_token`` is an RS256 JWT signed with the current key of the set;
:meth:`SigningKeys.rotate` makes a new current key (new ``kid``) and, unless
told to keep them, drops the retired ones from the JWKS. Keys are made on
first use (~0.1 s each), so a server that never issues an id token costs
nothing. :func:`sign_id_token` can forge the token instead, for tests of a
verifier: ``"none"`` (alg=none), ``"hs256"`` (HMAC keyed with the public
key), ``"wrong_key"`` (a key not in the JWKS, under the current kid),
``"unknown_kid"``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
from typing import Any

import jwt
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

__all__ = ["SigningKeys", "sign_id_token"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class SigningKeys:
    """The RSA keys by kid, oldest first; the last one signs."""

    def __init__(self) -> None:
        self._keys: list[tuple[str, rsa.RSAPrivateKey]] = []
        self._lock = threading.Lock()

    def rotate(self, *, keep_old: bool) -> str:
        """A new current key (new kid); returns the kid."""
        kid = "k" + secrets.token_hex(4)
        key = _new_key()
        with self._lock:
            self._keys.append((kid, key))
            if not keep_old:
                self._keys = self._keys[-1:]
        return kid

    def current(self, *, keep_old: bool) -> tuple[str, rsa.RSAPrivateKey]:
        """The signing key, made now if there is none yet."""
        if not self._keys:
            self.rotate(keep_old=keep_old)
        with self._lock:
            return self._keys[-1]

    def jwks(self, *, keep_old: bool) -> dict[str, Any]:
        """The public half of every key held, as a JWKS document."""
        self.current(keep_old=keep_old)
        with self._lock:
            keys = list(self._keys)
        out = []
        for kid, key in keys:
            jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
            out.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": out}


def sign_id_token(
    claims: dict[str, Any], kid: str, key: rsa.RSAPrivateKey, forge: str | None
) -> str:
    """``claims`` as an RS256 JWT under ``kid``, or the forgery ``forge`` names."""
    if forge == "none":
        header = _b64(orjson.dumps({"alg": "none", "typ": "JWT"}))
        return f"{header}.{_b64(orjson.dumps(claims))}."
    if forge == "hs256":  # key confusion: HMAC keyed with the public key's PEM
        pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        head = _b64(orjson.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}))
        signing_input = f"{head}.{_b64(orjson.dumps(claims))}"
        mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{_b64(mac)}"
    if forge == "wrong_key":
        key = _new_key()
    if forge == "unknown_kid":
        kid = "never-published"
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})
