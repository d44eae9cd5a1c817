"""GitHub: signed webhooks in, REST API commands out."""

from __future__ import annotations

from pydantic import Field, HttpUrl, SecretStr

from core.connector import CommandParams, Connector, ConnectorSettings

__all__ = ["GitHubSettings", "connector"]


class GitHubSettings(ConnectorSettings):
    token: SecretStr | None = None
    webhook_secrets: list[SecretStr] = Field(default_factory=list)
    base_url: HttpUrl = HttpUrl("https://api.github.com")


class IssuesCreate(CommandParams):
    owner: str = Field(min_length=1)
    repo: str = Field(min_length=1)
    title: str = Field(min_length=1)
    body: str | None = None
    labels: list[str] = Field(default_factory=list)


connector = Connector(
    name="github",
    settings=GitHubSettings,
    commands={"issues.create": IssuesCreate},
    description="GitHub REST API",
)
