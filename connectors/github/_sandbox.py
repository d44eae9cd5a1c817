"""A local GitHub REST API for the GitHub commands and poll streams.

Routes (JSON bodies, ``Authorization: Bearer|token <token>``)::

    POST /repos/{owner}/{repo}/issues                       201 issue
    POST /repos/{owner}/{repo}/issues/{number}/comments     201 comment
    POST /repos/{owner}/{repo}/issues/{number}/labels       200 the issue's labels
    GET  /repos/{owner}/{repo}/issues   ?state=open|closed|all &sort=created|updated|comments
                                        &direction=asc|desc &since=<ISO 8601> &per_page &page
    GET  /repos/{owner}/{repo}/issues/{number}/comments     oldest first ?since &per_page &page
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
``rel="next"``) and ``wall_clock`` (epoch seconds) for the times it writes; the state and
this test API: :mod:`connectors.github._sandbox_repos`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from connectors._sandbox import ProviderSandbox, is_not_json, json_response
from core.testing import RecordedRequest

from ._sandbox_lists import FreeNotModifiedBucket, list_response, parse_since
from ._sandbox_repos import GitHubRepos

__all__ = ["GitHubSandbox"]

DOCS = "https://docs.github.com/rest"
MAX_EVENTS = 300  # GitHub lists a repository's last 300 events


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


class GitHubSandbox(GitHubRepos):
    """GitHub's REST routes over the in-memory repositories of
    :class:`~connectors.github._sandbox_repos.GitHubRepos`; ``token`` is the
    only token accepted."""

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
        super().__init__(repos=repos, wall_clock=wall_clock, **kw)
        self.token = token
        #: a page request gets its own URL back as rel="next"
        self.repeat_cursor = False

    def accepts(self) -> str:
        repos = ", ".join(sorted(self.repos))
        return f"the token {self.token} (Authorization: Bearer or token); repositories: {repos}"

    def settings_for(self, url: str) -> dict[str, str]:
        return {"github.base_url": url, "github.token": self.token}

    def reset(self) -> None:
        super().reset()
        self.repeat_cursor = False

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

    # --- routes -------------------------------------------------------------------

    def routes(self, router: web.UrlDispatcher) -> None:
        base = "/repos/{owner}/{repo}/issues"
        router.add_post(base, self._create)
        router.add_post(base + "/{number}/comments", self._comment)
        router.add_post(base + "/{number}/labels", self._labels)
        router.add_get(base, self._list_issues)
        router.add_get(base + "/{number}/comments", self._list_comments)
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
            when = self._now()
            comment = {
                "id": 5000 + len(self.comments),
                "body": text,
                "issue_url": f"/repos/{repo}/issues/{issue['number']}",
                "user": dict(issue["user"]),
                "created_at": when,
                "updated_at": when,
            }
            self.comments.append(comment)
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
        items = self._listed_issues(repo, state, sort, direction, since)
        return list_response(request, items, repeat=self.repeat_cursor)

    async def _list_comments(self, request: web.Request) -> web.Response:
        repo = self._repo(request)
        if isinstance(repo, web.Response):
            return repo
        since = parse_since(request.query["since"]) if "since" in request.query else None
        if "since" in request.query and since is None:
            return _invalid("IssueComment", "since")
        with self.lock:
            issue = self._issue(repo, request)
            if issue is None:
                return _not_found()
            url = f"/repos/{repo}/issues/{issue['number']}"
            items = [
                dict(c)
                for c in self.comments
                if c["issue_url"] == url
                and (since is None or (parse_since(c["updated_at"]) or since) >= since)
            ]
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
