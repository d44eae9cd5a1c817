"""GitHub: signed webhooks in, issues and repository events polled, REST API commands out.

GitHub has no idempotency key: commands go through the sink's ledger of
executed command ids (``idempotency="ledger"``), so a command is covered
against redelivery for as long as the ledger keeps its id.
"""

from __future__ import annotations

from typing import Any

from core.connector import Connector, Verifier, WebhookSpec
from core.webhooks import GitHubVerifier

from ._api import client_setup
from ._commands import COMMANDS
from ._poll import poll_streams
from ._settings import GitHubSettings
from ._webhook import MAX_BODY, handshake, normalize

__all__ = ["GitHubSettings", "client_setup", "connector", "sandbox"]


def sandbox(**kwargs: Any) -> Any:
    """A :class:`~connectors.github._sandbox.GitHubSandbox`."""
    from ._sandbox import GitHubSandbox

    return GitHubSandbox(**kwargs)


def _verifier(settings: GitHubSettings) -> Verifier | None:
    if not settings.webhook_secrets:
        return None
    return GitHubVerifier([s.get_secret_value() for s in settings.webhook_secrets])


connector = Connector(
    name="github",
    settings=GitHubSettings,
    commands=COMMANDS,
    # GitHub gives up after 10 s and caps payloads at 25 MB.
    webhook=WebhookSpec(
        verifier=_verifier,
        normalize=normalize,
        handshake=handshake,
        max_body_bytes=MAX_BODY,
        ack_deadline_s=8.0,
    ),
    description="GitHub REST API",
    api=client_setup,
    sandbox=sandbox,
    polls=poll_streams,
)
