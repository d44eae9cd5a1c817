"""GitHub's ``issues:<repo>`` and ``events:<repo>`` poll streams against the
GitHub sandbox over real sockets, through the connector's own
ProviderClient (no Kafka needed): every record once and in order, later
runs, resume, backfill, a repeated page link, and conditional polls that
cost no rate limit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest

import connectors
from connectors.github import GitHubSettings
from connectors.github._sandbox import GitHubSandbox
from connectors.github._webhook import normalize
from core.client import ProviderClient
from core.poll import Cursor, PaginationError, PolledPage, PollStream, poll_run
from core.ratelimit import BudgetRegistry
from tests.fakeclock import FakeClock

REPO = "octo/demo"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def z(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class GitHub:
    sb: GitHubSandbox
    client: ProviderClient
    issues: PollStream
    events: PollStream
    clock: FakeClock

    async def run(self, stream: PollStream, cursor: Cursor, **kw: Any) -> list[PolledPage]:
        return [page async for page in poll_run(stream, self.client, cursor, **kw)]

    async def check_resumes(self, stream: PollStream, full: list[PolledPage]) -> None:
        """Resuming from page k's cursor reads exactly pages k+1.. of ``full``."""
        for k in range(1, len(full)):
            resumed = await self.run(stream, full[k - 1].cursor)
            assert [[e.id for e in p.events] for p in resumed] == [
                [e.id for e in p.events] for p in full[k:]
            ]
            assert resumed[-1].cursor == full[-1].cursor

    async def run_into(self, stream: PollStream, pages: list[PolledPage]) -> None:
        """A first run whose pages land in ``pages`` even when it raises."""
        async for page in poll_run(stream, self.client, Cursor()):
            pages.append(page)


@pytest.fixture
async def gh() -> AsyncIterator[GitHub]:
    connector = connectors.get("github")
    clock = FakeClock(T0.timestamp())
    async with GitHubSandbox(wall_clock=clock) as sb:
        section = GitHubSettings(
            token="ghp_sandbox", base_url=sb.url, rate=1000, poll_repos=[REPO], poll_lookback_s=60
        )
        assert connector.polls is not None
        assert connector.api is not None
        issues, events = connector.polls(section)
        async with connector.api(section).client(budgets=BudgetRegistry()) as client:
            yield GitHub(sb, client, issues, events, clock)


def ids(pages: list[PolledPage]) -> list[str]:
    return [event.id for page in pages for event in page.events]


def issue_ids(issues: list[dict[str, Any]]) -> list[str]:
    return [f"issue:{i['id']}:{i['updated_at']}" for i in issues]


def test_github_declares_two_streams_per_repository() -> None:
    polls = connectors.get("github").polls
    assert polls is not None
    assert polls(GitHubSettings(poll_repos=[REPO])) == []  # no token, no polls
    streams = polls(GitHubSettings(token="t", poll_repos=["a/b", "c/d"]))
    assert [s.name for s in streams] == ["issues:a/b", "events:a/b", "issues:c/d", "events:c/d"]
    assert all(s.conditional for s in streams)


# --- issues ------------------------------------------------------------------------


async def test_issues_full_run_reads_every_issue_once_by_update_time(gh: GitHub) -> None:
    older = gh.sb.add_issues(REPO, 120, at=T0 - timedelta(hours=2))
    newer = gh.sb.add_issues(REPO, 120, at=T0 - timedelta(hours=1))
    made = await gh.client.post(f"/repos/{REPO}/issues", json={"title": "from a command"})
    gh.clock.now += 60
    number = made.data["number"]
    await gh.client.post(f"/repos/{REPO}/issues/{number}/comments", json={"body": "hi"})
    await gh.client.post(f"/repos/{REPO}/issues/5/labels", json={"labels": ["bug"]})
    touched = [gh.sb.issue(REPO, number), gh.sb.issue(REPO, 5)]

    pages = await gh.run(gh.issues, Cursor())

    expected = [i for i in older if i["number"] != 5] + newer + touched
    assert [p.records for p in pages] == [100, 100, 41]
    assert ids(pages) == issue_ids(expected)
    assert pages[-1].cursor.mark == z(T0 + timedelta(seconds=60))
    assert pages[-1].cursor.next is None
    first = gh.sb.requests_to(f"/repos/{REPO}/issues", "GET")[0]
    assert dict(first.query) == {
        "state": "all",
        "sort": "updated",
        "direction": "asc",
        "per_page": "100",
    }
    event = pages[-1].events[-1]
    assert (event.type, event.subject, event.delivery) == (
        "github.issues.updated",
        f"{REPO}#5",
        "poll",
    )
    assert event.time == T0 + timedelta(seconds=60)
    assert event.data["labels"] == [{"name": "bug"}]
    # The subject is the webhook's for the same issue: one key on github.events.
    body = orjson.dumps(
        {"action": "labeled", "issue": event.data, "repository": {"full_name": REPO}}
    )
    headers = {"X-GitHub-Event": "issues", "X-GitHub-Delivery": "a-guid"}
    (hooked,) = normalize(body, headers, datetime.now(UTC))
    assert (hooked.subject, hooked.time) == (event.subject, event.time)


