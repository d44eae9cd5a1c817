from __future__ import annotations

from typing import Self

from pydantic import Field, HttpUrl, SecretStr, field_validator, model_validator

from core.auth import AuthSettings
from core.connector import ConnectorSettings
from core.webhooks import (
    GenericHmacSettings,
    decode_standard_public_key,
    decode_standard_secret,
)

from ._commands import RequestTemplate
from ._poll import GenericPoll

__all__ = ["GenericSettings"]


class GenericSettings(ConnectorSettings):
    webhook_secrets: list[SecretStr] = Field(
        default_factory=list, description="Standard Webhooks v1 (HMAC) whsec_... secrets"
    )
    webhook_public_keys: list[str] = Field(
        default_factory=list,
        description="Standard Webhooks v1a (ed25519) whpk_... public keys",
    )
    webhook_tolerance_s: float = Field(default=300, gt=0)
    hmac: GenericHmacSettings | None = Field(
        default=None, description="a custom HMAC scheme instead of Standard Webhooks"
    )
    base_url: HttpUrl | None = None
    auth: AuthSettings | None = Field(default=None, description="auth for generic.request")
    rate: float | None = Field(default=None, gt=0, description="requests/s; None: unlimited")
    templates: dict[str, RequestTemplate] = Field(
        default_factory=dict, description="request templates for generic.request, by name"
    )
    idempotency_header: str | None = Field(
        default=None, description="the provider's idempotency-key header, if it has one"
    )
    idempotency_window_s: float = Field(default=86400, gt=0)
    polls: list[GenericPoll] = Field(
        default_factory=list, description="declared poll streams (see connectors.generic._poll)"
    )

    @field_validator("webhook_secrets")
    @classmethod
    def _standard_secrets(cls, value: list[SecretStr]) -> list[SecretStr]:
        for secret in value:
            decode_standard_secret(
                secret.get_secret_value(),
                setting="webhook_secrets",
                keys_setting="webhook_public_keys",
            )
        return value

    @field_validator("webhook_public_keys")
    @classmethod
    def _standard_public_keys(cls, value: list[str]) -> list[str]:
        for key in value:
            decode_standard_public_key(
                key, setting="webhook_public_keys", secrets_setting="webhook_secrets"
            )
        return value

    @field_validator("polls")
    @classmethod
    def _unique_names(cls, value: list[GenericPoll]) -> list[GenericPoll]:
        seen: set[str] = set()
        for poll in value:
            if poll.name in seen:
                raise ValueError(f"two polls are named {poll.name!r}: names must be unique")
            seen.add(poll.name)
        return value

    @model_validator(mode="after")
    def _base_url_for_polls(self) -> Self:
        if self.polls and self.base_url is None:
            raise ValueError("polls need base_url (their paths are relative to it)")
        return self
