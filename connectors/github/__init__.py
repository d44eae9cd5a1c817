"""GitHub: signed webhooks in, issues and repository events polled, REST API commands out.

GitHub has no idempotency key: commands go through the sink's ledger of
executed command ids (``idempotency="ledger"``), so a command is covered
against redelivery for as long as the ledger keeps its id.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.catalog import CatalogCommands
from core.connector import Connector, SandboxFactory, WebhookSpec
from core.connector_kit import lazy_sandbox

from ._api import client_setup
from ._commands import CATALOG, COMMANDS, IssuesAddLabels, IssuesComment, IssuesCreate
from ._poll import polls
from ._settings import GitHubSettings
from ._webhook import (
    EVENTS,
    MAX_BODY,
    GitHubVerifier,
    GitHubWebhookSettings,
    handshake,
    normalize,
    scheme,
)

if TYPE_CHECKING:  # imported (with aiohttp) when a sandbox is made
    from ._sandbox import GitHubSandbox

__all__ = [
    "CATALOG",
    "COMMANDS",
    "GitHubSettings",
    "GitHubVerifier",
    "GitHubWebhookSettings",
    "IssuesAddLabels",
    "IssuesComment",
    "IssuesCreate",
    "client_setup",
    "connector",
    "polls",
    "sandbox",
]

sandbox: SandboxFactory[GitHubSandbox] = lazy_sandbox(f"{__name__}._sandbox", "GitHubSandbox")

connector: Connector[GitHubSettings, GitHubSandbox] = Connector(
    name="github",
    settings=GitHubSettings,
    commands=CatalogCommands(CATALOG, COMMANDS),
    # GitHub gives up after 10 s and caps payloads at 25 MB.
    webhook=WebhookSpec(
        scheme=scheme,
        normalize=normalize,
        handshake=handshake,
        max_body_bytes=MAX_BODY,
        ack_deadline_s=8.0,
    ),
    description="GitHub REST API",
    api=client_setup,
    sandbox=sandbox,
    polls=polls,
    events=EVENTS,
)
