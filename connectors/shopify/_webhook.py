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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from core.envelopes import Event
from core.webhooks import Verified

from .._normalize import digest_of, iso, parse_json_object, require, type_part, webhook_event


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
