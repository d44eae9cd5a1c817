"""Shopify: HMAC-signed webhooks in, GraphQL Admin API mutations out.

Mutations are cost-throttled (``extensions.cost``) and have no general
idempotency key: commands go through the sink's ledger
(``idempotency="ledger"``), covered for as long as the ledger keeps the
command id. Polls: orders by ``updated_at`` when ``poll_orders`` is on
(``_poll``: REST Link page_info, or GraphQL pageInfo).
"""

from __future__ import annotations

from typing import Any

from core.connector import Connector, Verifier, WebhookSpec
from core.webhooks import ShopifyVerifier

from ._api import client_setup
from ._commands import COMMANDS
from ._poll import polls
from ._settings import ShopifySettings
from ._webhook import normalize

__all__ = ["ShopifySettings", "client_setup", "connector", "sandbox"]


def sandbox(**kwargs: Any) -> Any:
    """A :class:`~connectors.shopify._sandbox.ShopifySandbox`."""
    from ._sandbox import ShopifySandbox

    return ShopifySandbox(**kwargs)


def _verifier(settings: ShopifySettings) -> Verifier | None:
    if not settings.webhook_secrets:
        return None
    return ShopifyVerifier([s.get_secret_value() for s in settings.webhook_secrets])


connector = Connector(
    name="shopify",
    settings=ShopifySettings,
    commands=COMMANDS,
    # Shopify times out after 5 s.
    webhook=WebhookSpec(verifier=_verifier, normalize=normalize, ack_deadline_s=4.0),
    description="Shopify Admin API",
    api=client_setup,
    sandbox=sandbox,
    polls=polls,
)
