"""OpenID Connect: provider discovery, JWKS with key rotation, id_token verification.

:class:`OIDCProvider` reads ``{issuer}/.well-known/openid-configuration``
(OIDC Discovery 1.0; its ``issuer`` must equal the configured one), fetches
the ``jwks_uri`` key set and verifies id_tokens (OIDC Core 3.1.3.7):

- the signature, with a key of the provider's JWKS chosen by ``kid``; an
  unknown ``kid`` refetches the JWKS once (the provider rotated its keys);
- the algorithm is one the key's type allows (RSA: RS*/PS*, EC: ES*,
  OKP: EdDSA) and the provider advertises; ``none`` and every HS* are
  refused whatever the token says (no key confusion with public keys);
- ``iss`` equals the issuer, ``aud`` contains the client id (and ``azp``
  is the client when there are several audiences), ``exp`` is in the
  future and ``iat`` not in the future (both with ``leeway`` seconds),
  ``sub`` is present, and ``nonce`` equals the authorization request's.

Every failure is one :class:`~core.auth.AuthFlowError` naming what was
wrong (never the token). Every URL (issuer, discovery, JWKS) must be https,
except on loopback (127.0.0.1, ::1, localhost) for local providers.

Why PyJWT: a well-kept JOSE implementation (``PyJWT[crypto]``) does the
JWS/JWK work and the ``iss``/``aud`` checks; the time claims are checked
here against an injectable ``clock`` so tests need no real waiting.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import orjson

from core._auth_oauth import AuthFlowError, OwnedClient, check_url
from core.errors import InvalidBodyError, NetworkError, ServerError

__all__ = ["OIDCMetadata", "OIDCProvider"]

# Asymmetric algorithms by JWK key type (RFC 7518, RFC 8037). HS* and
# "none" appear nowhere, so no token can select them.
_ALGORITHMS_BY_KTY: dict[str, tuple[str, ...]] = {
    "RSA": ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"),
    "EC": ("ES256", "ES384", "ES512"),
    "OKP": ("EdDSA",),
}
_ASYMMETRIC = frozenset(a for algs in _ALGORITHMS_BY_KTY.values() for a in algs)


@dataclass(frozen=True)
class _Key:
    public: Any  # a cryptography public key
    kty: str
    alg: str | None


@dataclass(frozen=True)
class OIDCMetadata:
    """The parts of a discovery document the flows use."""

    issuer: str
    jwks_uri: str
    authorization_endpoint: str | None
    token_endpoint: str | None
    device_authorization_endpoint: str | None
    algorithms: frozenset[str]


class OIDCProvider(OwnedClient):
    """One OpenID provider (see the module docstring for what is verified).

    ``client`` is used for discovery and JWKS requests (by default a private
    one, closed by :meth:`aclose`); ``clock`` gives epoch seconds for
    ``exp``/``iat``; ``leeway`` is the clock skew tolerated, in seconds.
    """

    def __init__(
        self,
        issuer: str,
        *,
        client: httpx.AsyncClient | None = None,
        leeway: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        # Compared exactly with the document's and the tokens' ``iss`` (a
        # trailing slash is part of some providers' issuer).
        self.issuer = check_url(issuer, "issuer", https=True)
        self.discovery_url = f"{issuer.rstrip('/')}/.well-known/openid-configuration"
        self.leeway = leeway
        self.clock = clock
        super().__init__(client)
        self._metadata: OIDCMetadata | None = None
        self._keys: dict[str | None, _Key] = {}
        self._lock = asyncio.Lock()

    async def _get_json(self, url: str, what: str) -> dict[str, Any]:
        try:
            response = await self._http().get(url, headers={"Accept": "application/json"})
        except httpx.TransportError as exc:
            raise NetworkError(
                f"{what} unreachable ({type(exc).__name__})", method="GET", url=url
            ) from None
        if response.status_code >= 500:
            raise ServerError(f"{what} failed", status=response.status_code, method="GET", url=url)
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict):
            raise InvalidBodyError(
                f"{what} answered without a JSON object", status=response.status_code, url=url
            )
        return body

    async def metadata(self) -> OIDCMetadata:
        """The discovery document (fetched once)."""
        if self._metadata is not None:
            return self._metadata
        doc = await self._get_json(self.discovery_url, "OIDC discovery")
        if doc.get("issuer") != self.issuer:
            raise AuthFlowError(
                "OIDC discovery: the document's issuer is not the configured issuer"
            )
        jwks_uri = doc.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise AuthFlowError("OIDC discovery: the document has no jwks_uri")
        advertised = doc.get("id_token_signing_alg_values_supported") or ["RS256"]
        algorithms = frozenset(a for a in advertised if isinstance(a, str)) & _ASYMMETRIC
        if not algorithms:
            raise AuthFlowError("OIDC discovery: no asymmetric id_token signing algorithm")

        def endpoint(name: str) -> str | None:
            value = doc.get(name)
            return check_url(value, name, https=True) if isinstance(value, str) else None

        self._metadata = OIDCMetadata(
            issuer=self.issuer,
            jwks_uri=check_url(jwks_uri, "jwks_uri", https=True),
            authorization_endpoint=endpoint("authorization_endpoint"),
            token_endpoint=endpoint("token_endpoint"),
            device_authorization_endpoint=endpoint("device_authorization_endpoint"),
            algorithms=algorithms,
        )
        return self._metadata

    async def _fetch_keys(self) -> None:
        meta = await self.metadata()
        body = await self._get_json(meta.jwks_uri, "JWKS")
        keys: dict[str | None, _Key] = {}
        raw = body.get("keys")
        for data in raw if isinstance(raw, list) else []:
            if not isinstance(data, dict) or data.get("use", "sig") != "sig":
                continue
            kty, alg = data.get("kty"), data.get("alg")
            if kty not in _ALGORITHMS_BY_KTY or (alg is not None and alg not in _ASYMMETRIC):
                continue  # symmetric or unknown keys are never used
            try:
                key = jwt.PyJWK(data)
            except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
                continue  # a key we cannot use; others may do
            keys[key.key_id] = _Key(key.key, str(kty), alg if isinstance(alg, str) else None)
        self._keys = keys

    async def _key(self, kid: str | None) -> _Key:
        async with self._lock:
            if not self._keys or (kid is not None and kid not in self._keys):
                await self._fetch_keys()  # first use, or the provider rotated its keys
            if kid is None and len(self._keys) == 1:
                return next(iter(self._keys.values()))
            key = self._keys.get(kid)
        if key is None:
            raise AuthFlowError("id_token refused: signed with a key not in the provider's JWKS")
        return key

    async def verify_id_token(
        self, id_token: str, *, client_id: str, nonce: str | None
    ) -> dict[str, Any]:
        """The verified claims, or :class:`AuthFlowError` (see the module docstring)."""
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.InvalidTokenError:
            raise AuthFlowError("id_token refused: not a JWS") from None
        alg = header.get("alg")
        meta = await self.metadata()
        if not isinstance(alg, str) or alg not in meta.algorithms:
            raise AuthFlowError(f"id_token refused: algorithm {str(alg)[:16]!r} is not allowed")
        kid = header.get("kid")
        key = await self._key(kid if isinstance(kid, str) else None)
        allowed = _algorithms_for(key, meta.algorithms)
        try:
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key.public,
                algorithms=list(allowed),
                audience=client_id,
                issuer=self.issuer,
                options={
                    "require": ["iss", "aud", "exp", "iat", "sub"],
                    "verify_exp": False,  # checked below against the injectable clock
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.InvalidTokenError as exc:
            raise AuthFlowError(f"id_token refused: {_reason(exc)}") from None
        self._check_claims(claims, client_id, nonce)
        return claims

    def _check_claims(self, claims: dict[str, Any], client_id: str, nonce: str | None) -> None:
        now = self.clock()
        exp, iat = claims.get("exp"), claims.get("iat")
        if not isinstance(exp, int | float) or not isinstance(iat, int | float):
            raise AuthFlowError("id_token refused: exp and iat must be numbers")
        if exp + self.leeway <= now:
            raise AuthFlowError("id_token refused: expired (exp is in the past)")
        if iat - self.leeway > now:
            raise AuthFlowError("id_token refused: issued in the future (iat)")
        nbf = claims.get("nbf")
        if isinstance(nbf, int | float) and nbf - self.leeway > now:
            raise AuthFlowError("id_token refused: not valid yet (nbf)")
        aud = claims.get("aud")
        if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != client_id:
            raise AuthFlowError("id_token refused: several audiences and azp is not this client")
        if nonce is not None:
            claimed = claims.get("nonce")
            if not isinstance(claimed, str) or not hmac.compare_digest(claimed, nonce):
                raise AuthFlowError("id_token nonce does not match the authorization request")


def _algorithms_for(key: _Key, advertised: frozenset[str]) -> Sequence[str]:
    # RFC 8725 2.1: the algorithms come from the key (its type, its "alg"
    # when declared) and the provider's metadata, never from the token.
    by_type = set(_ALGORITHMS_BY_KTY[key.kty])
    if key.alg is not None:
        by_type &= {key.alg}
    allowed = sorted(by_type & advertised)
    if not allowed:
        raise AuthFlowError("id_token refused: the key does not fit an advertised algorithm")
    return allowed


def _reason(exc: jwt.InvalidTokenError) -> str:
    if isinstance(exc, jwt.InvalidSignatureError):
        return "bad signature"
    if isinstance(exc, jwt.InvalidIssuerError):
        return "wrong issuer (iss)"
    if isinstance(exc, jwt.InvalidAudienceError):
        return "wrong audience (aud)"
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"missing claim {exc.claim!r}"
    if isinstance(exc, jwt.InvalidAlgorithmError):
        return "algorithm not allowed"
    return type(exc).__name__
