"""``AuthSettings``: the auth part of a connector's settings section, as a tagged union.

A connector declares ``auth: AuthSettings`` in its section; users write e.g.
``SWITCHBOARD_ACME__AUTH__TYPE=oauth2_client_credentials``,
``SWITCHBOARD_ACME__AUTH__TOKEN_URL=...``. Validation names the wrong
setting: an unknown ``type`` fails on ``type``, a missing ``token_url`` on
``token_url``. ``settings.build(...)`` returns the :class:`httpx.Auth`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated, Any, Literal, cast

import httpx
from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    TypeAdapter,
    field_validator,
)

from core._auth_oauth import (
    ClientAuthMethod,
    ClientCredentialsAuth,
    RefreshTokenAuth,
    check_url,
)
from core._auth_static import ApiKeyAuth, BasicAuth, BearerAuth
from core.tokenstore import TokenStore

__all__ = [
    "ApiKeySettings",
    "AuthSettings",
    "BasicSettings",
    "BearerSettings",
    "ClientCredentialsSettings",
    "RefreshTokenSettings",
    "auth_settings_adapter",
    "build_auth",
]


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def build(
        self,
        *,
        store: TokenStore | None = None,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> httpx.Auth:
        """The :class:`httpx.Auth` these settings describe.

        ``store`` keeps OAuth tokens (required for ``oauth2_refresh_token``
        without a configured ``refresh_token``); ``client`` is used for the
        token endpoint; ``clock`` (epoch seconds) decides expiry.
        """
        raise NotImplementedError


def _nonblank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def _https_or_loopback(value: AnyHttpUrl) -> AnyHttpUrl:
    # The client secret travels to this URL: plain http only on loopback.
    check_url(str(value), "token_url", https=True)
    return value


class BearerSettings(_Base):
    type: Literal["bearer"]
    token: SecretStr

    def build(
        self,
        *,
        store: TokenStore | None = None,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> httpx.Auth:
        return BearerAuth(self.token)


class BasicSettings(_Base):
    type: Literal["basic"]
    username: Annotated[str, Field(min_length=1)]
    password: SecretStr

    def build(
        self,
        *,
        store: TokenStore | None = None,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> httpx.Auth:
        return BasicAuth(self.username, self.password)


class ApiKeySettings(_Base):
    type: Literal["api_key"]
    key: SecretStr
    location: Literal["header", "query"] = "header"
    name: Annotated[str, Field(min_length=1)] = "X-API-Key"
    prefix: str = ""

    def build(
        self,
        *,
        store: TokenStore | None = None,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> httpx.Auth:
        return ApiKeyAuth(self.key, location=self.location, name=self.name, prefix=self.prefix)


class ClientCredentialsSettings(_Base):
    type: Literal["oauth2_client_credentials"]
    token_url: AnyHttpUrl
    client_id: Annotated[str, Field(min_length=1)]
    client_secret: SecretStr
    scope: str | None = None
    audience: str | None = None
    auth_method: Literal["basic", "post"] = "basic"
    refresh_margin_s: Annotated[float, Field(ge=0)] = 60.0
    store_key: str | None = None

    _check_id = field_validator("client_id")(_nonblank)
    _check_url = field_validator("token_url")(_https_or_loopback)

    def build(
        self,
        *,
        store: TokenStore | None = None,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> httpx.Auth:
        return ClientCredentialsAuth(
            str(self.token_url),
            self.client_id,
            self.client_secret,
            scope=self.scope,
            audience=self.audience,
            auth_method=self.auth_method,
            client=client,
            store=store,
            store_key=self.store_key,
            refresh_margin=self.refresh_margin_s,
            clock=clock,
        )


class RefreshTokenSettings(_Base):
    type: Literal["oauth2_refresh_token"]
    token_url: AnyHttpUrl
    client_id: Annotated[str, Field(min_length=1)]
    client_secret: SecretStr | None = None
    refresh_token: SecretStr | None = Field(
        default=None, description="initial refresh token; later ones live in the token store"
    )
    scope: str | None = None
    auth_method: Literal["basic", "post", "none"] | None = None
    refresh_margin_s: Annotated[float, Field(ge=0)] = 60.0
    store_key: str | None = None

    _check_id = field_validator("client_id")(_nonblank)
    _check_url = field_validator("token_url")(_https_or_loopback)

    def build(
        self,
        *,
        store: TokenStore | None = None,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> httpx.Auth:
        method: ClientAuthMethod | None = self.auth_method
        return RefreshTokenAuth(
            str(self.token_url),
            self.client_id,
            self.client_secret,
            refresh_token=self.refresh_token,
            scope=self.scope,
            auth_method=method,
            client=client,
            store=store,
            store_key=self.store_key,
            refresh_margin=self.refresh_margin_s,
            clock=clock,
        )


AuthSettings = Annotated[
    BearerSettings
    | BasicSettings
    | ApiKeySettings
    | ClientCredentialsSettings
    | RefreshTokenSettings,
    Field(discriminator="type"),
]

# cast: mypy reads an Annotated union as a value, not a type (its verdict on an
# ignore here changed with its cache, so none is used)
auth_settings_adapter: TypeAdapter[AuthSettings] = TypeAdapter(cast(Any, AuthSettings))


def build_auth(
    settings: AuthSettings,
    *,
    store: TokenStore | None = None,
    client: httpx.AsyncClient | None = None,
    clock: Callable[[], float] = time.time,
) -> httpx.Auth:
    """``settings.build(...)`` for any member of the union."""
    return settings.build(store=store, client=client, clock=clock)
