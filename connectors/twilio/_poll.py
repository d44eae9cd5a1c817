"""Twilio poll stream ``messages``: the account's Message list.

::

    GET /2010-04-01/Accounts/{AccountSid}/Messages.json?PageSize=100&DateSent>=YYYY-MM-DD

Twilio lists messages newest first, ``PageSize`` at a time, and puts the
next page's address in the body as ``next_page_uri``: a URI relative to the
API origin that carries the filters and a ``PageToken``
(:class:`~core.pagination.NextUrlPaginator`, which resolves it against the
page it came in and refuses another origin). A next URI handed back twice
is a PaginationError, never a loop.

Incremental position: the mark is the newest ``date_created`` seen, as UTC
ISO text (Twilio writes RFC 2822: ``Thu, 24 Aug 2023 05:01:45 +0000``).
Twilio's only time filter is ``DateSent`` and it works *by day*
(``DateSent>=2023-08-24``: sent on or after that UTC date), so a run asks
for the UTC day of ``mark - poll_lookback_s`` and reads that whole day
again: what it re-reads carries the same ids and deduplication drops it.
The cost is one day's messages per run at most; nothing finer exists in
the API. A message not sent yet has no ``date_sent`` and may be left out of
a ``DateSent`` filter until it is sent (the lookback covers a short delay).

Events: id = the message ``sid``, type = ``twilio.message.<status>``,
subject = the ``sid`` (as the webhook normalization does, so a message's
polled and webhook events share a key on ``twilio.events``), time =
``date_created``, data = the message as listed. A message is reported once,
in the status it had when first polled: later status changes are what the
status callbacks deliver. The webhook ids (``I-Twilio-Idempotency-Token``)
differ from the sid, so a message seen both ways is two events.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from core.envelopes import Event
from core.pagination import NextUrlPaginator
from core.poll import PollStream

from .._poll_events import (
    event_type,
    max_time_mark,
    parse_time,
    poll_event,
    required_text,
)
from ._settings import TwilioSettings

__all__ = ["messages_stream", "polls"]


def _first(lookback_s: float) -> Callable[[Any, datetime | None], Mapping[str, Any]]:
    def first(mark: Any, backfill: datetime | None) -> Mapping[str, Any]:
        at = parse_time(mark)
        since = at - timedelta(seconds=lookback_s) if at is not None else backfill
        if since is None:
            return {}
        return {"DateSent>": since.astimezone(UTC).date().isoformat()}

    return first


def _to_events(message: Any) -> Sequence[Event]:
    sid = required_text(message, "sid")
    return [
        poll_event(
            "twilio",
            event_id=sid,
            event_type=event_type("message", required_text(message, "status")),
            subject=sid,
            time=parse_time(message.get("date_created")),
            data=message,
        )
    ]


def messages_stream(
    account_sid: str, *, lookback_s: float = 300.0, page_size: int = 100
) -> PollStream:
    """The ``messages`` stream of one account (see the module docstring)."""
    return PollStream(
        name="messages",
        path=f"/2010-04-01/Accounts/{account_sid}/Messages.json",
        params={"PageSize": page_size},
        paginator=lambda: NextUrlPaginator(next_path="next_page_uri", records_path="messages"),
        to_events=_to_events,
        first=_first(lookback_s),
        advance=max_time_mark("date_created"),
        description="the account's messages (Messages.json, next_page_uri)",
    )


def polls(settings: TwilioSettings) -> list[PollStream]:
    """``messages`` when ``poll_messages`` is on (and the account is set)."""
    if not settings.poll_messages or not settings.account_sid:
        return []
    return [messages_stream(settings.account_sid, lookback_s=settings.poll_lookback_s)]