async def test_issues_later_run_reads_what_changed_and_rereads_only_the_lookback(
    gh: GitHub,
) -> None:
    gh.sb.add_issues(REPO, 150, at=T0 - timedelta(hours=1))
    recent = gh.sb.add_issues(REPO, 10, at=T0)
    first = await gh.run(gh.issues, Cursor())
    assert first[-1].cursor.mark == z(T0)

    later = T0 + timedelta(minutes=10)
    touched = [gh.sb.touch_issue(REPO, n, at=later, state="closed") for n in (3, 70, 155)]
    added = gh.sb.add_issues(REPO, 2, at=later)
    pages = await gh.run(gh.issues, first[-1].cursor)

    (request,) = gh.sb.requests_to(f"/repos/{REPO}/issues", "GET")[-1:]
    assert dict(request.query)["since"] == z(T0 - timedelta(seconds=60))
    rereads = [i for i in recent if i["number"] != 155]  # the lookback window, same ids
    assert ids(pages) == issue_ids(rereads + touched + added)
    assert set(issue_ids(rereads)) <= set(ids(first))
    assert not set(issue_ids(touched + added)) & set(ids(first))
    assert pages[-1].cursor.mark == z(later)


async def test_issues_resume_from_a_mid_run_cursor(gh: GitHub) -> None:
    for hour in range(4):
        gh.sb.add_issues(REPO, 90, at=T0 + timedelta(hours=hour))
    full = await gh.run(gh.issues, Cursor())
    assert len(full) == 4
    await gh.check_resumes(gh.issues, full)


async def test_issues_first_run_starts_at_the_backfill_date(gh: GitHub) -> None:
    gh.sb.add_issues(REPO, 50, at=T0 - timedelta(days=10))
    recent = gh.sb.add_issues(REPO, 120, at=T0 - timedelta(days=1))
    backfill = T0 - timedelta(days=5, microseconds=1)
    pages = await gh.run(gh.issues, Cursor(), backfill=backfill)
    assert ids(pages) == issue_ids(recent)
    first = gh.sb.requests_to(f"/repos/{REPO}/issues", "GET")[0]
    assert dict(first.query)["since"] == z(T0 - timedelta(days=5, seconds=1))


async def test_issues_repeated_next_link_stops_with_an_error(gh: GitHub) -> None:
    gh.sb.add_issues(REPO, 250, at=T0)
    gh.sb.repeat_cursor = True
    pages: list[PolledPage] = []
    with pytest.raises(PaginationError, match="already fetched"):
        await gh.run_into(gh.issues, pages)
    assert [p.records for p in pages] == [100, 100]  # page 2 linked to itself
    assert len(gh.sb.requests_to(f"/repos/{REPO}/issues", "GET")) == 2


# --- repository events ----------------------------------------------------------------


async def test_events_full_run_reads_every_event_newest_first(gh: GitHub) -> None:
    seeded = gh.sb.add_repo_events(REPO, 250, at=T0)
    made = await gh.client.post(f"/repos/{REPO}/issues", json={"title": "t"})
    await gh.client.post(
        f"/repos/{REPO}/issues/{made.data['number']}/comments", json={"body": "hi"}
    )
    stored = gh.sb.events(REPO)
    assert len(stored) == 252

    pages = await gh.run(gh.events, Cursor())

    assert [p.records for p in pages] == [100, 100, 52]
    assert ids(pages) == [e["id"] for e in reversed(stored)]
    assert pages[-1].cursor.mark == stored[-1]["id"]
    by_id = {e.id: e for p in pages for e in p.events}
    assert [by_id[e["id"]].type for e in seeded[:5]] == [
        "github.push",
        "github.watch.started",
        "github.issues.opened",
        "github.issue_comment.created",
        "github.create",
    ]
    assert by_id[seeded[2]["id"]].subject == f"{REPO}#3"
    assert by_id[seeded[0]["id"]].subject == REPO
    assert by_id[seeded[0]["id"]].time == T0
    # A polled IssuesEvent has the type and subject the webhook of that action has.
    opened = by_id[stored[-2]["id"]]
    body = orjson.dumps({**opened.data["payload"], "repository": {"full_name": REPO}})
    headers = {"X-GitHub-Event": "issues", "X-GitHub-Delivery": "a-guid"}
    (hooked,) = normalize(body, headers, datetime.now(UTC))
    assert (hooked.type, hooked.subject) == (opened.type, opened.subject)


async def test_events_later_run_stops_at_the_mark(gh: GitHub) -> None:
    gh.sb.add_repo_events(REPO, 120, at=T0)
    first = await gh.run(gh.events, Cursor())
    news = gh.sb.add_repo_events(REPO, 150, at=T0 + timedelta(minutes=5))
    before = len(gh.sb.requests_to(f"/repos/{REPO}/events"))

    pages = await gh.run(gh.events, first[-1].cursor)

    assert ids(pages) == [e["id"] for e in reversed(news)]
    assert [p.records for p in pages] == [100, 50]  # page 2 ends at the mark
    assert len(gh.sb.requests_to(f"/repos/{REPO}/events")) - before == 2  # no page 3
    assert pages[-1].cursor.mark == news[-1]["id"]
    assert pages[-1].cursor.next is None


