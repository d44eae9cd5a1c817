"""Generic poll streams, declared in settings: one :class:`GenericPoll` per list.

A definition (``generic.polls`` in the YAML file, or
``SWITCHBOARD_GENERIC__POLLS`` as a JSON list)::

    polls:
      - name: changes                      # stream id generic.changes
        path: /v1/events                   # relative to base_url (or absolute)
        params: {limit: 100}               # sent on every run's first request
        paginator: {kind: cursor, cursor_path: next_cursor, has_more_path: has_more}
        records_path: data                 # "" when the body is the list
        id_field: id                       # or [id, updated_at] -> "<id>:<updated_at>"
        type: change                       # generic.change (default: the name)
        type_field: kind                   # generic.change.<kind>
        subject_field: subject
        time_field: updated_at
        incremental: {param: since, field: updated_at, lookback_s: 60}
        interval_s: 30

``paginator.kind`` picks a core strategy (:mod:`core.pagination`) and its
options: ``cursor`` (``cursor_param``, ``cursor_path`` *or*
``last_record_field``, ``has_more_path``, ``limit_param``, ``limit``),
``link`` (``rel``), ``next_url`` (``next_path``), ``offset``
(``offset_param``, ``limit_param``, ``limit``, ``total_path``,
``has_more_path``), ``page`` (``page_param``, ``size_param``, ``size``,
``start``, ``total_pages_path``, ``next_page_path``). Every model forbids
unknown fields, so a misspelt option fails validation with its path
(``polls.0.paginator.cursor.curser_param: Extra inputs are not permitted``).

``incremental``: the run's first request sets ``param`` from the mark, the
largest ``field`` value seen, compared by meaning: ``kind="time"`` reads
ISO 8601 text as instants, ``unix_time`` numbers, ``value`` takes ids as
they are (numbers as numbers, text as text, so text ids must sort, e.g.
zero-padded). With ``lookback_s`` (times only) the run starts that much
earlier and re-reads the window; what it re-reads has the same ids. With
no mark yet, the poll settings' backfill date is sent (ISO text or Unix
seconds; never for ``value``). Without ``incremental`` every run reads
everything and deduplication drops what was seen.

Records become Events: id from ``id_field`` (missing: InvalidBodyError, the
run stops at that page), type ``generic.<type or name>[.<type_field value>]``
(dots kept as separators, other characters made safe),
subject and time from their fields when given, data = the record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any, ClassVar, Literal, Protocol, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.envelopes import Event
from core.errors import InvalidBodyError
from core.pagination import (
    CursorPaginator,
    LinkHeaderPaginator,
    NextUrlPaginator,
    OffsetPaginator,
    PageNumberPaginator,
    PageRequest,
    Paginator,
    dig,
)
from core.poll import PollStream, keep_mark

from .._poll_events import event_type, parse_time, poll_event, required_text, utc_iso

__all__ = ["GenericPoll", "Incremental", "PaginatorSpec", "polls"]

_NAME = r"^[a-z0-9][a-z0-9_-]*$"
Scalar = str | int | float | bool


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Spec(_Strict):
    """A paginator's options: every field but ``kind`` is a keyword argument
    of its core strategy, so the declaration and the strategy cannot drift."""

    strategy: ClassVar[Callable[..., Paginator]]

    def build(self, records_path: str) -> Paginator:
        return self.strategy(**self.model_dump(exclude={"kind"}), records_path=records_path)


class CursorSpec(_Spec):
    """A cursor from the body (``cursor_path``) or the last record
    (``last_record_field``), sent back as ``cursor_param``."""

    strategy = CursorPaginator
    kind: Literal["cursor"]
    cursor_param: str = "cursor"
    cursor_path: str | None = Field(default=None, description="default: next_cursor")
    last_record_field: str | None = None
    has_more_path: str | None = None
    limit_param: str | None = "limit"
    limit: int = Field(default=100, ge=1)

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if self.cursor_path is not None and self.last_record_field is not None:
            raise ValueError("set cursor_path or last_record_field, not both")
        if self.cursor_path is None and self.last_record_field is None:
            self.cursor_path = "next_cursor"
        return self


class LinkSpec(_Spec):
    """``Link: <url>; rel="next"``."""

    strategy = LinkHeaderPaginator
    kind: Literal["link"]
    rel: str = "next"


class NextUrlSpec(_Spec):
    """The next page's URL in the body (absolute or relative)."""

    strategy = NextUrlPaginator
    kind: Literal["next_url"]
    next_path: str = "next_page_uri"


class OffsetSpec(_Spec):
    """``?offset=N&limit=M``."""

    strategy = OffsetPaginator
    kind: Literal["offset"]
    offset_param: str = "offset"
    limit_param: str = "limit"
    limit: int = Field(default=100, ge=1)
    total_path: str | None = None
    has_more_path: str | None = None


class PageSpec(_Spec):
    """``?page=N&per_page=M``."""

    strategy = PageNumberPaginator
    kind: Literal["page"]
    page_param: str = "page"
    size_param: str | None = "per_page"
    size: int = Field(default=100, ge=1)
    start: int = Field(default=1, ge=0)
    total_pages_path: str | None = None
    next_page_path: str | None = None


