"""SendGrid Event Webhook: ECDSA-signed batches, one Event per element.

id = ``sg_event_id``, type = ``sendgrid.<event>`` (delivered, open, bounce
...), subject = ``sg_message_id``, time = ``timestamp``. A batch with any
element missing its id or event name is malformed as a whole (400), so a
batch is either fully produced or not at all.

The scheme: ECDSA P-256 / SHA-256 over ``timestamp + body``
(:class:`SendGridVerifier`), configured by :class:`SendGridWebhookSettings`
built from the section's ``webhook_public_keys`` and ``webhook_tolerance_s``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Literal

from core.connector import MalformedPayload
from core.envelopes import Event
from core.webhooks import (
    DEFAULT_TOLERANCE,
    Clock,
    EcdsaKeys,
    Headers,
    PublicKey,
    PublicKeysSettings,
    Verified,
    b64decode,
    body_digest,
    check_tolerance,
    parse_timestamp,
    tolerance_argument,
)

from .._normalize import epoch, parse_json, require, type_part, webhook_event
from ._settings import SendGridSettings

__all__ = ["SendGridVerifier", "SendGridWebhookSettings", "normalize", "scheme"]


class SendGridVerifier(EcdsaKeys):
    """SendGrid ``X-Twilio-Email-Event-Webhook-Signature`` (base64 DER ECDSA)
    and ``X-Twilio-Email-Event-Webhook-Timestamp``.

    The signature is ECDSA P-256 with SHA-256 over the timestamp header's
    exact text followed by the raw body. Any configured public key may match
    (rotation): the "Verification Key" SendGrid shows (base64 DER), a PEM
    block, DER bytes or a key object. The timestamp must be within
    ``tolerance`` seconds of the clock, either way (SendGrid's own helper,
    the oracle in the tests, checks none; ``None`` disables).
    """

    scheme = "sendgrid"
    header = "X-Twilio-Email-Event-Webhook-Signature"
    timestamp_header = "X-Twilio-Email-Event-Webhook-Timestamp"

    def __init__(
        self,
        public_keys: PublicKey | Iterable[PublicKey],
        *,
        tolerance: float | None = DEFAULT_TOLERANCE,
        clock: Clock = time.time,
    ) -> None:
        super().__init__(public_keys)
        self._tolerance = tolerance_argument(tolerance)
        self._clock = clock

    def verify(
        self, body: bytes, headers: Mapping[str, str], *, url: str | None = None
    ) -> Verified:
        """See :class:`~core.webhooks.Verifier`; ``url`` is ignored."""
        view = Headers(headers, self.scheme, [self.header, self.timestamp_header])
        signature = b64decode(view.require(self.header), self.header, self.scheme)
        timestamp = view.require(self.timestamp_header)
        ts = parse_timestamp(timestamp, self.timestamp_header, self.scheme)
        self.check_signature(signature, timestamp.encode("ascii") + body)
        check_tolerance(ts, self._clock, self._tolerance, self.scheme)
        return Verified(body_digest(body), timestamp=ts)


class SendGridWebhookSettings(PublicKeysSettings):
    """SendGrid Event Webhook verification keys (base64 DER or PEM; not secret)."""

    type: Literal["sendgrid"] = "sendgrid"

    def build(self, *, clock: Clock = time.time) -> SendGridVerifier:
        """The verifier these settings describe."""
        return SendGridVerifier(self.public_keys, tolerance=self.tolerance, clock=clock)


def scheme(settings: SendGridSettings) -> SendGridWebhookSettings | None:
    """The section's scheme settings; None (route off) without a key."""
    if not settings.webhook_public_keys:
        return None
    return SendGridWebhookSettings(
        public_keys=settings.webhook_public_keys, tolerance=settings.webhook_tolerance_s
    )


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
