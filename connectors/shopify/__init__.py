"""Shopify: HMAC-signed webhooks in, GraphQL Admin API mutations out.

Mutations are cost-throttled (``extensions.cost``) and have no general
idempotency key: commands go through the sink's ledger
(``idempotency="ledger"``), covered for as long as the ledger keeps the
command id. Polls: orders by ``updated_at`` when ``poll_orders`` is on
(``_poll``: REST Link page_info, or GraphQL pageInfo).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.connector import Connector, SandboxFactory, WebhookSpec
from core.connector_kit import lazy_sandbox

from ._api import client_setup
from ._commands import COMMANDS, CustomersCreate, GraphQLMutation
from ._poll import polls
from ._settings import ShopifySettings
from ._webhook import ShopifyVerifier, ShopifyWebhookSettings, normalize, scheme

if TYPE_CHECKING:  # imported (with aiohttp) when a sandbox is made
    from ._sandbox import ShopifySandbox

__all__ = [
    "COMMANDS",
    "CustomersCreate",
    "GraphQLMutation",
    "ShopifySettings",
    "ShopifyVerifier",
    "ShopifyWebhookSettings",
    "client_setup",
    "connector",
    "polls",
    "sandbox",
]

sandbox: SandboxFactory[ShopifySandbox] = lazy_sandbox(f"{__name__}._sandbox", "ShopifySandbox")

connector: Connector[ShopifySettings, ShopifySandbox] = Connector(
    name="shopify",
    settings=ShopifySettings,
    commands=COMMANDS,
    # Shopify times out after 5 s.
    webhook=WebhookSpec(scheme=scheme, normalize=normalize, ack_deadline_s=4.0),
    description="Shopify Admin API",
    api=client_setup,
    sandbox=sandbox,
    polls=polls,
)