PaginatorSpec = Annotated[
    CursorSpec | LinkSpec | NextUrlSpec | OffsetSpec | PageSpec, Field(discriminator="kind")
]


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class Incremental(_Strict):
    """The request parameter a run starts from (see the module docstring)."""

    param: str = Field(min_length=1, description="request parameter set from the mark")
    field: str = Field(min_length=1, description="record field whose largest value is the mark")
    kind: Literal["time", "unix_time", "value"] = Field(
        default="time", description="time: ISO 8601 text; unix_time: seconds; value: ids"
    )
    lookback_s: float = Field(default=0, ge=0, description="times only")

    @model_validator(mode="after")
    def _lookback_for_times(self) -> Self:
        if self.lookback_s and self.kind == "value":
            raise ValueError("lookback_s needs kind time or unix_time")
        return self

    def order(self, value: Any) -> Any:
        """What a value is compared by; None for one that cannot be read."""
        if self.kind == "time":
            return parse_time(value)
        if self.kind == "unix_time":
            return _number(value)
        return (
            value if isinstance(value, str | int | float) and not isinstance(value, bool) else None
        )

    def start(self, mark: Any, backfill: datetime | None) -> Any:
        """The parameter's value for a run from ``mark`` (None: leave it out)."""
        if mark is None:
            if backfill is None or self.kind == "value":
                return None
            return utc_iso(backfill) if self.kind == "time" else int(backfill.timestamp())
        if not self.lookback_s or self.kind == "value":
            return mark
        if self.kind == "unix_time":
            number = _number(mark)
            return mark if number is None else number - self.lookback_s
        moment = parse_time(mark)
        return mark if moment is None else utc_iso(moment - timedelta(seconds=self.lookback_s))

    def advance(self, mark: Any, records: Sequence[Any], _request: PageRequest) -> Any:
        best, best_key = mark, self.order(mark)
        for record in records:
            value = dig(record, self.field)
            key = self.order(value)
            if key is None:
                continue
            try:
                later = best_key is None or key > best_key
            except TypeError:  # an id that is a number on one record, text on another
                raise InvalidBodyError(
                    f"incremental field {self.field!r}: {value!r} cannot be compared with the mark"
                ) from None
            if later:
                best, best_key = value, key
        return best


class GenericPoll(_Strict):
    """One declared poll stream (see the module docstring)."""

    name: str = Field(pattern=_NAME, description="stream id generic.<name>")
    path: str = Field(min_length=1, description="relative to base_url, or absolute")
    params: dict[str, Scalar] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    paginator: PaginatorSpec
    records_path: str | None = Field(
        default=None, description="dotted path to the records; '' = the body; default data"
    )
    id_field: str | list[str] = Field(description="dotted path(s); several are joined by ':'")
    type: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+$")
    type_field: str | None = None
    subject_field: str | None = None
    time_field: str | None = None
    incremental: Incremental | None = None
    interval_s: float = Field(default=60, gt=0)
    description: str = ""

    @model_validator(mode="after")
    def _ids(self) -> Self:
        if isinstance(self.id_field, list) and not self.id_field:
            raise ValueError("id_field: name at least one field")
        return self

    def stream(self) -> PollStream:
        records_path = self.records_path
        if records_path is None:
            records_path = "" if self.paginator.kind == "link" else "data"
        spec, incremental = self.paginator, self.incremental

        def first(mark: Any, backfill: datetime | None) -> Mapping[str, Any]:
            value = None if incremental is None else incremental.start(mark, backfill)
            return {} if value is None or incremental is None else {incremental.param: value}

        return PollStream(
            name=self.name,
            path=self.path,
            params=dict(self.params),
            headers=dict(self.headers),
            paginator=lambda: spec.build(records_path),
            to_events=self.to_events,
            first=first,
            advance=incremental.advance if incremental is not None else keep_mark,
            interval_s=self.interval_s,
            description=self.description or f"{self.path} ({spec.kind} pagination)",
        )

    def to_events(self, record: Any) -> Sequence[Event]:
        fields = self.id_field if isinstance(self.id_field, list) else [self.id_field]
        event_id = ":".join(required_text(record, f, f"id_field {f}") for f in fields)
        parts: list[Any] = (self.type or self.name).split(".")
        if self.type_field is not None:
            value = required_text(record, self.type_field, f"type_field {self.type_field}")
            parts.extend(value.split("."))
        subject = dig(record, self.subject_field) if self.subject_field else None
        return [
            poll_event(
                "generic",
                event_id=event_id,
                event_type=event_type(*parts),
                subject=str(subject) if subject not in (None, "") else None,
                time=parse_time(dig(record, self.time_field)) if self.time_field else None,
                data=record,
            )
        ]


class _DeclaresPolls(Protocol):
    """What :func:`polls` reads of the settings (``GenericSettings``, which
    imports this module for :class:`GenericPoll`)."""

    @property
    def polls(self) -> Sequence[GenericPoll]: ...


def polls(settings: _DeclaresPolls) -> list[PollStream]:
    """The streams declared in ``settings.polls``."""
    return [poll.stream() for poll in settings.polls]
