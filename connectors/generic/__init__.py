"""Generic: Standard Webhooks or a configured HMAC scheme in; declarative
request templates (``generic.request``) out.

Idempotency: with ``idempotency_header`` set the provider's key covers
``idempotency_window_s``; without it the sink's ledger covers redelivery for
as long as it keeps the command id. Polls are declared in settings (``polls``:
endpoint, paginator, record fields, incremental parameter; see ``_poll``).
The sandbox is the core demo provider (``/echo``, ``/v1/things`` with
Idempotency-Key, ``/datasets/...`` under every pagination scheme) plus an
incremental feed, ``/v1/events?since=``.
"""

from __future__ import annotations

from typing import Any

from core.connector import Connector, PollStream, Verifier, WebhookSpec
from core.webhooks import StandardWebhooksVerifier

from ._api import client_setup
from ._commands import COMMANDS, RequestTemplate
from ._poll import GenericPoll, poll_streams
from ._settings import GenericSettings
from ._webhook import normalize

__all__ = [
    "GenericPoll",
    "GenericSettings",
    "RequestTemplate",
    "client_setup",
    "connector",
    "polls",
    "sandbox",
]


def sandbox(**kwargs: Any) -> Any:
    """A :class:`~connectors.generic._sandbox.GenericSandbox` (the core demo sandbox
    plus an incremental ``/v1/events`` feed)."""
    from ._sandbox import GenericSandbox

    return GenericSandbox(**kwargs)


def polls(settings: GenericSettings) -> list[PollStream]:
    """The streams declared in ``settings.polls``."""
    return poll_streams(settings.polls)


def _verifier(settings: GenericSettings) -> Verifier | None:
    if settings.hmac is not None:
        return settings.hmac.build()
    if not settings.webhook_secrets:
        return None
    return StandardWebhooksVerifier(
        [s.get_secret_value() for s in settings.webhook_secrets],
        tolerance=settings.webhook_tolerance_s,
    )


connector = Connector(
    name="generic",
    settings=GenericSettings,
    commands=COMMANDS,
    webhook=WebhookSpec(verifier=_verifier, normalize=normalize, ack_deadline_s=4.0),
    description="Any provider: Standard Webhooks or configured HMAC",
    api=client_setup,
    sandbox=sandbox,
    polls=polls,
)
