"""Stripe webhooks: ``Stripe-Signature`` verified, one Event per Stripe event.

id = the event's ``id`` (``evt_...``), type = ``stripe.<type>``, subject =
the id of ``data.object``, time = ``created``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from core.envelopes import Event

from .._normalize import epoch, parse_json_object, require, type_part, webhook_event


def normalize(body: bytes, headers: Mapping[str, str], received_at: datetime) -> Sequence[Event]:
    payload = parse_json_object(body)
    obj = (
        (payload.get("data") or {}).get("object") if isinstance(payload.get("data"), dict) else None
    )
    subject = obj.get("id") if isinstance(obj, dict) else None
    return [
        webhook_event(
            "stripe",
            event_id=require(payload.get("id"), "event id"),
            event_type=".".join(
                type_part(p) for p in require(payload.get("type"), "type").split(".")
            ),
            subject=str(subject) if subject else None,
            time=epoch(payload.get("created")),
            data=payload,
            headers=headers,
            received_at=received_at,
        )
    ]
