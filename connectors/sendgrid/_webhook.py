"""SendGrid Event Webhook: ECDSA-signed batches, one Event per element.

id = ``sg_event_id``, type = ``sendgrid.<event>`` (delivered, open, bounce
...), subject = ``sg_message_id``, time = ``timestamp``. A batch with any
element missing its id or event name is malformed as a whole (400), so a
batch is either fully produced or not at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from core.connector import MalformedPayload
from core.envelopes import Event
from core.webhooks import Verified

from .._normalize import epoch, parse_json, require, type_part, webhook_event


def normalize(
    body: bytes,
    headers: Mapping[str, str],
    received_at: datetime,
    verified: Verified | None = None,
) -> Sequence[Event]:
    batch = parse_json(body)
    if not isinstance(batch, list):
        raise MalformedPayload("body is not a JSON array of events")
    events = []
    for item in batch:
        if not isinstance(item, dict):
            raise MalformedPayload("batch element is not an object")
        message = item.get("sg_message_id")
        events.append(
            webhook_event(
                "sendgrid",
                event_id=require(item.get("sg_event_id"), "sg_event_id"),
                event_type=type_part(require(item.get("event"), "event")),
                subject=str(message) if message else None,
                time=epoch(item.get("timestamp")),
                data=item,
                headers=headers,
                received_at=received_at,
            )
        )
    return events
