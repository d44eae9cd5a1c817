"""Field types shared by the webhook settings models.

A list setting (``secrets``, ``auth_tokens``, ``public_keys``) accepts a
list, one plain string (a one-item list: ``SWITCHBOARD_<NAME>__WEBHOOK__SECRETS=whsec_...``)
or a JSON list in a string (``'["whsec_old", "whsec_new"]'``). ``NoDecode``
stops pydantic-settings from JSON-decoding the environment value itself, so
a plain secret is not mistaken for malformed JSON.
"""

from __future__ import annotations

import json
from typing import Annotated

from pydantic import BeforeValidator, Field, SecretStr
from pydantic_settings import NoDecode

__all__ = ["KeyList", "SecretList", "Tolerance", "as_list", "nonempty_secrets"]


def as_list(value: object) -> object:
    """One string -> ``[string]``; a string holding a JSON list -> that list."""
    if isinstance(value, str):
        if value.lstrip().startswith("["):
            try:
                return json.loads(value)
            except ValueError:
                raise ValueError("not a JSON list of strings") from None
        return [value]
    return value


def nonempty_secrets(value: list[SecretStr]) -> list[SecretStr]:
    """Reject an empty secret in the list (``min_length`` covers an empty list)."""
    if any(not s.get_secret_value() for s in value):
        raise ValueError("secrets must not be empty strings")
    return value


SecretList = Annotated[list[SecretStr], NoDecode, BeforeValidator(as_list), Field(min_length=1)]
"""Every currently valid secret (several while rotating)."""

KeyList = Annotated[list[str], NoDecode, BeforeValidator(as_list), Field(min_length=1)]
"""Non-secret values, e.g. public keys (several while rotating)."""

Tolerance = Annotated[float, Field(ge=0)] | None
"""Seconds a signed timestamp may be off, either way; ``None`` disables the check."""
