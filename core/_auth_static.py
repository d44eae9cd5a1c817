"""Static credential schemes: bearer token, HTTP Basic, API key (header or query).

Each is an :class:`httpx.Auth` that works with sync and async clients. The
secret is held as a :class:`~pydantic.SecretStr` so ``repr`` never shows it,
and registered for redaction (:mod:`core.redaction`) when the scheme is
made, in every form it is sent in (the header value, Basic's base64 and
``user:password``); an API key's header or parameter name is registered
too, so ``?appid=...`` is redacted by name in every URL of an error or log.
"""

from __future__ import annotations

import base64
from collections.abc import Generator
from typing import Literal

import httpx
from pydantic import SecretStr

from core.errors import PolicyError
from core.redaction import register_secret, register_secret_name

__all__ = ["ApiKeyAuth", "BasicAuth", "BearerAuth", "require", "secret"]


def secret(value: SecretStr | str) -> SecretStr:
    """``value`` as a SecretStr, registered for redaction."""
    held = value if isinstance(value, SecretStr) else SecretStr(value)
    register_secret(held.get_secret_value())
    return held


def require(value: object, setting: str) -> None:
    """Raise :class:`PolicyError` naming ``setting`` if ``value`` is empty."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if value is None or (isinstance(value, str) and not value.strip()):
        raise PolicyError(f"{setting} is required", setting=setting)


class BearerAuth(httpx.Auth):
    """``Authorization: Bearer <token>`` (``scheme`` and ``header`` adjustable)."""

    def __init__(
        self, token: SecretStr | str, *, scheme: str = "Bearer", header: str = "Authorization"
    ) -> None:
        require(token, "token")
        self._token = secret(token)
        self._value = f"{scheme} {self._token.get_secret_value()}" if scheme else None
        self._header = header
        register_secret(self._value)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers[self._header] = self._value or self._token.get_secret_value()
        yield request

    def __repr__(self) -> str:
        return f"BearerAuth(header={self._header!r}, token=**********)"


class BasicAuth(httpx.Auth):
    """HTTP Basic (RFC 7617), ``username:password`` encoded as UTF-8."""

    def __init__(self, username: str, password: SecretStr | str) -> None:
        require(username, "username")
        self.username = username
        self._password = secret(password)
        raw = f"{username}:{self._password.get_secret_value()}"
        encoded = base64.b64encode(raw.encode()).decode("ascii")
        self._value = "Basic " + encoded
        register_secret(raw, encoded)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._value
        yield request

    def __repr__(self) -> str:
        return f"BasicAuth(username={self.username!r}, password=**********)"


class ApiKeyAuth(httpx.Auth):
    """An API key in a header (default ``X-API-Key``) or a query parameter.

    ``prefix`` is prepended to the key (e.g. ``"Token "`` for
    ``Authorization: Token <key>``).
    """

    def __init__(
        self,
        key: SecretStr | str,
        *,
        location: Literal["header", "query"] = "header",
        name: str = "X-API-Key",
        prefix: str = "",
    ) -> None:
        require(key, "key")
        require(name, "name")
        if location not in ("header", "query"):
            raise PolicyError(
                f"location: must be 'header' or 'query', not {location!r}", setting="location"
            )
        self._key = secret(key)
        self.location = location
        self.name = name
        self._value = prefix + self._key.get_secret_value()
        register_secret(self._value)
        register_secret_name(name)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self.location == "header":
            request.headers[self.name] = self._value
        else:
            request.url = request.url.copy_merge_params({self.name: self._value})
        yield request

    def __repr__(self) -> str:
        return f"ApiKeyAuth(location={self.location!r}, name={self.name!r}, key=**********)"
