from __future__ import annotations

from pydantic import Field, HttpUrl, SecretStr

from core.connector import ConnectorSettings

__all__ = ["SlackSettings"]


class SlackSettings(ConnectorSettings):
    bot_token: SecretStr | None = Field(default=None, description="xoxb-... for commands")
    rate: float = Field(
        default=1.0, gt=0, description="requests/s (chat.postMessage: ~1/s/channel)"
    )
    signing_secrets: list[SecretStr] = Field(default_factory=list)
    webhook_tolerance_s: float = Field(default=300, gt=0)
    base_url: HttpUrl = HttpUrl("https://slack.com/api")
