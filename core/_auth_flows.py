"""Interactive OAuth 2.0 flows: authorization code + PKCE, and device authorization.

These run once, when an operator connects an account; what they return is
an :class:`~core.tokenstore.OAuthToken` to put in the store, after which
:class:`~core.auth.RefreshTokenAuth` keeps it fresh.

Authorization code (RFC 6749 4.1, PKCE RFC 7636 S256, OIDC nonce):
:meth:`AuthorizationCodeFlow.start` makes the authorize URL with a fresh
``state``, ``nonce`` and code verifier; :meth:`AuthorizationCodeFlow.finish`
takes the redirect back and rejects, with :class:`AuthFlowError`, an unknown
or already used state, a state older than ``state_ttl``, an ``error``
parameter, and any ``id_token`` that :class:`~core.auth.OIDCProvider` does
not verify (signature against the provider's JWKS, ``iss``, ``aud``,
``exp``, ``iat``, ``nonce``). An id_token is never returned unverified: one
that arrives without a configured ``oidc`` provider is refused too.
``extra`` authorization parameters cannot replace the ones the flow's
security rests on (:data:`RESERVED_PARAMETERS`). Authorize, token and
device URLs must be https except on loopback.

Device authorization (RFC 8628): :meth:`DeviceFlow.start` returns the user
code and URL to show; :meth:`DeviceFlow.poll` waits ``interval`` seconds
between polls (``sleep`` is injectable), keeps waiting on
``authorization_pending``, adds 5 seconds to the interval on every
``slow_down`` (section 3.5), and raises :class:`AuthFlowError` on
``access_denied``, ``expired_token`` or once ``expires_in`` has passed.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import math
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
from pydantic import SecretStr

from core._auth_endpoint import (
    AuthError,
    AuthFlowError,
    ClientAuthMethod,
    TokenEndpoint,
    check_url,
    parse_token,
)
from core._auth_oidc import OIDCProvider
from core._auth_static import require
from core.errors import InvalidBodyError, PolicyError
from core.redaction import register_secret
from core.tokenstore import OAuthToken

__all__ = [
    "AuthorizationCodeFlow",
    "AuthorizationRequest",
    "DeviceCode",
    "DeviceFlow",
    "PKCEPair",
    "pkce_challenge",
]

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
RESERVED_PARAMETERS = frozenset(
    {
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
        "redirect_uri",
        "response_type",
        "client_id",
    }
)
MIN_DEVICE_INTERVAL = 1.0  # a provider's interval of 0 must not make us poll in a tight loop


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 S256: ``BASE64URL(SHA256(ASCII(code_verifier)))`` without padding."""
    if not 43 <= len(verifier) <= 128:
        raise ValueError("code_verifier must be 43 to 128 characters (RFC 7636 4.1)")
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


@dataclass(frozen=True)
class PKCEPair:
    """A code verifier and its S256 challenge."""

    verifier: str = field(repr=False)
    challenge: str
    method: str = "S256"

    @classmethod
    def generate(cls) -> PKCEPair:
        verifier = secrets.token_urlsafe(64)  # 86 chars of the unreserved set, 512 bits
        register_secret(verifier)
        return cls(verifier, pkce_challenge(verifier))


@dataclass(frozen=True)
class AuthorizationRequest:
    """What :meth:`AuthorizationCodeFlow.start` made: send the user to ``url``."""

    url: str
    state: str
    nonce: str = field(repr=False)
    pkce: PKCEPair
    expires_at: float


