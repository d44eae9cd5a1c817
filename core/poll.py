"""Poll streams: a provider's paginated list turned into Events, page by page.

A connector declares each list it can poll as a :class:`PollStream`: the
endpoint, the paginator (:mod:`core.pagination`), how a record becomes
Events (the same ids its webhooks carry, where the provider has one), and
an incremental *mark* -- the high-water position a finished run reached
(e.g. the newest event id, or the newest ``updated_at``).

A stream's persisted position is a :class:`Cursor`:

- ``mark``: where the last finished run ended; the next run starts there
  (``stream.first(mark, backfill)`` gives its first request's parameters,
  minus any lookback the stream applies);
- ``next`` / ``run_mark``: inside an unfinished run, the request of the page
  to fetch next and the mark reached so far, so a run interrupted between
  two pages resumes at the page after the last one acknowledged -- never
  before it (no page is skipped), and at most that one page is fetched again
  (when the crash came between producing a page and saving its cursor);
  ``next.url`` is relative or on the stream's own origin, or no run starts
  from it (:func:`check_cursor`: a cursor must not carry the credential
  elsewhere);
- ``etag``: the validator of the last run's first page; a stream with
  ``conditional=True`` sends it as ``If-None-Match`` and a ``304`` means
  nothing changed (some providers do not charge their rate limit for those).

:func:`poll_run` drives one run and yields a :class:`PolledPage` per page with
the Cursor to persist *after* the page's events are acknowledged: the
caller (``streams.poll``) owns Kafka, scheduling and storage. Pagination
errors (a provider handing back a page token it already gave, the page cap)
are :class:`~core.pagination.PaginationError`, raised after the last good
page: the stream stops with an error instead of looping.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import orjson

from core.envelopes import Event
from core.pagination import (
    DEFAULT_MAX_PAGES,
    PageRequest,
    PageResponse,
    PaginationError,
    Paginator,
    check_origin,
    paginate,
)

__all__ = [
    "Advance",
    "Cursor",
    "PaginationError",
    "PollStream",
    "PolledPage",
    "check_cursor",
    "keep_mark",
    "max_mark",
    "poll_run",
]


def keep_mark(mark: Any, _records: Sequence[Any], _request: PageRequest) -> Any:
    """A stream without an incremental position (every run reads everything)."""
    return mark


Advance = Callable[[Any, Sequence[Any], PageRequest], Any]


def max_mark(field_name: str) -> Advance:
    """``advance`` keeping the largest ``record[field_name]`` seen (ISO times, ints)."""

    def advance(mark: Any, records: Sequence[Any], _request: PageRequest) -> Any:
        values: list[Any] = [r.get(field_name) for r in records if isinstance(r, Mapping)]
        present = [v for v in values if v is not None]
        if not present:
            return mark
        best = max(present)
        return best if mark is None or best > mark else mark

    return advance


@dataclass(frozen=True)
class Cursor:
    """A stream's persisted position (see the module docstring). JSON-able."""

    mark: Any = None
    next: PageRequest | None = None
    run_mark: Any = None
    etag: str | None = None

    @property
    def in_run(self) -> bool:
        """True while a run was interrupted: the next poll resumes at ``next``."""
        return self.next is not None

    def to_obj(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mark": self.mark}
        if self.next is not None:
            out["next"] = {
                "url": self.next.url,
                "params": dict(self.next.params),
                "variables": dict(self.next.variables),
            }
            out["run_mark"] = self.run_mark
        if self.etag is not None:
            out["etag"] = self.etag
        return out

    @classmethod
    def from_obj(cls, obj: Any) -> Cursor:
        """Parse :meth:`to_obj` output; raises ValueError naming what is wrong."""
        if obj is None:
            return cls()
        if not isinstance(obj, Mapping):
            raise ValueError("a cursor is a JSON object with 'mark' (and 'next', 'etag')")
        unknown = set(obj) - {"mark", "next", "run_mark", "etag"}
        if unknown:
            raise ValueError(f"unknown cursor field(s): {', '.join(sorted(unknown))}")
        nxt = obj.get("next")
        request = None
        if nxt is not None:
            if not isinstance(nxt, Mapping) or not set(nxt) <= {"url", "params", "variables"}:
                raise ValueError("cursor 'next' is an object with url, params, variables")
            params, variables = nxt.get("params") or {}, nxt.get("variables") or {}
            if not isinstance(params, Mapping) or not isinstance(variables, Mapping):
                raise ValueError("cursor 'next.params' and 'next.variables' are objects")
            url = nxt.get("url")
            if url is not None and not isinstance(url, str):
                raise ValueError("cursor 'next.url' is a string")
            request = PageRequest(url=url, params=dict(params), variables=dict(variables))
        etag = obj.get("etag")
        if etag is not None and not isinstance(etag, str):
            raise ValueError("cursor 'etag' is a string")
        return cls(
            mark=obj.get("mark"),
            next=request,
            run_mark=obj.get("run_mark") if request is not None else None,
            etag=etag,
        )

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_obj())

    @classmethod
    def from_json(cls, raw: bytes | str) -> Cursor:
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise ValueError("cursor is not JSON") from None
        return cls.from_obj(obj)


