"""What every connector's webhook normalization shares.

Each provider's ``normalize(body, headers, received_at, verified)`` parses
the (already verified) body, picks the provider event id, type, subject and
time, and builds Events with :func:`webhook_event`. Anything it cannot read
raises :class:`core.connector.MalformedPayload`, which the ingest server
answers with 400. A provider that signs no event id passes
:func:`digest_of` as ``bodydigest``, so a replay of the same signed body
under a new id is still one event (dedup keys on the digest).
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import orjson

from core.connector import MalformedPayload
from core.envelopes import EnvelopeError, Event
from core.webhooks import Verified, body_digest

_TRACEPARENT_RE = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
_TYPE_PART_RE = re.compile(r"[^A-Za-z0-9_-]+")


def parse_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise MalformedPayload("body is not JSON") from None


def parse_json_object(body: bytes) -> dict[str, Any]:
    data = parse_json(body)
    if not isinstance(data, dict):
        raise MalformedPayload("body is not a JSON object")
    return data


def parse_form(body: bytes) -> dict[str, str | list[str]]:
    """Form fields; a repeated field becomes a list of its values."""
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError):
        raise MalformedPayload("body is not form-encoded") from None
    out: dict[str, str | list[str]] = {}
    for name, value in pairs:
        if name in out:
            existing = out[name]
            out[name] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            out[name] = value
    return out


def digest_of(body: bytes, verified: Verified | None) -> str:
    """The digest the verifier computed over the signed bytes, else this body's."""
    return verified.digest if verified is not None else body_digest(body)


def traceparent(headers: Mapping[str, str]) -> str:
    """The caller's W3C traceparent if valid, else a new sampled one."""
    incoming = headers.get("traceparent", "").strip().lower()
    if _TRACEPARENT_RE.match(incoming) and incoming[3:35] != "0" * 32:
        return incoming
    # unique, not secret: OpenTelemetry's RandomIdGenerator does the same (the module's
    # generator is reseeded in a forked child)
    trace_id, span_id = random.getrandbits(128) or 1, random.getrandbits(64) or 1
    return f"00-{trace_id:032x}-{span_id:016x}-01"


def type_part(value: Any) -> str:
    """A provider type component made safe for ``<c>.<type>``."""
    cleaned = _TYPE_PART_RE.sub("_", str(value)).strip("_")
    if not cleaned:
        raise MalformedPayload("event type is missing")
    return cleaned


def epoch(value: Any) -> datetime | None:
    """Unix seconds (int, float or numeric string) -> aware datetime, else None."""
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def iso(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def require(value: Any, what: str) -> str:
    if value is None or value == "" or isinstance(value, (dict, list)):
        raise MalformedPayload(f"{what} is missing")
    return str(value)


def webhook_event(
    connector: str,
    *,
    event_id: str,
    event_type: str,
    data: Any,
    headers: Mapping[str, str],
    received_at: datetime,
    subject: str | None = None,
    time: datetime | None = None,
    delivery: str = "webhook",
    bodydigest: str | None = None,
    dataschema: str | None = None,
) -> Event:
    try:
        return Event.from_obj(
            {
                "id": event_id,
                "source": f"switchboard/{connector}",
                "type": f"{connector}.{event_type}",
                "subject": subject or None,
                "time": time,
                "data": data,
                "provider": connector,
                "delivery": delivery,
                "receivedat": received_at,
                "traceparent": traceparent(headers),
                "bodydigest": bodydigest,
                "dataschema": dataschema,
            }
        )
    except EnvelopeError as exc:
        raise MalformedPayload(str(exc)) from None
