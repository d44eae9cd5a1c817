"""Talking to an OAuth 2.0 authorization server: the token endpoint and its answers.

Every grant (:mod:`core._auth_oauth`, :mod:`core._auth_flows`) and OIDC
discovery (:mod:`core._auth_oidc`) goes through these pieces, so they answer
alike: client authentication (``basic``, ``post`` or ``none``), https for
anything that carries a secret (plain http only on loopback), redirects not
followed, and one mapping of a token endpoint's answer into the error tree:
unreachable -> :class:`~core.errors.NetworkError`, 5xx ->
:class:`~core.errors.ServerError`, 429 -> :class:`~core.errors.RateLimitedError`,
an RFC 6749 error (``invalid_client``, ``invalid_grant``, ...) ->
:class:`AuthError`, a body that is not a token ->
:class:`~core.errors.InvalidBodyError`. The client secret (also in its Basic
form) and every token in an answer are registered for redaction
(:func:`core.redaction.register_secret`) before they are used.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import httpx
import orjson
from pydantic import SecretStr

from core._auth_static import require, secret
from core.errors import (
    FatalConfigError,
    FatalRequestError,
    InvalidBodyError,
    NetworkError,
    PolicyError,
    RateLimitedError,
    ServerError,
)
from core.redaction import register_secret
from core.tokenstore import OAuthToken

__all__ = [
    "AuthError",
    "AuthFlowError",
    "ClientAuthMethod",
    "OwnedClient",
    "TokenEndpoint",
    "check_url",
    "parse_token",
    "register_token",
]

ClientAuthMethod = Literal["basic", "post", "none"]


class AuthError(FatalConfigError):
    """The authorization server refused the credentials or grant.

    ``provider_code`` is the RFC 6749 ``error`` (``invalid_client``,
    ``invalid_grant``, ...). Retrying cannot help: fix the credentials or
    re-authorize.
    """

    code = "auth_error"


class AuthFlowError(FatalRequestError):
    """An interactive flow cannot complete: state mismatch or expired, nonce
    mismatch, user denied, device code expired. Start the flow again."""

    code = "auth_flow_error"


_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


def check_url(value: str, setting: str, *, https: bool = False) -> str:
    """``value`` if it is an http(s) URL; with ``https``, plain http only on loopback."""
    require(value, setting)
    try:
        parts = urlsplit(value)
        host = parts.hostname or ""
    except ValueError:
        raise PolicyError(f"{setting} is not an http(s) URL", setting=setting) from None
    if parts.scheme not in ("http", "https") or not parts.netloc or not host:
        raise PolicyError(f"{setting} is not an http(s) URL", setting=setting)
    if https and parts.scheme != "https" and host.lower() not in _LOOPBACK:
        # "setting is ...", not "setting: ...": redaction scrubs "token_url: <word>".
        raise PolicyError(
            f"{setting} must be an https URL (plain http only on loopback: "
            "127.0.0.1, ::1, localhost)",
            setting=setting,
        )
    return value


class OwnedClient:
    """An httpx client for calls to an authorization server (never the
    authenticated provider client): the one given, or a private one made on
    first use and closed by :meth:`aclose`. Redirects are not followed."""

    def __init__(self, client: httpx.AsyncClient | None) -> None:
        self._client = client
        self._owns_client = client is None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(10.0, connect=5.0), follow_redirects=False
            )
        return self._client

    async def aclose(self) -> None:
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None


class TokenEndpoint(OwnedClient):
    """One authorization server endpoint plus the client's credentials.

    ``auth_method``: ``"basic"`` (client_secret_basic, RFC 6749 2.3.1),
    ``"post"`` (client_secret_post) or ``"none"`` (public client: only
    ``client_id`` in the form). ``client`` is the httpx client used for the
    call (never the authenticated one); by default a private one is made
    and closed by :meth:`aclose`.
    """

    def __init__(
        self,
        url: str,
        client_id: str,
        client_secret: SecretStr | str | None = None,
        *,
        auth_method: ClientAuthMethod = "basic",
        client: httpx.AsyncClient | None = None,
        setting: str = "token_url",
    ) -> None:
        self.url = check_url(url, setting, https=True)  # the client secret travels here
        require(client_id, "client_id")
        if auth_method not in ("basic", "post", "none"):
            raise PolicyError(
                f"auth_method: must be basic, post or none, not {auth_method!r}",
                setting="auth_method",
            )
        if auth_method != "none":
            require(client_secret, "client_secret")
        self.client_id = client_id
        self._secret = None if client_secret is None else secret(client_secret)
        self.auth_method = auth_method
        super().__init__(client)

    async def post(self, form: Mapping[str, str]) -> dict[str, Any]:
        """POST ``form`` (plus client authentication); the JSON object on 200.

        Raises :class:`AuthError` for an RFC 6749 error response and the
        tree's network/server/body errors otherwise.
        """
        data = dict(form)
        headers = {"Accept": "application/json"}
        if self.auth_method == "basic" and self._secret is not None:
            user = quote(self.client_id, safe="")
            password = quote(self._secret.get_secret_value(), safe="")
            raw = f"{user}:{password}"
            encoded = base64.b64encode(raw.encode()).decode()
            register_secret(password, raw, encoded)
            headers["Authorization"] = "Basic " + encoded
        else:
            data["client_id"] = self.client_id
            if self.auth_method == "post" and self._secret is not None:
                data["client_secret"] = self._secret.get_secret_value()
        try:
            response = await self._http().post(self.url, data=data, headers=headers)
        except httpx.TransportError as exc:
            raise NetworkError(
                f"token endpoint unreachable ({type(exc).__name__})", method="POST", url=self.url
            ) from None
        return _token_body(response, self.url)


def _token_body(response: httpx.Response, url: str) -> dict[str, Any]:
    status = response.status_code
    try:
        body: Any = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        body = None
    context: dict[str, Any] = {"status": status, "method": "POST", "url": url}
    if status == 429:
        retry_after = _seconds(response.headers.get("Retry-After"))
        retry_at = datetime.now(UTC) + timedelta(seconds=retry_after or 1.0)
        raise RateLimitedError("token endpoint rate limited", retry_at=retry_at, **context)
    if status >= 500:
        raise ServerError(
            "token endpoint failed",
            retry_after=_seconds(response.headers.get("Retry-After")),
            **context,
        )
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        description = body.get("error_description")
        raise AuthError(
            f"authorization server refused: {body['error']}",
            provider_code=body["error"],
            provider_message=description if isinstance(description, str) else None,
            **context,
        )
    if status != 200:
        raise AuthError("token endpoint answered without a token", **context)
    if not isinstance(body, dict):
        raise InvalidBodyError("token endpoint answered with a non-JSON body", **context)
    return body


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def register_token(token: OAuthToken) -> None:
    """Register every secret an :class:`OAuthToken` carries for redaction."""
    register_secret(
        token.access_token.get_secret_value(),
        token.refresh_token.get_secret_value() if token.refresh_token else None,
        token.id_token,
    )


def parse_token(body: dict[str, Any], now: float, url: str) -> OAuthToken:
    """The token in a token endpoint's answer, registered for redaction first."""
    for field in ("access_token", "refresh_token", "id_token"):
        value = body.get(field)
        if isinstance(value, str):
            register_secret(value)
    try:
        return OAuthToken.from_response(body, now=now)
    except ValueError as exc:
        raise InvalidBodyError(f"token endpoint: {exc}", status=200, url=url) from None