async def test_events_resume_from_a_mid_run_cursor(gh: GitHub) -> None:
    gh.sb.add_repo_events(REPO, 30)
    start = (await gh.run(gh.events, Cursor()))[-1].cursor
    gh.sb.add_repo_events(REPO, 250)
    full = await gh.run(gh.events, start)
    assert [p.records for p in full] == [100, 100, 50]
    await gh.check_resumes(gh.events, full)


async def test_events_first_run_backfill_and_the_300_cap(gh: GitHub) -> None:
    gh.sb.add_repo_events(REPO, 100, at=T0 - timedelta(days=3))
    recent = gh.sb.add_repo_events(REPO, 150, at=T0)
    pages = await gh.run(gh.events, Cursor(), backfill=T0 - timedelta(days=1))
    assert ids(pages) == [e["id"] for e in reversed(recent)]
    assert len(gh.sb.requests_to(f"/repos/{REPO}/events")) == 2

    gh.sb.add_repo_events(REPO, 400, at=T0)
    everything = await gh.run(gh.events, Cursor())
    assert len(ids(everything)) == 300  # GitHub keeps no more


async def test_events_repeated_next_link_stops_with_an_error(gh: GitHub) -> None:
    gh.sb.add_repo_events(REPO, 250)
    gh.sb.repeat_cursor = True
    pages: list[PolledPage] = []
    with pytest.raises(PaginationError):
        await gh.run_into(gh.events, pages)
    assert [p.records for p in pages] == [100, 100]


# --- conditional polls ------------------------------------------------------------------


@pytest.mark.parametrize("which", ["issues", "events"])
async def test_an_unchanged_poll_is_a_free_304(gh: GitHub, which: str) -> None:
    stream = gh.issues if which == "issues" else gh.events
    bucket = gh.sb.enforce_rate(1000, burst=1000)
    if which == "issues":
        gh.sb.add_issues(REPO, 20, at=T0)
    else:
        gh.sb.add_repo_events(REPO, 20)
    (first,) = await gh.run(stream, Cursor())
    assert first.cursor.etag is not None
    assert first.cursor.etag.startswith('"')  # a strong validator
    assert bucket.allowed == 1

    for _ in range(3):
        (same,) = await gh.run(stream, first.cursor)
        assert same.not_modified
        assert (same.events, same.cursor) == ([], first.cursor)
    assert (bucket.allowed, bucket.not_modified) == (1, 3)
    conditional = gh.sb.requests[-1]
    assert dict(conditional.headers)["If-None-Match"] == first.cursor.etag
    assert conditional.outcome == "handled"

    if which == "issues":
        gh.sb.touch_issue(REPO, 4, at=T0 + timedelta(minutes=1))
    else:
        gh.sb.add_repo_events(REPO, 1)
    (changed,) = await gh.run(stream, first.cursor)
    assert not changed.not_modified
    assert len(changed.events) >= 1
    assert changed.cursor.etag not in (None, first.cursor.etag)
    assert bucket.allowed == 2


# --- the sandbox's lists -----------------------------------------------------------------


async def test_sandbox_lists_link_headers_filters_and_etags(gh: GitHub) -> None:
    gh.sb.add_issues(REPO, 45, at=T0 - timedelta(hours=1))
    gh.sb.add_issues(REPO, 5, at=T0)
    gh.sb.touch_issue(REPO, 1, state="closed", at=T0)
    gh.sb.add_repo_events(REPO, 3)
    auth = {"Authorization": "Bearer ghp_sandbox"}
    async with httpx.AsyncClient(base_url=gh.sb.url, headers=auth) as http:
        first = await http.get(f"/repos/{REPO}/issues", params={"per_page": 20})
        assert len(first.json()) == 20  # open issues only, newest created first
        assert first.json()[0]["number"] == 50
        links = first.links
        assert links["next"]["url"] == f"{gh.sb.url}/repos/{REPO}/issues?per_page=20&page=2"
        assert links["last"]["url"].endswith("page=3")
        assert "prev" not in links
        middle = await http.get(links["next"]["url"])
        assert set(middle.links) == {"prev", "next", "last", "first"}
        since = await http.get(f"/repos/{REPO}/issues", params={"state": "all", "since": z(T0)})
        assert sorted(i["number"] for i in since.json()) == [1, 46, 47, 48, 49, 50]
        bad = await http.get(f"/repos/{REPO}/issues", params={"since": "yesterday"})
        assert bad.status_code == 422
        events = await http.get(f"/repos/{REPO}/events")
        assert events.headers["X-Poll-Interval"] == "60"
        etag = events.headers["ETag"]
        again = await http.get(f"/repos/{REPO}/events", headers={"If-None-Match": etag})
        assert (again.status_code, again.content) == (304, b"")
        assert again.headers["ETag"] == etag
        unknown = await http.get("/repos/octo/nope/events")
        assert unknown.status_code == 404
        wrong = await http.get(f"/repos/{REPO}/events", headers={"Authorization": "token x"})
        assert wrong.status_code == 401
