"""Stripe: signed webhooks in, ``/v1/events`` polled, API commands out.

Commands are form-encoded (bracket nesting) and carry the command id as
``Idempotency-Key``: Stripe keeps keys for 24 hours, so a command redelivered
or replayed within 24 h of its first call has exactly one side effect
(``ClientSetup.idempotency == "key"``, no ledger needed inside that window).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.catalog import CatalogCommands
from core.connector import Connector, SandboxFactory, WebhookSpec
from core.connector_kit import lazy_sandbox

from ._api import IDEMPOTENCY_WINDOW, client_setup
from ._commands import (
    CATALOG,
    COMMANDS,
    CustomersCreate,
    CustomersUpdate,
    PaymentIntentsCapture,
    PaymentIntentsConfirm,
    PaymentIntentsCreate,
    RefundsCreate,
    SubscriptionItem,
    SubscriptionsCancel,
    SubscriptionsCreate,
    SubscriptionsUpdate,
)
from ._poll import polls
from ._settings import StripeSettings
from ._webhook import EVENTS, StripeVerifier, StripeWebhookSettings, normalize, scheme

if TYPE_CHECKING:  # imported (with aiohttp) when a sandbox is made
    from ._sandbox import StripeSandbox

__all__ = [
    "CATALOG",
    "COMMANDS",
    "IDEMPOTENCY_WINDOW",
    "CustomersCreate",
    "CustomersUpdate",
    "PaymentIntentsCapture",
    "PaymentIntentsConfirm",
    "PaymentIntentsCreate",
    "RefundsCreate",
    "StripeSettings",
    "StripeVerifier",
    "StripeWebhookSettings",
    "SubscriptionItem",
    "SubscriptionsCancel",
    "SubscriptionsCreate",
    "SubscriptionsUpdate",
    "client_setup",
    "connector",
    "polls",
    "sandbox",
]

sandbox: SandboxFactory[StripeSandbox] = lazy_sandbox(f"{__name__}._sandbox", "StripeSandbox")

connector: Connector[StripeSettings, StripeSandbox] = Connector(
    name="stripe",
    settings=StripeSettings,
    commands=CatalogCommands(CATALOG, COMMANDS),
    # Stripe times a delivery out after ~10 s: answer 503 well before.
    webhook=WebhookSpec(scheme=scheme, normalize=normalize, ack_deadline_s=8.0),
    description="Stripe payments API (form-encoded, Idempotency-Key = command id)",
    api=client_setup,
    sandbox=sandbox,
    polls=polls,
    events=EVENTS,
    idempotency="key",
)
