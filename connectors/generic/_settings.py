from __future__ import annotations

from typing import Self

from pydantic import Field, HttpUrl, SecretStr, field_validator, model_validator

from core.auth import AuthSettings
from core.connector import ConnectorSettings
from core.webhooks import GenericHmacSettings

from ._commands import RequestTemplate
from ._poll import GenericPoll

__all__ = ["GenericSettings"]


class GenericSettings(ConnectorSettings):
    webhook_secrets: list[SecretStr] = Field(
        default_factory=list, description="Standard Webhooks whsec_... secrets"
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
