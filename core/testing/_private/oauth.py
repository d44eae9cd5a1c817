"""A fake OAuth 2.0 authorization server plus one protected resource.

Routes (under ``prefix``, default ``/oauth``)::

    POST {prefix}/token         grant_type = client_credentials | refresh_token |
                                authorization_code (PKCE S256 checked) |
                                urn:ietf:params:oauth:grant-type:device_code
    GET  {prefix}/authorize     auto-approves; 302 to redirect_uri?code=..&state=..
    POST {prefix}/device/code   RFC 8628 device authorization response
    GET|POST {prefix}/me        the protected resource: 200 with a valid bearer, else 401
    GET  {prefix}/.well-known/openid-configuration   OIDC discovery (issuer = base + prefix)
    GET  {prefix}/jwks          the signing keys (JWKS)

Client authentication: HTTP Basic or ``client_id``/``client_secret`` in the
form; a client registered with secret ``None`` is public (PKCE, device).
Refresh tokens rotate by default (the old one then fails with
``invalid_grant``). Device polls answer ``authorization_pending``
``device_pending_polls`` times and ``slow_down`` ``device_slow_down_polls``
times first (counted, not timed, so tests need no real waiting); with
``device_enforce_interval`` a poll sooner than the current interval (on
``clock``) also gets ``slow_down``, as real providers answer, and
``device_poll_times`` records when each poll arrived (the server's view). The codes and device
authorizations between two steps, with their rules: :mod:`.oauth_grants`.

The ``id_token`` is an RS256 JWT signed with the current key of a rotating
RSA key set (``rotate_signing_key()``; ``jwks_keep_old`` keeps retired keys
in the JWKS), carrying the authorize request's nonce, ``iat``/``exp`` from
``wall_clock``. ``forge_id_token`` makes it a forgery for tests: ``"none"``
(alg=none), ``"hs256"`` (HMAC keyed with the public key), ``"wrong_key"``
(a key not in the JWKS, under the current kid), ``"unknown_kid"``;
``id_token_overrides`` replaces claims (``iss``, ``aud``, ``exp``, ``nonce``). The keys and the
forgeries: :mod:`.oauth_signing`.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_plus

import orjson
from aiohttp import web
from yarl import URL

from core.testing._private.oauth_grants import (
    DEVICE_GRANT,
    AuthorizationCode,
    DeviceAuthorization,
    pkce_s256,
)
from core.testing._private.oauth_signing import SigningKeys, sign_id_token

__all__ = ["OAuthServer", "pkce_s256"]


class OAuthServer:
    """State of the fake authorization server; every attribute is a switch."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.clients: dict[str, str | None] = {"sandbox-client": "sandbox-secret", "public": None}
        self.access_ttl = 3600.0
        self.rotate_refresh_tokens = True
        self.reject_all = False
        self.device_pending_polls = 1
        self.device_slow_down_polls = 0
        self.device_interval = 5
        self.device_ttl = 600.0
        self.device_enforce_interval = False
        self.device_poll_times: list[float] = []
        self.wall_clock: Callable[[], float] = time.time
        self.forge_id_token: str | None = None
        self.id_token_overrides: dict[str, Any] = {}
        self.jwks_keep_old = True
        self.jwks_requests = 0
        self.discovery_requests = 0
        self.prefix = "/oauth"
        self._signing = SigningKeys()
        self.token_requests: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._access: dict[str, float] = {}
        self._refresh: dict[str, str] = {}
        self._codes: dict[str, AuthorizationCode] = {}
        self._devices: dict[str, DeviceAuthorization] = {}

    # --- switches and assertions for tests -----------------------------------

    def rotate_signing_key(self) -> str:
        """A new current RSA signing key (new kid); returns the kid."""
        return self._signing.rotate(keep_old=self.jwks_keep_old)

    def jwks(self) -> dict[str, Any]:
        return self._signing.jwks(keep_old=self.jwks_keep_old)

    def _id_token(self, claims: dict[str, Any]) -> str:
        kid, key = self._signing.current(keep_old=self.jwks_keep_old)
        return sign_id_token(claims, kid, key, self.forge_id_token)

    def revoke_access_tokens(self) -> None:
        """Every access token issued so far is now invalid (as if expired early)."""
        with self._lock:
            self._access.clear()

    def issue_refresh_token(self, client_id: str = "sandbox-client") -> str:
        """A refresh token as if a user had consented earlier."""
        token = "rt_" + secrets.token_urlsafe(16)
        with self._lock:
            self._refresh[token] = client_id
        return token

    def refresh_token_valid(self, token: str) -> bool:
        with self._lock:
            return token in self._refresh

    def deny_device(self, user_code: str) -> None:
        with self._lock:
            for device in self._devices.values():
                if device.user_code == user_code:
                    device.denied = True

    @property
    def issued(self) -> int:
        """Successful token responses so far, every grant type."""
        return sum(v for k, v in self.token_requests.items() if k.endswith(":ok"))

    # --- token machinery ---------------------------------------------------------

    def _issue(
        self, client_id: str, *, refresh: bool, nonce: str | None = None, base: str = ""
    ) -> dict[str, Any]:
        access = "at_" + secrets.token_urlsafe(16)
        body: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": int(self.access_ttl),
        }
        with self._lock:
            self._access[access] = self.clock() + self.access_ttl
            if refresh:
                token = "rt_" + secrets.token_urlsafe(16)
                self._refresh[token] = client_id
                body["refresh_token"] = token
        if nonce is not None:
            now = int(self.wall_clock())
            claims = {
                "iss": base + self.prefix,
                "aud": client_id,
                "sub": "user-1",
                "nonce": nonce,
                "iat": now,
                "exp": now + int(self.access_ttl),
                **self.id_token_overrides,
            }
            body["id_token"] = self._id_token(claims)
        return body

    def access_token_valid(self, token: str) -> bool:
        with self._lock:
            expires = self._access.get(token)
        return expires is not None and expires > self.clock() and not self.reject_all

    def _client(self, request: web.Request, form: Any) -> str:
        client_id, secret = form.get("client_id"), form.get("client_secret")
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            try:
                decoded = base64.b64decode(header[6:], validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                raise _error("invalid_client", 401) from None
            raw_id, _, raw_secret = decoded.partition(":")
            # RFC 6749 2.3.1: both parts are form-urlencoded before base64.
            client_id, secret = unquote_plus(raw_id), unquote_plus(raw_secret)
        if client_id not in self.clients:
            raise _error("invalid_client", 401)
        expected = self.clients[client_id]
        if expected is not None and not secrets.compare_digest(str(secret or ""), expected):
            raise _error("invalid_client", 401)
        return str(client_id)

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        grant = str(form.get("grant_type", ""))
        try:
            client_id = self._client(request, form)
            body = self._grant(request, grant, client_id, form)
        except web.HTTPException:
            self.token_requests[f"{grant}:error"] += 1
            raise
        self.token_requests[f"{grant}:ok"] += 1
        return web.json_response(body, headers={"Cache-Control": "no-store"})

    def _grant(self, request: web.Request, grant: str, client_id: str, form: Any) -> dict[str, Any]:
        if grant == "client_credentials":
            return self._issue(client_id, refresh=False)
        if grant == "refresh_token":
            token = str(form.get("refresh_token", ""))
            with self._lock:
                if self._refresh.get(token) != client_id:
                    raise _error("invalid_grant")
                if self.rotate_refresh_tokens:
                    del self._refresh[token]
            body = self._issue(client_id, refresh=self.rotate_refresh_tokens)
            return body
        if grant == "authorization_code":
            return self._code_grant(request, client_id, form)
        if grant == DEVICE_GRANT:
            return self._device_grant(client_id, str(form.get("device_code", "")))
        raise _error("unsupported_grant_type")

    def _code_grant(self, request: web.Request, client_id: str, form: Any) -> dict[str, Any]:
        with self._lock:
            code = self._codes.pop(str(form.get("code", "")), None)
        redirect_uri = str(form.get("redirect_uri", ""))
        verifier = str(form.get("code_verifier", ""))
        if code is None or not code.redeemable(client_id, redirect_uri, verifier):
            raise _error("invalid_grant")
        base = f"{request.scheme}://{request.host}"
        return self._issue(client_id, refresh=True, nonce=code.nonce, base=base)

    def _device_grant(self, client_id: str, device_code: str) -> dict[str, Any]:
        with self._lock:
            device = self._devices.get(device_code)
            if device is None or device.client_id != client_id:
                raise _error("invalid_grant")
            now = self.clock()
            self.device_poll_times.append(now)
            refusal = device.refusal(now, enforce_interval=self.device_enforce_interval)
            if refusal is not None:
                raise _error(refusal)
            del self._devices[device_code]
        return self._issue(client_id, refresh=True)

    async def authorize(self, request: web.Request) -> web.Response:
        q = request.query
        client_id, redirect_uri = q.get("client_id", ""), q.get("redirect_uri", "")
        if client_id not in self.clients or not redirect_uri or q.get("response_type") != "code":
            raise _error("invalid_request")
        method = q.get("code_challenge_method", "plain")
        if "code_challenge" in q and method != "S256":
            raise _error("invalid_request")
        code = "ac_" + secrets.token_urlsafe(16)
        with self._lock:
            self._codes[code] = AuthorizationCode(
                client_id,
                redirect_uri,
                q.get("code_challenge"),
                method,
                q.get("nonce"),
                q.get("scope", ""),
            )
        params = {"code": code}
        if "state" in q:
            params["state"] = q["state"]
        location = URL(redirect_uri).update_query(params)
        raise web.HTTPFound(location=str(location))

    async def device_code(self, request: web.Request) -> web.Response:
        form = await request.post()
        client_id = self._client(request, form)
        device_code = "dc_" + secrets.token_urlsafe(16)
        user_code = secrets.token_hex(4).upper()
        with self._lock:
            self._devices[device_code] = DeviceAuthorization(
                client_id,
                user_code,
                self.device_pending_polls,
                self.device_slow_down_polls,
                self.clock() + self.device_ttl,
                self.device_interval,
                self.clock(),
            )
        base = f"{request.scheme}://{request.host}"
        return web.json_response(
            {
                "device_code": device_code,
                "user_code": user_code,
                "verification_uri": f"{base}/device",
                "verification_uri_complete": f"{base}/device?user_code={user_code}",
                "expires_in": int(self.device_ttl),
                "interval": self.device_interval,
            }
        )

    async def me(self, request: web.Request) -> web.Response:
        header = request.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else ""
        if not self.access_token_valid(token):
            return web.json_response(
                {"error": "invalid_token"},
                status=401,
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        return web.json_response({"sub": "user-1", "ok": True})

    async def discovery(self, request: web.Request) -> web.Response:
        self.discovery_requests += 1
        issuer = f"{request.scheme}://{request.host}{self.prefix}"
        return web.json_response(
            {
                "issuer": issuer,
                "authorization_endpoint": f"{issuer}/authorize",
                "token_endpoint": f"{issuer}/token",
                "device_authorization_endpoint": f"{issuer}/device/code",
                "jwks_uri": f"{issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
            }
        )

    async def jwks_route(self, request: web.Request) -> web.Response:
        self.jwks_requests += 1
        return web.json_response(self.jwks())

    def install(self, router: web.UrlDispatcher, prefix: str = "/oauth") -> None:
        self.prefix = prefix
        router.add_get(f"{prefix}/.well-known/openid-configuration", self.discovery)
        router.add_get(f"{prefix}/jwks", self.jwks_route)
        router.add_post(f"{prefix}/token", self.token)
        router.add_get(f"{prefix}/authorize", self.authorize)
        router.add_post(f"{prefix}/device/code", self.device_code)
        router.add_get(f"{prefix}/me", self.me)
        router.add_post(f"{prefix}/me", self.me)


def _error(code: str, status: int = 400) -> web.HTTPException:
    cls = web.HTTPUnauthorized if status == 401 else web.HTTPBadRequest
    return cls(text=orjson.dumps({"error": code}).decode(), content_type="application/json")
