from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field, HttpUrl, SecretStr

from core.connector import ConnectorSettings

__all__ = ["GitHubSettings"]

RepoName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")]


class GitHubSettings(ConnectorSettings):
    """The ``github`` section. ``uploads_base_url`` is where release assets
    are uploaded (``repos.upload_release_asset``: uploads.github.com); left
    unset, it follows ``base_url`` when that is not the default (a sandbox or
    a proxy gets those calls too; GitHub Enterprise Server serves uploads at
    ``https://HOST/api/uploads``: set it)."""

    follow_base_url: ClassVar[tuple[str, ...]] = ("uploads_base_url",)
    token: SecretStr | None = Field(default=None, description="token for REST commands and polls")
    api_version: str = Field(default="2022-11-28", description="X-GitHub-Api-Version header")
    rate: float = Field(
        default=1.0, gt=0, description="requests/s (content creation: ~80/min, 500/h)"
    )
    webhook_secrets: list[SecretStr] = Field(
        default_factory=list, description="webhook secrets; several while one is rolled"
    )
    base_url: HttpUrl = Field(
        default=HttpUrl("https://api.github.com"), description="REST API root (or a sandbox)"
    )
    uploads_base_url: HttpUrl = Field(
        default=HttpUrl("https://uploads.github.com"),
        description="where release assets are uploaded; unset: base_url when that is not "
        "the default",
    )
    poll_repos: list[RepoName] = Field(
        default_factory=list,
        description="owner/repo names to poll: streams issues:<repo> and events:<repo> each",
    )
    poll_lookback_s: float = Field(
        default=60,
        ge=0,
        description="issues polls ask for since = newest updated_at seen minus this many "
        "seconds, re-reading a window that clock skew or second-precision times could hide",
    )
