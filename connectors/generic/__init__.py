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

from typing import TYPE_CHECKING

from core.connector import Connector, SandboxFactory, WebhookSpec
from core.connector_kit import lazy_sandbox

from ._api import client_setup
from ._commands import COMMANDS, Request, RequestTemplate
from ._poll import GenericPoll, polls
from ._settings import GenericSettings
from ._webhook import normalize, scheme

if TYPE_CHECKING:  # imported (with aiohttp) when a sandbox is made
    from ._sandbox import GenericSandbox

__all__ = [
    "COMMANDS",
    "GenericPoll",
    "GenericSettings",
    "Request",
    "RequestTemplate",
    "client_setup",
    "connector",
    "polls",
    "sandbox",
]

sandbox: SandboxFactory[GenericSandbox] = lazy_sandbox(f"{__name__}._sandbox", "GenericSandbox")

connector: Connector[GenericSettings, GenericSandbox] = Connector(
    name="generic",
    settings=GenericSettings,
    commands=COMMANDS,
    webhook=WebhookSpec(scheme=scheme, normalize=normalize, ack_deadline_s=4.0),
    description="Any provider: Standard Webhooks or configured HMAC",
    api=client_setup,
    sandbox=sandbox,
    polls=polls,
)
