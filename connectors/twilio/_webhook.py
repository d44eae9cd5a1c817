"""Twilio webhooks (status callbacks, incoming messages): ``X-Twilio-Signature``.

The body is form-encoded; data = the form fields (a repeated field is a
list). id = ``I-Twilio-Idempotency-Token`` when Twilio sends it, else a
stable hash of the sorted fields (a retried callback hashes the same).
type = ``twilio.message.<MessageStatus>`` / ``twilio.call.<CallStatus>`` /
``twilio.message.received``; subject = MessageSid or CallSid.

Twilio signs the URL and the parameters, not the idempotency token: every
Event carries ``bodydigest`` and dedup keys on it, so a replay under a new
token is one event.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime

import orjson

from core.envelopes import Event
from core.webhooks import Verified

from .._normalize import digest_of, parse_form, type_part, webhook_event


def _stable_id(fields: Mapping[str, object]) -> str:
    canonical = orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)
    return "twh_" + hashlib.sha256(canonical).hexdigest()[:40]


def normalize(
    body: bytes,
    headers: Mapping[str, str],
    received_at: datetime,
    verified: Verified | None = None,
) -> Sequence[Event]:
    fields = parse_form(body)
    message_sid = fields.get("MessageSid") or fields.get("SmsSid")
    call_sid = fields.get("CallSid")
    if fields.get("MessageStatus") or fields.get("SmsStatus"):
        status = fields.get("MessageStatus") or fields.get("SmsStatus")
        event_type = f"message.{type_part(status)}"
    elif fields.get("CallStatus"):
        event_type = f"call.{type_part(fields['CallStatus'])}"
    elif message_sid:
        event_type = "message.received"
    else:
        event_type = "webhook"
    subject = message_sid or call_sid
    return [
        webhook_event(
            "twilio",
            event_id=headers.get("I-Twilio-Idempotency-Token") or _stable_id(fields),
            event_type=event_type,
            subject=str(subject) if subject and not isinstance(subject, list) else None,
            data=fields,
            headers=headers,
            received_at=received_at,
            bodydigest=digest_of(body, verified),
        )
    ]