def _no_start(_mark: Any, _backfill: datetime | None) -> Mapping[str, Any]:
    return {}


@dataclass(frozen=True)
class PollStream:
    """One pollable list of a connector (see the module docstring).

    - ``name``: unique within the connector (``events``, ``issues:octo/hello``);
      the stream's id is ``<connector>.<name>``;
    - ``path``: relative to the connector's base URL (or absolute);
      ``params``: sent on every first request; ``graphql``: a document
      (then the request is a POST and ``first`` gives variables);
    - ``paginator()``: a fresh :class:`~core.pagination.Paginator` per run;
    - ``to_events(record)``: the Events of one record (usually one;
      ``delivery="poll"``); may return none for a record to skip;
    - ``first(mark, backfill)``: extra parameters of a run's first request
      (``{"ending_before": mark}``, ``{"since": mark - lookback}``);
      ``backfill`` is the date to start from when there is no mark yet
      (None: from the beginning);
    - ``advance(mark, records, request)``: the mark after a page fetched
      with ``request`` (default: unchanged);
    - ``stop_at(mark, backfill, record)``: for a newest-first list the
      provider cannot filter (e.g. a repository's events): True for the first
      record the run must not emit -- one the last run's ``mark`` covers, or
      on a first run one older than ``backfill``; that record and the rest of
      its page are dropped and the run ends on that page (None: never);
    - ``conditional``: send the previous first page's ETag as If-None-Match;
    - ``interval_s``: how often to poll by default (settings override it).
    """

    name: str
    path: str
    paginator: Callable[[], Paginator]
    to_events: Callable[[Any], Sequence[Event]]
    first: Callable[[Any, datetime | None], Mapping[str, Any]] = _no_start
    advance: Advance = keep_mark
    stop_at: Callable[[Any, datetime | None, Any], bool] | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    method: str = "GET"
    graphql: str | None = None
    conditional: bool = False
    interval_s: float = 60.0
    description: str = ""

    def origin(self, base_url: str) -> str:
        """The URL whose origin this stream's requests go to: ``path`` if it
        is absolute, else the connector's ``base_url``."""
        parts = urlsplit(self.path)
        return self.path if parts.scheme or parts.netloc else base_url

    def start_request(self, mark: Any, backfill: datetime | None) -> PageRequest:
        """The first request of a run starting at ``mark``."""
        base = self.paginator().first()
        extra = dict(self.first(mark, backfill))
        if self.graphql is not None:
            return replace(base, variables={**base.variables, **extra})
        return replace(base, params={**base.params, **extra})


@dataclass(frozen=True)
class PolledPage:
    """One page of a run: its ``events``, and the ``cursor`` to save once
    they are acknowledged. ``records``: how many of the page's records the
    run kept (all but those cut by ``stop_at``). ``not_modified``: the
    provider answered 304."""

    number: int
    records: int
    events: list[Event]
    cursor: Cursor
    not_modified: bool = False


#: what a person does about a refused cursor (the poller's error names it)
_CURSOR_FIX = (
    "; give the stream a cursor without it: `switchboard offsets set <stream> --mark ...` "
    "or `switchboard offsets reset <stream>`"
)


