"""OAuth 2.0 token grants as :class:`httpx.Auth`: client credentials and refresh token.

Contract of every :class:`OAuth2Auth`:

- the token is fetched on first use and again ``refresh_margin`` seconds
  before it expires; fetching happens under one :class:`asyncio.Lock` and is
  re-checked inside it, so N concurrent requests cause exactly one fetch;
- a 401 answer triggers one refresh and one retry of that request; if the
  retry gets 401 again, that response is returned (never a loop). When
  several requests see 401 for the same token, only the first refreshes;
- every new token is written to the :class:`~core.tokenstore.TokenStore`
  (when one is given) before it is used, so a rotated refresh token
  survives a crash; on first use a stored token is loaded;
- async only: using one with a sync ``httpx.Client`` raises RuntimeError.

Token endpoint failures map into the error tree: unreachable ->
:class:`~core.errors.NetworkError`, 5xx -> :class:`~core.errors.ServerError`,
429 -> :class:`~core.errors.RateLimitedError`, an RFC 6749 error
(``invalid_client``, ``invalid_grant``, ...) -> :class:`AuthError`, a body
that is not a token -> :class:`~core.errors.InvalidBodyError`. Secrets are
never part of an error message: the client secret (also in its Basic form),
the initial refresh token and every token obtained (fetched or loaded from
the store: access, refresh, id token) are registered for redaction
(:func:`core.redaction.register_secret`) before they are used, so an
authorization server or provider echoing one back is scrubbed too.
"""

from __future__ import annotations

import asyncio
import base64
import time
from abc import abstractmethod
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
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
from core.tokenstore import OAuthToken, TokenStore

