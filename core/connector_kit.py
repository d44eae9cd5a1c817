"""What every connector package would otherwise write by hand.

A connector's ``_api.py`` needs its credential or fails naming the setting
(:func:`required`), then a :class:`~core.apicall.ClientSetup` that sends it
as a bearer token, HTTP Basic or an API-key header and keys the client's
budgets by its fingerprint (:func:`secret_setup`). Its ``__init__`` offers a
sandbox without importing the sandbox's web server until one is made
(:func:`lazy_sandbox`).
"""

from __future__ import annotations

import importlib
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import SecretStr

from core.apicall import ClientSetup, Idempotency
from core.auth import ApiKeyAuth, BasicAuth, BearerAuth
from core.client import ClientPolicy, credential_fingerprint
from core.errors import PolicyError

if TYPE_CHECKING:
    import httpx

    from core.connector import SandboxFactory
    from core.testing.sandbox import Sandbox

__all__ = ["FOR_COMMANDS", "FOR_COMMANDS_AND_POLLS", "lazy_sandbox", "required", "secret_setup"]

FOR_COMMANDS = "needed to send commands"
FOR_COMMANDS_AND_POLLS = "needed for commands and polls"

T = TypeVar("T")


def required(value: T | None, setting: str, needed: str = FOR_COMMANDS, *, what: str = "") -> T:
    """``value``, or :class:`~core.errors.PolicyError` naming ``setting`` when it is
    unset or empty (an empty string or :class:`~pydantic.SecretStr`).

    The message says what to set and why: ``acme.api_key is not set (needed
    to send commands)``; ``what`` replaces the setting's name in it when
    there is more than one way to satisfy it.
    """
    empty = value.get_secret_value() == "" if isinstance(value, SecretStr) else value == ""
    if value is None or empty:
        raise PolicyError(f"{what or setting} is not set ({needed})", setting=setting)
    return value


def secret_setup(
    policy: ClientPolicy,
    secret: SecretStr,
    *,
    basic_user: str | None = None,
    api_key_header: str | None = None,
    idempotency: Idempotency = "ledger",
    idempotency_window: timedelta | None = None,
    graphql_cost: float | None = None,
    api_version: str | None = None,
) -> ClientSetup:
    """A :class:`~core.apicall.ClientSetup` authenticated by one secret.

    Sent as ``Authorization: Bearer <secret>`` by default, as HTTP Basic
    ``basic_user:secret`` with ``basic_user``, or in the ``api_key_header``
    header. The credential fingerprint (budgets, logs) is the secret's (with
    Basic: ``user:secret``'s), never the secret itself.
    """
    plain = secret.get_secret_value()
    auth: httpx.Auth
    if basic_user is not None:
        auth = BasicAuth(basic_user, secret)
        fingerprint = credential_fingerprint(f"{basic_user}:{plain}")
    elif api_key_header is not None:
        auth = ApiKeyAuth(secret, name=api_key_header)
        fingerprint = credential_fingerprint(plain)
    else:
        auth = BearerAuth(secret)
        fingerprint = credential_fingerprint(plain)
    extra: dict[str, Any] = {} if graphql_cost is None else {"graphql_cost": graphql_cost}
    return ClientSetup(
        policy=policy,
        auth=auth,
        credential=fingerprint,
        idempotency=idempotency,
        idempotency_window=idempotency_window,
        api_version=api_version,
        **extra,
    )


def lazy_sandbox(module: str, name: str) -> SandboxFactory[Any]:
    """A sandbox factory importing ``module`` (and aiohttp) only when a sandbox is made.

    Its type is the caller's to state (``SandboxFactory[AcmeSandbox]``):
    the class is only named here, not imported.
    """

    def make(**kwargs: Any) -> Sandbox:
        cls = getattr(importlib.import_module(module), name)
        sandbox: Sandbox = cls(**kwargs)
        return sandbox

    make.__doc__ = f"A :class:`~{module}.{name}` (imported on first use)."
    return make
