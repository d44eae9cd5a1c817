from __future__ import annotations

import re

from pydantic import Field, HttpUrl, SecretStr, field_validator

from core.connector import ConnectorSettings

__all__ = ["SlackSettings"]

_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")


class SlackSettings(ConnectorSettings):
    bot_token: SecretStr | None = Field(default=None, description="xoxb-... for commands and polls")
    rate: float = Field(
        default=1.0, gt=0, description="requests/s (chat.postMessage: ~1/s/channel)"
    )
    signing_secrets: list[SecretStr] = Field(default_factory=list)
    webhook_tolerance_s: float = Field(default=300, gt=0)
    base_url: HttpUrl = HttpUrl("https://slack.com/api")
    poll_channels: list[str] = Field(
        default_factory=list,
        description="channel ids whose history is polled (stream history:<channel>; "
        "the bot needs the channels:history scope and to be a member)",
    )
    poll_lookback_s: float = Field(
        default=0,
        ge=0,
        description="seconds before the newest polled message each run reads again",
    )

    @field_validator("poll_channels")
    @classmethod
    def _channel_ids(cls, value: list[str]) -> list[str]:
        for channel in value:
            if not _CHANNEL_ID.match(channel):
                raise ValueError(f"{channel!r} is not a channel id (C..., G..., D...)")
        return value
