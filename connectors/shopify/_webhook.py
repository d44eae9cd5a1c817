"""Shopify webhooks: ``X-Shopify-Hmac-Sha256`` verified.

id = ``X-Shopify-Webhook-Id``, type = ``shopify.<topic with / as .>`` (from
``X-Shopify-Topic``, e.g. ``shopify.orders.create``), subject = the
resource's ``admin_graphql_api_id`` or id, time = ``X-Shopify-Triggered-At``.

Shopify signs only the body; id, topic and time are unsigned headers. Every
Event carries ``bodydigest`` and dedup keys on it, so a captured delivery
replayed under a new id or another topic is dropped within the dedup
window. The cost: Shopify sending one identical body under two topics (e.g.
``orders/create`` and ``orders/paid`` in the same instant) yields the first
only, because the two cannot be told from a re-typed replay.

The scheme: ``X-Shopify-Hmac-Sha256``, a base64 HMAC of the body
(:class:`ShopifyVerifier`), configured by :class:`ShopifyWebhookSettings`
built from the section's ``webhook_secrets``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Literal

from core.envelopes import Event
from core.webhooks import (
    Clock,
    Headers,
    HmacKeys,
    SecretsSettings,
    Verified,
    b64decode,
    body_digest,
)

from .._normalize import digest_of, iso, parse_json_object, require, type_part, webhook_event
from ._settings import ShopifySettings

__all__ = ["ShopifyVerifier", "ShopifyWebhookSettings", "normalize", "scheme"]


class ShopifyVerifier(HmacKeys):
    """Shopify ``X-Shopify-Hmac-Sha256``: base64 HMAC-SHA256 of the body.

    The secret is the app's client secret (or the webhook signing secret
    shown in the admin). Shopify signs no timestamp, id or topic; replays
    are caught by dedup on the body's digest. Every ``X-Shopify-*`` header
    must occur once. Any configured secret may match.
    """

    scheme = "shopify"
    header = "X-Shopify-Hmac-Sha256"

    def verify(
        self, body: bytes, headers: Mapping[str, str], *, url: str | None = None
    ) -> Verified:
        """See :class:`~core.webhooks.Verifier`; ``url`` is ignored."""
        view = Headers(headers, self.scheme, guarded_prefixes=("x-shopify-",))
        self.check_mac(body, [b64decode(view.require(self.header), self.header, self.scheme)])
        return Verified(body_digest(body))


class ShopifyWebhookSettings(SecretsSettings):
    """Shopify app client secrets (webhook signing secrets)."""

    type: Literal["shopify"] = "shopify"

    def build(self, *, clock: Clock = time.time) -> ShopifyVerifier:
        """The verifier these settings describe (Shopify signs no timestamp)."""
        return ShopifyVerifier(self.secret_values())


def scheme(settings: ShopifySettings) -> ShopifyWebhookSettings | None:
    """The section's scheme settings; None (route off) without a secret."""
    if not settings.webhook_secrets:
        return None
    return ShopifyWebhookSettings(secrets=settings.webhook_secrets)


def normalize(
    body: bytes,
    headers: Mapping[str, str],
    received_at: datetime,
    verified: Verified | None = None,
) -> Sequence[Event]:
    payload = parse_json_object(body)
    topic = require(headers.get("X-Shopify-Topic"), "X-Shopify-Topic header")
    subject = payload.get("admin_graphql_api_id") or payload.get("id")
    return [
        webhook_event(
            "shopify",
            event_id=require(headers.get("X-Shopify-Webhook-Id"), "X-Shopify-Webhook-Id header"),
            event_type=".".join(type_part(p) for p in topic.split("/")),
            subject=str(subject) if subject is not None else None,
            time=iso(headers.get("X-Shopify-Triggered-At")),
            data=payload,
            headers=headers,
            received_at=received_at,
            bodydigest=digest_of(body, verified),
        )
    ]
