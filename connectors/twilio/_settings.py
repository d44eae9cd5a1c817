from __future__ import annotations

from typing import ClassVar

from pydantic import Field, HttpUrl, SecretStr, model_validator

from core.connector import ConnectorSettings

__all__ = ["TwilioSettings"]


class TwilioSettings(ConnectorSettings):
    """The ``twilio`` section. ``messaging_base_url`` is where the Messaging
    API (``messaging.*`` commands) is served (messaging.twilio.com); left
    unset, it follows ``base_url`` when that is not the default (a mock or a
    proxy gets those calls too)."""

    follow_base_url: ClassVar[tuple[str, ...]] = ("messaging_base_url",)
    account_sid: str | None = None
    auth_tokens: list[SecretStr] = Field(
        default_factory=list,
        description="auth token(s) that sign webhooks; the first also authenticates commands",
    )
    api_key_sid: str | None = Field(default=None, description="SK... API key for commands")
    api_key_secret: SecretStr | None = None
    rate: float = Field(default=10, gt=0, description="requests/s")
    public_url: HttpUrl | None = Field(
        default=None,
        description="the origin Twilio calls (e.g. https://hooks.example.com): Twilio signs "
        "the full URL, which a proxy in front of the worker changes",
    )
    base_url: HttpUrl = HttpUrl("https://api.twilio.com")
    messaging_base_url: HttpUrl = Field(
        default=HttpUrl("https://messaging.twilio.com"),
        description="where the Messaging API (messaging.* commands) is served; unset: "
        "base_url when that is not the default",
    )
    poll_messages: bool = Field(
        default=False, description="poll the account's message list (stream messages)"
    )
    poll_lookback_s: float = Field(
        default=300,
        ge=0,
        description="seconds before the newest polled message a run starts; Twilio filters "
        "by day, so a run reads that whole UTC day",
    )

    @model_validator(mode="after")
    def _public_url_for_webhooks(self) -> TwilioSettings:
        if self.auth_tokens and self.public_url is None:
            raise ValueError(
                "public_url is required with auth_tokens: Twilio signs the full URL it calls"
            )
        return self

    @model_validator(mode="after")
    def _account_for_polls(self) -> TwilioSettings:
        if self.poll_messages and not self.account_sid:
            raise ValueError("poll_messages needs account_sid: the message list is per account")
        return self
