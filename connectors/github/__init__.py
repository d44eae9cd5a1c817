"""GitHub: signed webhooks in, REST API commands out."""

from __future__ import annotations

from pydantic import Field, HttpUrl, SecretStr

from core.connector import CommandParams, Connector, ConnectorSettings, Verifier, WebhookSpec
from core.webhooks import GitHubVerifier

from ._webhook import MAX_BODY, handshake, normalize

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


def _verifier(settings: GitHubSettings) -> Verifier | None:
    if not settings.webhook_secrets:
        return None
    return GitHubVerifier([s.get_secret_value() for s in settings.webhook_secrets])


connector = Connector(
    name="github",
    settings=GitHubSettings,
    commands={"issues.create": IssuesCreate},
    # GitHub gives up after 10 s and caps payloads at 25 MB.
    webhook=WebhookSpec(
        verifier=_verifier,
        normalize=normalize,
        handshake=handshake,
        max_body_bytes=MAX_BODY,
        ack_deadline_s=8.0,
    ),
    description="GitHub REST API",
)
