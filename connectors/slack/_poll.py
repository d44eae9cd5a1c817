"""Slack poll streams: ``conversations.history`` of each configured channel.

One stream per channel in ``poll_channels``, named ``history:<channel>``::

    GET /conversations.history?channel=C..&limit=200&oldest=<mark>[&cursor=..]

Pages follow ``response_metadata.next_cursor`` while ``has_more``
(:class:`~core.pagination.CursorPaginator`); a cursor handed back twice is a
PaginationError, never a loop. ``{"ok": false}`` answers are errors through
the Slack error mapping (:func:`connectors.slack._api.ok_false`), which the
client applies to every response, GETs included.

Incremental position: the mark is the newest message ``ts`` seen (kept as
Slack's own text, compared as a decimal: ``ts`` is seconds with six
decimals, and comparing the strings would break the day the integer part
grows a digit). Slack's ``oldest`` is *exclusive* unless ``inclusive=true``
(its documentation: "Include messages with oldest or latest timestamps in
results. Ignored unless either timestamp is specified. Defaults to false"),
so a run starting at the mark does not read the mark's message again.
``poll_lookback_s`` moves ``oldest`` back to re-read that window; what it
re-reads carries the same ids.

Events: id = ``<channel>:<ts>`` (a message's ``ts`` is unique within its
channel), type = ``slack.message`` or ``slack.message.<subtype>``, subject =
the channel, time = the ``ts``, data = the message as listed. These ids do
*not* coincide with the Events API's ``event_id`` (``Ev...``), which a
message's webhook delivery carries: a message seen both ways is two events
on ``slack.events``; Slack gives no way to derive one id from the other.

Slack's limits: ``limit=200`` is its recommended page size; since 2025 apps
distributed outside the Marketplace get at most 15 messages a page and one
request a minute on this method -- paging still works, and
``poll.intervals`` should give such an app's streams a minute or more.

Not covered: thread replies (``conversations.replies``), and edits and
deletions of messages older than the mark (an edit keeps its ``ts``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from core.envelopes import Event
from core.pagination import CursorPaginator, PageRequest
from core.poll import PollStream

from .._normalize import epoch
from .._poll_events import event_type, poll_event, required_text
from ._settings import SlackSettings

__all__ = ["history_stream", "polls"]

_MICRO = Decimal("0.000001")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ts(value: Any) -> Decimal | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = Decimal(value)
    except InvalidOperation:
        return None
    return parsed if parsed.is_finite() else None


def _advance(mark: Any, records: Sequence[Any], _request: PageRequest) -> Any:
    best, best_text = _ts(mark), mark
    for record in records:
        text = record.get("ts") if isinstance(record, Mapping) else None
        value = _ts(text)
        if value is not None and (best is None or value > best):
            best, best_text = value, text
    return best_text


def _first(lookback_s: float) -> Callable[[Any, datetime | None], Mapping[str, Any]]:
    def first(mark: Any, backfill: datetime | None) -> Mapping[str, Any]:
        at = _ts(mark)
        if at is not None:
            oldest = max(at - Decimal(str(lookback_s)), Decimal(0))
            return {"oldest": str(oldest.quantize(_MICRO))}
        if backfill is not None:
            # from that instant on, included: one microsecond before it, exclusive
            micros = (backfill - _EPOCH) // timedelta(microseconds=1) - 1
            return {"oldest": str((Decimal(micros) * _MICRO).quantize(_MICRO))}
        return {}

    return first


def _to_events(channel: str) -> Callable[[Any], Sequence[Event]]:
    def to_events(message: Any) -> Sequence[Event]:
        ts = required_text(message, "ts")
        subtype = message.get("subtype")
        kind = event_type("message", subtype) if subtype else "message"
        return [
            poll_event(
                "slack",
                event_id=f"{channel}:{ts}",
                event_type=kind,
                subject=channel,
                time=epoch(ts),
                data=message,
            )
        ]

    return to_events


def history_stream(
    channel: str, *, lookback_s: float = 0.0, limit: int = 200, interval_s: float = 60.0
) -> PollStream:
    """The ``history:<channel>`` stream (see the module docstring)."""
    return PollStream(
        name=f"history:{channel}",
        path="/conversations.history",
        params={"channel": channel},
        paginator=lambda: CursorPaginator(
            cursor_param="cursor",
            cursor_path="response_metadata.next_cursor",
            has_more_path="has_more",
            limit=limit,
            records_path="messages",
        ),
        to_events=_to_events(channel),
        first=_first(lookback_s),
        advance=_advance,
        interval_s=interval_s,
        description=f"messages of Slack channel {channel} (conversations.history)",
    )


def polls(settings: SlackSettings) -> list[PollStream]:
    """One history stream per channel in ``settings.poll_channels``."""
    return [
        history_stream(channel, lookback_s=settings.poll_lookback_s)
        for channel in dict.fromkeys(settings.poll_channels)
    ]