def check_cursor(stream: PollStream, base_url: str, cursor: Cursor) -> None:
    """Refuse a cursor that would resume at an absolute URL on another origin.

    A cursor is data anyone with write access to the cursors topic can
    change; a run resumed at its ``next.url`` carries the connector's
    credential. A relative ``next.url`` (no scheme, no host) is resolved
    against ``base_url`` and passes; an absolute or scheme-relative one must
    have :meth:`PollStream.origin`'s origin -- the same check
    (:func:`core.pagination.check_origin`) every followed next link gets.
    Raises a non-retryable :class:`PaginationError` naming the fix.
    """
    url = cursor.next.url if cursor.next is not None else None
    if url is None:
        return
    parts = urlsplit(url)
    if parts.scheme or parts.netloc:
        check_origin(url, stream.origin(base_url), what="the cursor's next.url", fix=_CURSOR_FIX)


class _NotModified(Exception):
    pass


def _fetcher(
    stream: PollStream, client: Any, if_none_match: str | None, etags: list[str | None]
) -> Callable[[PageRequest], Any]:
    first = True

    async def fetch(request: PageRequest) -> PageResponse:
        nonlocal first
        headers = dict(stream.headers)
        if first and if_none_match:
            headers["If-None-Match"] = if_none_match
        was_first, first = first, False
        if stream.graphql is not None:
            body = {"query": stream.graphql, "variables": dict(request.variables)}
            response = await client.request(
                "POST", request.url or stream.path, json=body, headers=headers, idempotent=True
            )
            data = response.data.get("data") if isinstance(response.data, Mapping) else None
            if isinstance(response.data, Mapping) and response.data.get("errors"):
                raise PaginationError(
                    f"GraphQL errors on {stream.name}: {response.data['errors']!r:.300}",
                    retryable=True,
                )
        else:
            if request.url is None:
                target, query = stream.path, {**stream.params, **request.params}
            else:
                target, query = request.url, dict(request.params)
            response = await client.request(
                stream.method, target, params=query or None, headers=headers or None
            )
            data = response.data
        if response.status == 304:
            raise _NotModified
        if was_first:
            etags.append(response.headers.get("etag"))
        return PageResponse(data, response.headers, str(response.raw.url))

    return fetch


async def poll_run(
    stream: PollStream,
    client: Any,
    cursor: Cursor,
    *,
    backfill: datetime | None = None,
    max_pages: int = DEFAULT_MAX_PAGES,
) -> AsyncIterator[PolledPage]:
    """Run ``stream`` once from ``cursor`` through ``client`` (a ProviderClient).

    Resumes an interrupted run at ``cursor.next``; otherwise starts at
    ``stream.start_request(cursor.mark, backfill)``. Each yielded page's
    ``cursor`` is the position after it; the last page's has no ``next``.
    Client errors (rate limits, outages) propagate: the caller keeps the
    last saved cursor and tries again later. A cursor resuming on another
    origin than the client's base URL is refused before anything is sent
    (:func:`check_cursor`).
    """
    check_cursor(stream, client.policy.base_url, cursor)
    resuming = cursor.in_run
    start = cursor.next if resuming else stream.start_request(cursor.mark, backfill)
    run_mark = cursor.run_mark if resuming else cursor.mark
    conditional = stream.conditional and not resuming and cursor.etag is not None
    etags: list[str | None] = []
    fetch = _fetcher(stream, client, cursor.etag if conditional else None, etags)
    etag = cursor.etag
    try:
        async for page in paginate(fetch, stream.paginator(), start=start, max_pages=max_pages):
            records, last = _until(stream, cursor.mark, backfill, page.records)
            events = [event for record in records for event in stream.to_events(record)]
            run_mark = stream.advance(run_mark, records, page.request)
            if page.number == 1 and not resuming and stream.conditional:
                etag = etags[0] if etags else None
            if page.next is None or last:
                after = Cursor(mark=run_mark, etag=etag)
            else:
                after = Cursor(mark=cursor.mark, next=page.next, run_mark=run_mark, etag=etag)
            yield PolledPage(page.number, len(records), events, after)
            if last:
                return
    except _NotModified:
        yield PolledPage(1, 0, [], cursor, not_modified=True)


def _until(
    stream: PollStream, mark: Any, backfill: datetime | None, records: list[Any]
) -> tuple[list[Any], bool]:
    """The records before the first one ``stream.stop_at`` refuses, and
    whether one was refused (then this page ends the run)."""
    if stream.stop_at is None:
        return records, False
    for i, record in enumerate(records):
        if stream.stop_at(mark, backfill, record):
            return records[:i], True
    return records, False
