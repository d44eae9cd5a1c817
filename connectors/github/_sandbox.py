"""A local GitHub REST API for the GitHub commands and poll streams.

Routes (JSON bodies, ``Authorization: Bearer|token <token>``)::

    POST /repos/{owner}/{repo}/issues                       201 issue
    POST /repos/{owner}/{repo}/issues/{number}/comments     201 comment
    POST /repos/{owner}/{repo}/issues/{number}/labels       200 the issue's labels
    GET  /repos/{owner}/{repo}/issues   ?state=open|closed|all &sort=created|updated|comments
                                        &direction=asc|desc &since=<ISO 8601> &per_page &page
    GET  /repos/{owner}/{repo}/events   newest first, the last 300; X-Poll-Interval: 60

A wrong token answers 401 ``{"message": "Bad credentials"}``; an unknown
repository, issue or route 404 ``{"message": "Not Found", "documentation_url":
"https://docs.github.com/rest", "status": "404"}`` (GitHub's body, the
status a string as there); invalid fields 422
``{"message": "Validation Failed", "errors": [{"resource", "field", "code"}]}``.
GitHub has no idempotency key: nothing is replayed, and each side effect is
counted under the call's command id (``side_effects(command_id)``).

The issues of the command routes are the ones listed: a comment or new
labels move an issue's ``updated_at``, and each call records its repository
event (``IssuesEvent`` opened / labeled, ``IssueCommentEvent`` created).
Lists are paged with ``Link`` headers and answered ``304`` on a matching
``If-None-Match``; a 304 costs nothing from the enforced rate, as at GitHub
(:mod:`connectors.github._sandbox_lists`). ``since`` keeps the issues
updated at or after it.

Test API: ``add_issues(repo, n, at=None)``, ``touch_issue(repo, number,
at=None, **fields)``, ``issue(repo, number)``, ``add_repo_events(repo, n,
at=None)``, ``events(repo)`` (oldest first), the ``repeat_cursor`` switch
(also ``PUT /_sandbox/switches``: a page request gets its own URL back as
``rel="next"``) and ``wall_clock`` (epoch seconds) for the times it writes.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from connectors._sandbox import ProviderSandbox, is_not_json, json_response
from core.testing import RecordedRequest

from ._sandbox_lists import FreeNotModifiedBucket, iso, list_response, parse_since

__all__ = ["GitHubSandbox"]

DOCS = "https://docs.github.com/rest"
MAX_EVENTS = 300  # GitHub lists a repository's last 300 events
_ACTOR = {"id": 583231, "login": "octocat", "display_login": "octocat"}
_SAMPLES: list[tuple[str, dict[str, Any]]] = [
    ("PushEvent", {"ref": "refs/heads/main", "size": 1, "commits": []}),
    ("WatchEvent", {"action": "started"}),
    ("IssuesEvent", {"action": "opened"}),
    ("IssueCommentEvent", {"action": "created"}),
    ("CreateEvent", {"ref": "feature", "ref_type": "branch"}),
]


def _invalid(resource: str, field: str, code: str = "invalid") -> web.Response:
    return json_response(
        {
            "message": "Validation Failed",
            "errors": [{"resource": resource, "field": field, "code": code}],
            "documentation_url": DOCS,
        },
        status=422,
    )


def _not_found() -> web.Response:
    return json_response(
        {"message": "Not Found", "documentation_url": DOCS, "status": "404"}, status=404
    )


class GitHubSandbox(ProviderSandbox):
    """GitHub issues and repository events in memory; ``repos`` lists the
    repositories that exist (the test API adds the ones it seeds)."""

    name = "github"
    switches = ProviderSandbox.switches | {"repeat_cursor"}

    def __init__(
        self,
        *,
        token: str = "ghp_sandbox",  # noqa: S107
        repos: tuple[str, ...] = ("octo/demo",),
        wall_clock: Callable[[], float] = time.time,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.token = token
        self.repos = set(repos)
        self.wall_clock = wall_clock
        self.issues: dict[tuple[str, int], dict[str, Any]] = {}
        self.comments: list[dict[str, Any]] = []
        #: a page request gets its own URL back as rel="next"
        self.repeat_cursor = False
        self._events: dict[str, list[dict[str, Any]]] = {}
        # update order of the issues: ties of updated_at sort by it
        self._order: dict[tuple[str, int], int] = {}
        self._numbers: dict[str, int] = {}  # the last issue number of each repository
        self._seq = itertools.count(1)
        self._event_ids = itertools.count(30_000_000_001)

    def accepts(self) -> str:
        repos = ", ".join(sorted(self.repos))
        return f"the token {self.token} (Authorization: Bearer or token); repositories: {repos}"

    def settings_for(self, url: str) -> dict[str, str]:
        return {"github.base_url": url, "github.token": self.token}

    def reset(self) -> None:
        super().reset()
        self.repeat_cursor = False
        with self.lock:
            self.issues.clear()
            self.comments.clear()
            self._events.clear()
            self._order.clear()
            self._numbers.clear()

    def enforce_rate(
        self, rate: float, burst: float | None = None, **options: Any
    ) -> FreeNotModifiedBucket:
        """As the base, but a 304 gets its token back (GitHub does not
        charge conditional requests that find nothing new)."""
        self.rate = bucket = FreeNotModifiedBucket(rate, burst, clock=self.clock, **options)
        return bucket

    async def _run(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Any],
        body: bytes,
        seen: RecordedRequest | None,
    ) -> web.StreamResponse:
        response = await super()._run(request, handler, body, seen)
        bucket = self.rate
        if response.status == 304 and isinstance(bucket, FreeNotModifiedBucket):
            response.headers.update(bucket.refund())
        return response

    # --- test API (thread-safe) -------------------------------------------------

    def _now(self, at: datetime | None = None) -> str:
        return iso(at or datetime.fromtimestamp(self.wall_clock(), UTC))

    def add_issues(
        self, repo: str, n: int, *, at: datetime | None = None, title: str = "Issue"
    ) -> list[dict[str, Any]]:
        """``n`` open issues in ``repo`` (created if new), updated ``at`` (default now)."""
        when = self._now(at)
        with self.lock:
            self.repos.add(repo)
            made = [self._new_issue(repo, f"{title} {i}", None, [], when) for i in range(n)]
            return [dict(issue) for issue in made]

    def touch_issue(
        self, repo: str, number: int, *, at: datetime | None = None, **fields: Any
    ) -> dict[str, Any]:
        """Update an issue (``fields`` such as ``title`` or ``state``): its
        ``updated_at`` becomes ``at`` (default now). KeyError if unknown."""
        with self.lock:
            issue = self.issues[(repo, number)]
            issue.update(fields)
            self._touch(repo, issue, self._now(at))
            return dict(issue)

    def issue(self, repo: str, number: int) -> dict[str, Any]:
        with self.lock:
            return dict(self.issues[(repo, number)])

    def add_repo_events(
        self, repo: str, n: int, *, at: datetime | None = None
    ) -> list[dict[str, Any]]:
        """``n`` repository events of assorted types, oldest first."""
        when = self._now(at)
        with self.lock:
            self.repos.add(repo)
            return [
                self._record(repo, *_SAMPLES[i % len(_SAMPLES)], when, number=1 + i % 7)
                for i in range(n)
            ]

    def events(self, repo: str) -> list[dict[str, Any]]:
        """Every event of ``repo`` so far, oldest first (the list serves the last 300)."""
        with self.lock:
            return list(self._events.get(repo, []))

    # --- state (callers hold self.lock) ------------------------------------------

    def _new_issue(
        self, repo: str, title: str, body: Any, labels: list[str], when: str
    ) -> dict[str, Any]:
        number = self._numbers[repo] = self._numbers.get(repo, 0) + 1
        ident = 1000 + len(self.issues)
        issue = {
            "id": ident,
            "node_id": f"I_sb{ident}",
            "number": number,
            "title": title,
            "body": body,
            "state": "open",
            "labels": [{"name": x} for x in labels],
            "comments": 0,
            "user": {"login": _ACTOR["login"], "id": _ACTOR["id"]},
            "html_url": f"https://github.com/{repo}/issues/{number}",
            "repository_url": f"https://api.github.com/repos/{repo}",
            "created_at": when,
            "updated_at": when,
            "closed_at": None,
        }
        self.issues[(repo, number)] = issue
        self._order[(repo, number)] = next(self._seq)
        return issue

    def _touch(self, repo: str, issue: dict[str, Any], when: str) -> None:
        issue["updated_at"] = when
        if issue.get("state") == "closed" and not issue.get("closed_at"):
            issue["closed_at"] = when
        self._order[(repo, issue["number"])] = next(self._seq)

    def _record(
        self, repo: str, kind: str, payload: dict[str, Any], when: str, *, number: int = 1
    ) -> dict[str, Any]:
        payload = dict(payload)
        if kind in ("IssuesEvent", "IssueCommentEvent") and "issue" not in payload:
            payload["issue"] = {"number": number, "title": f"Issue {number}"}
        event = {
            "id": str(next(self._event_ids)),
            "type": kind,
            "actor": dict(_ACTOR),
            "repo": {"id": 1296269, "name": repo, "url": f"https://api.github.com/repos/{repo}"},
            "payload": payload,
            "public": True,
            "created_at": when,
        }
        self._events.setdefault(repo, []).append(event)
        return event

    # --- routes -------------------------------------------------------------------

    def routes(self, router: web.UrlDispatcher) -> None:
        base = "/repos/{owner}/{repo}/issues"
        router.add_post(base, self._create)
        router.add_post(base + "/{number}/comments", self._comment)
        router.add_post(base + "/{number}/labels", self._labels)
        router.add_get(base, self._list_issues)
        router.add_get("/repos/{owner}/{repo}/events", self._list_events)

    def unknown_route(self, request: web.Request) -> web.Response:
        return _not_found()

    def _repo(self, request: web.Request) -> str | web.Response:
        if self.bearer(request) != self.token:
            return json_response(
                {"message": "Bad credentials", "documentation_url": DOCS, "status": "401"}, 401
            )
        repo = f"{request.match_info['owner']}/{request.match_info['repo']}"
        return repo if repo in self.repos else _not_found()

    async def _prelude(self, request: web.Request) -> tuple[str, Any] | web.Response:
        repo = self._repo(request)
        if isinstance(repo, web.Response):
            return repo
        body = await self.json_body(request)
        if is_not_json(body) or not isinstance(body, dict):
            return json_response({"message": "Problems parsing JSON"}, status=400)
        return repo, body

    def _issue(self, repo: str, request: web.Request) -> dict[str, Any] | None:
        number = request.match_info["number"]
        return self.issues.get((repo, int(number))) if number.isdigit() else None

    async def _create(self, request: web.Request) -> web.Response:
        got = await self._prelude(request)
        if isinstance(got, web.Response):
            return got
        repo, body = got
        title = body.get("title")
        if title is None:
            return _invalid("Issue", "title", "missing_field")
        if not isinstance(title, str | int) or not str(title).strip():
            return _invalid("Issue", "title")
        labels = body.get("labels", [])
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            return _invalid("Issue", "labels")
        with self.lock:
            when = self._now()
            issue = self._new_issue(repo, str(title), body.get("body"), labels, when)
            self._record(repo, "IssuesEvent", {"action": "opened", "issue": dict(issue)}, when)
            issue = dict(issue)
        self.count_effect(request)
        return json_response(issue, status=201)

    async def _comment(self, request: web.Request) -> web.Response:
        got = await self._prelude(request)
        if isinstance(got, web.Response):
            return got
        repo, body = got
        text = body.get("body")
        if not isinstance(text, str) or not text.strip():
            return _invalid("IssueComment", "body", "missing_field" if text is None else "invalid")
        with self.lock:
            issue = self._issue(repo, request)
            if issue is None:
                return _not_found()
            comment = {
                "id": 5000 + len(self.comments),
                "body": text,
                "issue_url": f"/repos/{repo}/issues/{issue['number']}",
            }
            self.comments.append(comment)
            when = self._now()
            issue["comments"] += 1
            self._touch(repo, issue, when)
            payload = {"action": "created", "issue": dict(issue), "comment": comment}
            self._record(repo, "IssueCommentEvent", payload, when)
        self.count_effect(request)
        return json_response(comment, status=201)

    async def _labels(self, request: web.Request) -> web.Response:
        got = await self._prelude(request)
        if isinstance(got, web.Response):
            return got
        repo, body = got
        labels = body.get("labels")
        if (
            not isinstance(labels, list)
            or not labels
            or not all(isinstance(x, str) for x in labels)
        ):
            return _invalid("Label", "labels", "missing_field" if labels is None else "invalid")
        with self.lock:
            issue = self._issue(repo, request)
            if issue is None:
                return _not_found()
            names = [x["name"] for x in issue["labels"]]
            added = [x for x in dict.fromkeys(labels) if x not in names]
            issue["labels"] = [{"name": x} for x in [*names, *added]]
            result = list(issue["labels"])
            if added:
                when = self._now()
                self._touch(repo, issue, when)
                for name in added:
                    payload = {"action": "labeled", "issue": dict(issue), "label": {"name": name}}
                    self._record(repo, "IssuesEvent", payload, when)
        self.count_effect(request)
        return json_response(result)

    async def _list_issues(self, request: web.Request) -> web.Response:
        repo = self._repo(request)
        if isinstance(repo, web.Response):
            return repo
        query = request.query
        state = query.get("state", "open")
        sort = query.get("sort", "created")
        direction = query.get("direction", "desc")
        for field, value, allowed in (
            ("state", state, ("open", "closed", "all")),
            ("sort", sort, ("created", "updated", "comments")),
            ("direction", direction, ("asc", "desc")),
        ):
            if value not in allowed:
                return _invalid("Issue", field)
        since = parse_since(query["since"]) if "since" in query else None
        if "since" in query and since is None:
            return _invalid("Issue", "since")
        with self.lock:
            found = [
                (issue, self._order[key])
                for key, issue in self.issues.items()
                if key[0] == repo
                and (state == "all" or issue["state"] == state)
                and (since is None or (parse_since(issue["updated_at"]) or since) >= since)
            ]
            if sort == "updated":
                found.sort(key=lambda pair: (pair[0]["updated_at"], pair[1]))
            else:
                column = "created_at" if sort == "created" else "comments"
                found.sort(key=lambda pair: (pair[0][column], pair[0]["number"]))
            if direction == "desc":
                found.reverse()
            items = [dict(issue) for issue, _ in found]
        return list_response(request, items, repeat=self.repeat_cursor)

    async def _list_events(self, request: web.Request) -> web.Response:
        repo = self._repo(request)
        if isinstance(repo, web.Response):
            return repo
        with self.lock:
            items = self._events.get(repo, [])[-MAX_EVENTS:][::-1]
        return list_response(
            request, items, repeat=self.repeat_cursor, headers={"X-Poll-Interval": "60"}
        )
