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
- with a store, a refresh runs under the store's
  :meth:`~core.tokenstore.TokenStore.refreshing` and first re-reads the
  store: a token another process stored meanwhile (not the one being
  replaced, not due) is used instead of a second refresh, and a refresh
  starts from the newest stored refresh token;
- async only: using one with a sync ``httpx.Client`` raises RuntimeError.

Token endpoint failures map into the error tree as
:mod:`core._auth_endpoint` (the endpoint, its client authentication and its
answers) describes. Secrets are never part of an error message: the client
secret, the initial refresh token and every token obtained (fetched or
loaded from the store: access, refresh, id token) are registered for
redaction (:func:`core.redaction.register_secret`) before they are used, so
an authorization server or provider echoing one back is scrubbed too.
"""

from __future__ import annotations

import asyncio
import time
from abc import abstractmethod
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from urllib.parse import urlsplit

import httpx
from pydantic import SecretStr

from core._auth_endpoint import (
    AuthError,
    AuthFlowError,
    ClientAuthMethod,
    OwnedClient,
    TokenEndpoint,
    check_url,
    parse_token,
    register_token,
)
from core._auth_static import secret
from core.errors import PolicyError
from core.tokenstore import OAuthToken, TokenStore

# the endpoint's names stay importable from here, where they were first
__all__ = [
    "AuthError",
    "AuthFlowError",
    "ClientAuthMethod",
    "ClientCredentialsAuth",
    "OAuth2Auth",
    "OwnedClient",
    "RefreshTokenAuth",
    "TokenEndpoint",
    "check_url",
    "register_token",
]


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
        if self.store is None:
            token = await self.fetch(previous)
            self.fetches += 1
            self._token = token
            return token
        async with self.store.refreshing(self.store_key):
            # another process may have refreshed while we waited for the store
            stored = await self.store.get(self.store_key)
            if stored is not None and self._fresher(stored, previous):
                register_token(stored)
                self._token = stored
                return stored
            token = await self.fetch(stored or previous)
            self.fetches += 1
            await self.store.put(self.store_key, token)
        self._token = token
        return token

    def _fresher(self, stored: OAuthToken, previous: OAuthToken | None) -> bool:
        """A stored token another holder obtained, not due: use it instead of refreshing."""
        if previous is not None and (
            stored.access_token.get_secret_value() == previous.access_token.get_secret_value()
        ):
            return False
        return not stored.due(self.clock(), self.refresh_margin)

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
        return parse_token(body, self.clock(), self.endpoint.url)


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
        token = parse_token(await self.endpoint.post(form), self.clock(), self.endpoint.url)
        if token.refresh_token is None:
            token = token.model_copy(update={"refresh_token": current})
        return token
