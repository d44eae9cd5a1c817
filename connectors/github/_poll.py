"""GitHub poll streams: each configured repository's issues and events.

Two streams per repository in ``poll_repos``, both paged by ``Link`` header
(:class:`~core.pagination.LinkHeaderPaginator`) and both conditional: the
first page's ``ETag`` goes back as ``If-None-Match``, and GitHub answers an
unchanged list with ``304 Not Modified``, which does not count against the
rate limit -- so polling a quiet repository every minute costs nothing.

``issues:<owner>/<repo>``::

    GET /repos/{owner}/{repo}/issues?state=all&sort=updated&direction=asc
        &per_page=100&since=<mark - poll_lookback_s>

The mark is the newest ``updated_at`` read. ``since`` is inclusive and
reaches ``poll_lookback_s`` further back, because the list is served from
replicas that can trail a write by a moment and times have whole-second
precision: an issue updated just before the last run may have been
missing from it. What the window re-reads carries the same ids. A first
run reads from the backfill date (``since``), or everything. Each listed
issue (pull requests included: GitHub lists them as issues) is one Event:
id ``issue:<id>:<updated_at>`` (one per version of an issue, so re-reads
merge and a new update is a new event), type ``github.issues.updated``,
subject ``<owner>/<repo>#<number>`` (the webhook's subject, so an issue's
polled and pushed events share a key on ``github.events``), time
``updated_at``. A list cannot tell what changed, so the type cannot be the
webhook's action (``opened``, ``labeled``...), and no id can match a webhook
delivery's ``X-GitHub-Delivery`` GUID: polled issue versions are events
of their own beside the webhooks', not duplicates dedup would merge.
Known gap: an issue updated *while* a run pages moves to the end of the
list, and the issue behind it slides onto the page just read; that one is
missed by this run and, unless it changes again, by later ones.

``events:<owner>/<repo>``::

    GET /repos/{owner}/{repo}/events?per_page=100

Newest first, with no filter GitHub would apply for us, and at most the
last 300 events (``X-Poll-Interval`` says 60 s). The mark is the newest
event id (ids grow; compared as integers). A run reads from the top and
stops at the first event at or below the mark (``PollStream.stop_at``):
that event and everything after it were emitted by an earlier run, and no
further page is fetched. On a first run with a backfill date it stops at
the first event older than that date. id = GitHub's event id, type
``github.<type without "Event", snake_case>[.<payload.action>]`` (e.g.
``github.issue_comment.created``, ``github.push``), subject the issue or
pull request (``owner/repo#n``) or the repository, time ``created_at``.
These ids never match webhook delivery ids either. More than 300 events
between two runs cannot be recovered from this endpoint: poll more often
than the repository produces 300 events.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from core.envelopes import Event
from core.pagination import LinkHeaderPaginator, PageRequest
from core.poll import PollStream

from .._poll_events import (
    event_type,
    max_time_mark,
    parse_time,
    poll_event,
    required_text,
    utc_iso,
)
from ._settings import GitHubSettings

__all__ = ["events_stream", "issues_stream", "polls"]

PER_PAGE = 100
POLL_INTERVAL_S = 60.0  # what GitHub's X-Poll-Interval asks for
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def _since(moment: datetime) -> str:
    return utc_iso(moment.replace(microsecond=0))


def _issues_first(lookback_s: float) -> Callable[[Any, datetime | None], Mapping[str, Any]]:
    def first(mark: Any, backfill: datetime | None) -> Mapping[str, Any]:
        at = parse_time(mark)
        if at is not None:
            return {"since": _since(at - timedelta(seconds=lookback_s))}
        if backfill is not None:
            return {"since": _since(backfill)}
        return {}

    return first


def _issue_events(repo: str) -> Callable[[Any], Sequence[Event]]:
    def to_events(record: Any) -> Sequence[Event]:
        ident = required_text(record, "id", "issue id")
        updated = required_text(record, "updated_at")
        number = required_text(record, "number", "issue number")
        return [
            poll_event(
                "github",
                event_id=f"issue:{ident}:{updated}",
                event_type="issues.updated",
                subject=f"{repo}#{number}",
                time=parse_time(updated),
                data=record,
            )
        ]

    return to_events


def issues_stream(repo: str, lookback_s: float) -> PollStream:
    """``issues:<repo>`` (see the module docstring)."""
    return PollStream(
        name=f"issues:{repo}",
        path=f"/repos/{repo}/issues",
        params={"state": "all", "sort": "updated", "direction": "asc", "per_page": PER_PAGE},
        paginator=LinkHeaderPaginator,
        to_events=_issue_events(repo),
        first=_issues_first(lookback_s),
        advance=max_time_mark("updated_at"),
        conditional=True,
        interval_s=POLL_INTERVAL_S,
        description=f"issues and pull requests of {repo}, by update time",
    )


def _event_id(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _events_stop(mark: Any, backfill: datetime | None, record: Any) -> bool:
    if not isinstance(record, Mapping):
        return False  # to_events refuses it
    if mark is not None:
        ident, newest = _event_id(record.get("id")), _event_id(mark)
        return ident is not None and newest is not None and ident <= newest
    created = parse_time(record.get("created_at"))
    return backfill is not None and created is not None and created < backfill


def _events_advance(mark: Any, records: Sequence[Any], _request: PageRequest) -> Any:
    best, best_text = _event_id(mark), mark
    for record in records:
        ident = _event_id(record.get("id")) if isinstance(record, Mapping) else None
        if ident is not None and (best is None or ident > best):
            best, best_text = ident, str(record["id"])
    return best_text


def _repo_event_type(record: Any) -> str:
    kind = required_text(record, "type", "event type").removesuffix("Event")
    name = _CAMEL.sub("_", kind).lower()
    payload = record.get("payload")
    action = payload.get("action") if isinstance(payload, Mapping) else None
    return event_type(name, action) if isinstance(action, str) and action else event_type(name)


def _repo_event_subject(repo: str, record: Mapping[str, Any]) -> str:
    payload = record.get("payload")
    if isinstance(payload, Mapping):
        for kind in ("issue", "pull_request"):
            item = payload.get(kind)
            if isinstance(item, Mapping) and item.get("number") is not None:
                return f"{repo}#{item['number']}"
    return repo


def _repo_events(repo: str) -> Callable[[Any], Sequence[Event]]:
    def to_events(record: Any) -> Sequence[Event]:
        return [
            poll_event(
                "github",
                event_id=required_text(record, "id", "event id"),
                event_type=_repo_event_type(record),
                subject=_repo_event_subject(repo, record),
                time=parse_time(record.get("created_at")),
                data=record,
            )
        ]

    return to_events


def events_stream(repo: str) -> PollStream:
    """``events:<repo>`` (see the module docstring)."""
    return PollStream(
        name=f"events:{repo}",
        path=f"/repos/{repo}/events",
        params={"per_page": PER_PAGE},
        paginator=LinkHeaderPaginator,
        to_events=_repo_events(repo),
        advance=_events_advance,
        stop_at=_events_stop,
        conditional=True,
        interval_s=POLL_INTERVAL_S,
        description=f"public events of {repo} (GitHub keeps the last 300)",
    )


def polls(settings: GitHubSettings) -> list[PollStream]:
    """Both streams of every repository in ``poll_repos`` (none without a token)."""
    if settings.token is None or not settings.token.get_secret_value():
        return []
    streams: list[PollStream] = []
    for repo in settings.poll_repos:
        streams += [issues_stream(repo, settings.poll_lookback_s), events_stream(repo)]
    return streams
