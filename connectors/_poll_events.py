"""What every connector's poll streams share: a listed record turned into an Event.

A poll stream's ``to_events`` reads one record of a provider's list (parsed
JSON) and names its id, type, subject and time; :func:`poll_event` builds
the Event with ``delivery="poll"`` and the record, untouched, as ``data``.

A record that cannot be read (no id, an id that is an object, a type that
is empty) means the provider's answer is unusable:
:class:`core.errors.InvalidBodyError`, not retryable. ``core.poll.poll_run``
lets it propagate before the page's cursor is handed out, so the stream
stops loudly at that page rather than dropping the record or producing an
event nobody can deduplicate.

The mark helpers compare the values a provider writes in different shapes
(Slack ``ts`` strings, RFC 2822 and ISO 8601 times with offsets) by what
they mean, and store marks in one canonical text form (UTC ISO with ``Z``)
so a mark written by one run compares correctly with the records of the next.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from core.connector import MalformedPayload
from core.envelopes import Event, utcnow
from core.errors import InvalidBodyError
from core.pagination import PageRequest, dig
from core.poll import Advance

from ._normalize import type_part, webhook_event

__all__ = [
    "event_type",
    "max_time_mark",
    "parse_time",
    "poll_event",
    "required_text",
    "utc_iso",
]


def poll_event(
    connector: str,
    *,
    event_id: str,
    event_type: str,
    data: Any,
    subject: str | None = None,
    time: datetime | None = None,
) -> Event:
    """The Event of one polled record (``type`` without the connector prefix)."""
    try:
        return webhook_event(
            connector,
            event_id=event_id,
            event_type=event_type,
            data=data,
            headers={},
            received_at=utcnow(),
            subject=subject,
            time=time,
            delivery="poll",
        )
    except MalformedPayload as exc:
        raise InvalidBodyError(f"{connector}: polled record: {exc}") from None


def event_type(*parts: Any) -> str:
    """``message`` + ``bot_message`` -> ``message.bot_message``, each part made safe."""
    try:
        return ".".join(type_part(p) for p in parts)
    except MalformedPayload as exc:
        raise InvalidBodyError(f"polled record: {exc}") from None


def required_text(record: Any, path: str, what: str | None = None) -> str:
    """``record``'s value at dotted ``path`` as text; InvalidBodyError when absent."""
    value = dig(record, path)
    if value is None or value == "" or isinstance(value, (dict, list, bool)):
        raise InvalidBodyError(f"polled record has no usable {what or path!r}")
    return str(value)


def parse_time(value: Any) -> datetime | None:
    """An aware datetime from ISO 8601 (``Z`` or an offset), RFC 2822
    (Twilio's ``Thu, 24 Aug 2023 05:01:45 +0000``) or Unix seconds; None
    for anything else. Naive values are taken as UTC."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str) or not value:
        return None
    parsed: datetime | None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            parsed = None
    if parsed is None:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def utc_iso(moment: datetime) -> str:
    """``2024-01-02T03:04:05Z`` (microseconds kept when there are any)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def max_time_mark(path: str) -> Advance:
    """``advance`` keeping the latest time at ``path`` of a page's records, as
    :func:`utc_iso` text (so ``-05:00`` and ``Z`` times compare by instant).
    Records without a readable time there leave the mark alone."""

    def advance(mark: Any, records: Sequence[Any], _request: PageRequest) -> Any:
        best = parse_time(mark)
        for record in records:
            moment = parse_time(dig(record, path))
            if moment is not None and (best is None or moment > best):
                best = moment
        return mark if best is None else utc_iso(best)

    return advance