class AuthorizationCodeFlow:
    """Authorization code grant with PKCE S256, state and nonce (see module doc).

    ``oidc`` verifies the id_token; :meth:`discover` builds a flow from an
    issuer's discovery document (endpoints and verification in one).
    """

    def __init__(
        self,
        authorize_url: str,
        token_url: str,
        client_id: str,
        redirect_uri: str,
        client_secret: SecretStr | str | None = None,
        *,
        scope: str | None = None,
        state_ttl: float = 600.0,
        extra: Mapping[str, str] | None = None,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
        oidc: OIDCProvider | None = None,
    ) -> None:
        self.authorize_url = check_url(authorize_url, "authorize_url", https=True)
        self.redirect_uri = check_url(redirect_uri, "redirect_uri")
        require(client_id, "client_id")
        if not state_ttl > 0:
            raise PolicyError("state_ttl: must be > 0 seconds", setting="state_ttl")
        self.endpoint = TokenEndpoint(
            token_url,
            client_id,
            client_secret,
            auth_method="none" if client_secret is None else "basic",
            client=client,
        )
        self.client_id = client_id
        self.scope = scope
        self.state_ttl = state_ttl
        overridden = sorted(RESERVED_PARAMETERS & {k.lower() for k in extra or {}})
        if overridden:
            raise PolicyError(
                f"extra: cannot set {', '.join(overridden)} (the flow sets them itself)",
                setting="extra",
            )
        preset = sorted(
            RESERVED_PARAMETERS
            & {k.lower() for k, _ in parse_qsl(urlsplit(self.authorize_url).query)}
        )
        if preset:
            raise PolicyError(
                f"authorize_url must not carry {', '.join(preset)} (the flow sets them itself)",
                setting="authorize_url",
            )
        self.extra = dict(extra or {})
        self.clock = clock
        self.oidc = oidc
        self._pending: dict[str, AuthorizationRequest] = {}

    @classmethod
    async def discover(
        cls,
        oidc: OIDCProvider,
        client_id: str,
        redirect_uri: str,
        client_secret: SecretStr | str | None = None,
        **kwargs: Any,
    ) -> AuthorizationCodeFlow:
        """A flow whose endpoints come from ``oidc``'s discovery document."""
        meta = await oidc.metadata()
        if meta.authorization_endpoint is None or meta.token_endpoint is None:
            raise AuthFlowError("OIDC discovery: no authorization_endpoint or token_endpoint")
        return cls(
            meta.authorization_endpoint,
            meta.token_endpoint,
            client_id,
            redirect_uri,
            client_secret,
            oidc=oidc,
            **kwargs,
        )

    def start(self) -> AuthorizationRequest:
        """A new authorization request; remember nothing else, the flow keeps it."""
        now = self.clock()
        self._pending = {s: r for s, r in self._pending.items() if r.expires_at > now}
        state, nonce, pkce = (
            secrets.token_urlsafe(32),
            secrets.token_urlsafe(32),
            PKCEPair.generate(),
        )
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "state": state,
            "nonce": nonce,
            "code_challenge": pkce.challenge,
            "code_challenge_method": pkce.method,
        }
        params = {**self.extra, **params}  # extra never replaces the flow's own
        if self.scope:
            params["scope"] = self.scope
        separator = "&" if urlsplit(self.authorize_url).query else "?"
        url = f"{self.authorize_url}{separator}{urlencode(params)}"
        request = AuthorizationRequest(url, state, nonce, pkce, now + self.state_ttl)
        self._pending[state] = request
        return request

    async def finish(self, callback: str | Mapping[str, str]) -> OAuthToken:
        """Exchange the code from the redirect (full URL or its query parameters)."""
        params = (
            dict(parse_qsl(urlsplit(callback).query))
            if isinstance(callback, str)
            else dict(callback)
        )
        request = self._take_state(params.get("state", ""))
        if "error" in params:
            raise AuthFlowError(
                f"authorization refused: {params['error']}", provider_code=params["error"]
            )
        code = params.get("code")
        if not code:
            raise AuthFlowError("redirect carries no code")
        register_secret(code)
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": request.pkce.verifier,
        }
        token = parse_token(await self.endpoint.post(form), self.clock(), self.endpoint.url)
        if token.id_token is not None:
            if self.oidc is None:
                raise AuthFlowError(
                    "the token endpoint sent an id_token but no OIDC provider is configured "
                    "to verify it (pass oidc=OIDCProvider(issuer))"
                )
            await self.oidc.verify_id_token(
                token.id_token, client_id=self.client_id, nonce=request.nonce
            )
        return token

    def _take_state(self, state: str) -> AuthorizationRequest:
        match = None
        for known in list(self._pending):
            if hmac.compare_digest(known.encode(), state.encode()):
                match = self._pending.pop(known)
        if match is None:
            raise AuthFlowError("state does not match any pending authorization request")
        if match.expires_at <= self.clock():
            raise AuthFlowError("authorization request expired (state older than state_ttl)")
        return match

    async def aclose(self) -> None:
        """Close the token endpoint's client and the ``oidc`` provider's."""
        await self.endpoint.aclose()
        if self.oidc is not None:
            await self.oidc.aclose()


@dataclass(frozen=True)
class DeviceCode:
    """RFC 8628 device authorization response; show ``user_code`` and ``verification_uri``."""

    device_code: str = field(repr=False)
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    expires_at: float
    interval: float


class DeviceFlow:
    """Device authorization grant (RFC 8628); ``sleep`` and ``clock`` are injectable."""

    def __init__(
        self,
        device_url: str,
        token_url: str,
        client_id: str,
        client_secret: SecretStr | str | None = None,
        *,
        scope: str | None = None,
        client: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        method: ClientAuthMethod = "none" if client_secret is None else "basic"
        self.device = TokenEndpoint(
            device_url,
            client_id,
            client_secret,
            auth_method=method,
            client=client,
            setting="device_url",
        )
        self.endpoint = TokenEndpoint(
            token_url, client_id, client_secret, auth_method=method, client=client
        )
        self.scope = scope
        self.sleep = sleep
        self.clock = clock
        self.wall_clock = wall_clock

    async def start(self) -> DeviceCode:
        form = {"scope": self.scope} if self.scope else {}
        body = await self.device.post(form)
        try:
            expires_in = float(body["expires_in"])
            raw_interval = body.get("interval")
            interval = 5.0 if raw_interval is None else float(raw_interval)  # RFC 8628 3.2
            if not (0 < expires_in < math.inf and 0 <= interval < math.inf):
                raise ValueError("expires_in / interval out of range")
            code = DeviceCode(
                device_code=str(body["device_code"]),
                user_code=str(body["user_code"]),
                verification_uri=str(body["verification_uri"]),
                verification_uri_complete=body.get("verification_uri_complete"),
                expires_at=self.clock() + expires_in,
                interval=max(MIN_DEVICE_INTERVAL, interval),
            )
        except (KeyError, TypeError, ValueError):
            raise InvalidBodyError("device authorization response is incomplete") from None
        register_secret(code.device_code)
        return code

    async def poll(self, code: DeviceCode) -> OAuthToken:
        """Poll the token endpoint until the user approves; see the module doc."""
        interval = code.interval
        form = {"grant_type": DEVICE_GRANT, "device_code": code.device_code}
        while True:
            if self.clock() + interval >= code.expires_at:
                raise AuthFlowError("device code expired before the user approved")
            await self.sleep(interval)
            try:
                body = await self.endpoint.post(form)
            except AuthError as exc:
                if exc.provider_code == "authorization_pending":
                    continue
                if exc.provider_code == "slow_down":
                    interval += 5  # RFC 8628 3.5: for this and every later request
                    continue
                raise AuthFlowError(
                    f"device authorization failed: {exc.provider_code}",
                    provider_code=exc.provider_code,
                ) from None
            return parse_token(body, self.wall_clock(), self.endpoint.url)

    async def aclose(self) -> None:
        await self.device.aclose()
        await self.endpoint.aclose()
