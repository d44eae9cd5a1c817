from __future__ import annotations

from pydantic import Field, HttpUrl, SecretStr

from core.connector import ConnectorSettings

__all__ = ["GitHubSettings"]


class GitHubSettings(ConnectorSettings):
    token: SecretStr | None = Field(default=None, description="token for REST commands")
    api_version: str = "2022-11-28"
    rate: float = Field(
        default=1.0, gt=0, description="requests/s (content creation: ~80/min, 500/h)"
    )
    webhook_secrets: list[SecretStr] = Field(default_factory=list)
    base_url: HttpUrl = HttpUrl("https://api.github.com")
