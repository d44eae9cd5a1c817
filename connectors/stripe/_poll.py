"""Stripe's catch-up feed: ``GET /v1/events`` polled into ``stripe.ingest``.

A webhook endpoint that was down, or a delivery Stripe gave up on, leaves a
hole; ``/v1/events`` lists every event of the last 30 days as the very
objects the webhooks carry. Each polled event becomes the Event its webhook
would have produced (:func:`~connectors.stripe._webhook.event_from_object`:
same id, type, subject and time; ``delivery="poll"``), so dedup merges a
webhook and its poll into one event.

Stripe lists newest first and pages both ways, and a run uses both:

- **first run** (no mark): from the newest event backwards, ``starting_after``
  = the last id of each page while ``has_more``; ``created[gte]`` = the
  backfill date when one is given. The mark is the newest event (the first
  record of the first page), kept for the rest of the run: events created
  while the run pages backwards are newer than it, so the next run gets them.
- **later runs**: ``ending_before=<mark>``. Stripe answers the ``limit``
  events just newer than the mark -- still newest first -- with ``has_more``
  when even newer ones exist; the run pages on with ``ending_before`` = the
  page's first (newest) id, and the mark follows each page's first record.
  Each page starts right above the newest event already read, so nothing
  created between two runs or two pages is skipped, however many pages of
  new events there are. Within a page events come newest first; pages come
  oldest first.

:class:`EventsPaginator` picks the direction from the request it continues
(``advance`` tells them apart the same way); the page token is the pair of
cursors, so a list that hands back a cursor it already gave stops the run
with :class:`~core.pagination.PaginationError`. Stripe keeps events for 30
days: a mark older than that is answered 400 ``resource_missing`` and the
stream stops until its cursor is reset (``switchboard offsets``).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from datetime import datetime
from typing import Any

from core.connector import MalformedPayload
from core.envelopes import Event, utcnow
from core.errors import InvalidBodyError
from core.pagination import CursorPaginator, PageRequest, PageResponse, Paginator
from core.poll import PollStream

from ._settings import StripeSettings
from ._webhook import event_from_object

__all__ = ["EVENTS", "EventsPaginator", "polls"]

LIMIT = 100  # Stripe's largest page


class EventsPaginator(Paginator):
    """A newest-first Stripe list paged backwards (``starting_after`` = last
    id) or, when the request carries ``ending_before``, forwards
    (``ending_before`` = first id); both while ``has_more``."""

    def __init__(self, limit: int = LIMIT) -> None:
        super().__init__("data")
        common: dict[str, Any] = {"cursor_path": None, "has_more_path": "has_more", "limit": limit}
        self._older = CursorPaginator(
            cursor_param="starting_after", last_record_field="id", **common
        )
        self._newer = CursorPaginator(
            cursor_param="ending_before", first_record_field="id", **common
        )

    def first(self) -> PageRequest:
        return self._older.first()

    def next(
        self, request: PageRequest, response: PageResponse, records: list[Any]
    ) -> PageRequest | None:
        way = self._newer if "ending_before" in request.params else self._older
        return way.next(request, response, records)

    def token(self, request: PageRequest) -> Hashable:
        return (request.params.get("starting_after"), request.params.get("ending_before"))


def _first(mark: Any, backfill: datetime | None) -> Mapping[str, Any]:
    if mark is not None:
        return {"ending_before": str(mark)}
    if backfill is not None:
        return {"created[gte]": int(backfill.timestamp())}
    return {}


def _advance(mark: Any, records: Sequence[Any], request: PageRequest) -> Any:
    """The newest event id read: every forward page's first record, and the
    first record of a backward run's first page (later backward pages are older)."""
    if not records or not isinstance(records[0], Mapping):
        return mark
    forward = "ending_before" in request.params
    if forward or "starting_after" not in request.params:
        return records[0].get("id") or mark
    return mark


def _to_events(record: Any) -> Sequence[Event]:
    if not isinstance(record, dict):
        raise InvalidBodyError("stripe: a listed event is not an object")
    try:
        return [event_from_object(record, {}, utcnow(), delivery="poll")]
    except MalformedPayload as exc:
        raise InvalidBodyError(f"stripe: listed event: {exc}") from None


EVENTS = PollStream(
    name="events",
    path="/v1/events",
    paginator=EventsPaginator,
    to_events=_to_events,
    first=_first,
    advance=_advance,
    interval_s=60.0,
    description="Stripe events of the last 30 days (the webhooks' catch-up feed)",
)


def polls(settings: StripeSettings) -> list[PollStream]:
    """``events`` when an API key is set (polling needs one), else none."""
    if settings.api_key is None or not settings.api_key.get_secret_value():
        return []
    return [EVENTS]