__all__ = [
    "AuthError",
    "AuthFlowError",
    "ClientCredentialsAuth",
    "OAuth2Auth",
    "RefreshTokenAuth",
    "TokenEndpoint",
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


class OAuth2Auth(httpx.Auth):
    """Base of the grant-based schemes; subclasses implement :meth:`fetch`."""

    requires_request_body = True  # the 401 retry re-sends the body

    def __init__(
        self,
        endpoint: TokenEndpoint,
        *,
        store: TokenStore | None = None,
        store_key: str | None = None,
        refresh_margin: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not refresh_margin >= 0:
            raise PolicyError("refresh_margin: must be >= 0 seconds", setting="refresh_margin")
        self.endpoint = endpoint
        self.store = store
        host = urlsplit(endpoint.url).netloc
        self.store_key = store_key or f"oauth2:{endpoint.client_id}@{host}"
        self.refresh_margin = refresh_margin
        self.clock = clock
        self.fetches = 0
        self._token: OAuthToken | None = None
        self._loaded = store is None
        self._lock = asyncio.Lock()

    @abstractmethod
    async def fetch(self, previous: OAuthToken | None) -> OAuthToken:
        """Get a new token from the endpoint (``previous`` may carry a refresh token)."""

    @property
    def token(self) -> OAuthToken | None:
        """The token in use (None before the first request)."""
        return self._token

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        used = await self._current()
        request.headers["Authorization"] = _bearer(used)
        response = yield request
        if response.status_code != 401:
            return
        renewed = await self._renew(used)
        request.headers["Authorization"] = _bearer(renewed)
        yield request

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError(f"{type(self).__name__} works with httpx.AsyncClient only")

    async def _current(self) -> OAuthToken:
        token = self._token
        if token is not None and not token.due(self.clock(), self.refresh_margin):
            return token
        async with self._lock:
            if not self._loaded:
                self._token = await self.store.get(self.store_key) if self.store else None
                self._loaded = True
                if self._token is not None:
                    register_token(self._token)
            token = self._token
            if token is None or token.due(self.clock(), self.refresh_margin):
                token = await self._replace(token)
            return token

    async def _renew(self, rejected: OAuthToken) -> OAuthToken:
        async with self._lock:
            current = self._token
            if current is not None and (
                current.access_token.get_secret_value() != rejected.access_token.get_secret_value()
            ):
                return current  # someone refreshed while we were waiting
            return await self._replace(current)

    async def _replace(self, previous: OAuthToken | None) -> OAuthToken:
        token = await self.fetch(previous)
        self.fetches += 1
        if self.store is not None:
            await self.store.put(self.store_key, token)
        self._token = token
        return token

    async def aclose(self) -> None:
        await self.endpoint.aclose()


def _bearer(token: OAuthToken) -> str:
    return f"Bearer {token.access_token.get_secret_value()}"


class ClientCredentialsAuth(OAuth2Auth):
    """OAuth 2.0 client credentials grant (RFC 6749 4.4) with a cached token.

    ``scope`` and ``audience`` are sent when set; ``extra`` adds form fields.
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: SecretStr | str,
        *,
        scope: str | None = None,
        audience: str | None = None,
        extra: Mapping[str, str] | None = None,
        auth_method: ClientAuthMethod = "basic",
        client: httpx.AsyncClient | None = None,
        store: TokenStore | None = None,
        store_key: str | None = None,
        refresh_margin: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        endpoint = TokenEndpoint(
            token_url, client_id, client_secret, auth_method=auth_method, client=client
        )
        super().__init__(
            endpoint, store=store, store_key=store_key, refresh_margin=refresh_margin, clock=clock
        )
        self._form = {"grant_type": "client_credentials", **(extra or {})}
        if scope:
            self._form["scope"] = scope
        if audience:
            self._form["audience"] = audience

    async def fetch(self, previous: OAuthToken | None) -> OAuthToken:
        body = await self.endpoint.post(self._form)
        return _parse(body, self.clock(), self.endpoint.url)


class RefreshTokenAuth(OAuth2Auth):
    """OAuth 2.0 refresh token grant (RFC 6749 section 6).

    The refresh token comes from the store (``store_key``) or, the first
    time, from ``refresh_token``. When the server rotates it, the new one is
    persisted before the new access token is used; when it does not, the old
    one is kept. A rejected refresh token raises :class:`AuthError`
    (``invalid_grant``): someone must authorize again.
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: SecretStr | str | None = None,
        *,
        refresh_token: SecretStr | str | None = None,
        scope: str | None = None,
        auth_method: ClientAuthMethod | None = None,
        client: httpx.AsyncClient | None = None,
        store: TokenStore | None = None,
        store_key: str | None = None,
        refresh_margin: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        method: ClientAuthMethod = auth_method or ("none" if client_secret is None else "basic")
        endpoint = TokenEndpoint(
            token_url, client_id, client_secret, auth_method=method, client=client
        )
        if refresh_token is None and store is None:
            raise PolicyError(
                "refresh_token is required when no token store holds one",
                setting="refresh_token",
            )
        super().__init__(
            endpoint, store=store, store_key=store_key, refresh_margin=refresh_margin, clock=clock
        )
        self._initial = None if refresh_token is None else secret(refresh_token)
        self._scope = scope

    async def fetch(self, previous: OAuthToken | None) -> OAuthToken:
        current = (previous.refresh_token if previous else None) or self._initial
        if current is None:
            raise AuthError(
                f"no refresh token for {self.store_key!r}: authorize first",
                provider_code="missing_refresh_token",
            )
        form = {"grant_type": "refresh_token", "refresh_token": current.get_secret_value()}
        if self._scope:
            form["scope"] = self._scope
        token = _parse(await self.endpoint.post(form), self.clock(), self.endpoint.url)
        if token.refresh_token is None:
            token = token.model_copy(update={"refresh_token": current})
        return token


def register_token(token: OAuthToken) -> None:
    """Register every secret an :class:`OAuthToken` carries for redaction."""
    register_secret(
        token.access_token.get_secret_value(),
        token.refresh_token.get_secret_value() if token.refresh_token else None,
        token.id_token,
    )


def _parse(body: dict[str, Any], now: float, url: str) -> OAuthToken:
    """The token in a token endpoint's answer, registered for redaction first."""
    for field in ("access_token", "refresh_token", "id_token"):
        value = body.get(field)
        if isinstance(value, str):
            register_secret(value)
    try:
        return OAuthToken.from_response(body, now=now)
    except ValueError as exc:
        raise InvalidBodyError(f"token endpoint: {exc}", status=200, url=url) from None
