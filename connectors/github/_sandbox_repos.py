"""The GitHub sandbox's repositories: issues, comments and repository events.

The state behind the routes of :mod:`connectors.github._sandbox` and the test
API that seeds it. Every write takes the sandbox's lock; times are
``wall_clock`` (epoch seconds) in GitHub's ISO 8601 form. Issues list in
GitHub's orders: ``created`` and ``comments`` by that field, then number;
``updated`` by ``updated_at``, ties in the order the updates happened.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from connectors._sandbox import ProviderSandbox

from ._sandbox_lists import iso, parse_since

__all__ = ["GitHubRepos"]

_ACTOR = {"id": 583231, "login": "octocat", "display_login": "octocat"}
_SAMPLES: list[tuple[str, dict[str, Any]]] = [
    ("PushEvent", {"ref": "refs/heads/main", "size": 1, "commits": []}),
    ("WatchEvent", {"action": "started"}),
    ("IssuesEvent", {"action": "opened"}),
    ("IssueCommentEvent", {"action": "created"}),
    ("CreateEvent", {"ref": "feature", "ref_type": "branch"}),
]


class GitHubRepos(ProviderSandbox):
    """The repositories part of :class:`~connectors.github._sandbox.GitHubSandbox`;
    ``repos`` lists the repositories that exist (the test API adds the ones it seeds)."""

    def __init__(
        self,
        *,
        repos: tuple[str, ...] = ("octo/demo",),
        wall_clock: Callable[[], float] = time.time,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.repos = set(repos)
        self.wall_clock = wall_clock
        self.issues: dict[tuple[str, int], dict[str, Any]] = {}
        self.comments: list[dict[str, Any]] = []
        self._events: dict[str, list[dict[str, Any]]] = {}
        # update order of the issues: ties of updated_at sort by it
        self._order: dict[tuple[str, int], int] = {}
        self._numbers: dict[str, int] = {}  # the last issue number of each repository
        self._seq = itertools.count(1)
        self._event_ids = itertools.count(30_000_000_001)

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.issues.clear()
            self.comments.clear()
            self._events.clear()
            self._order.clear()
            self._numbers.clear()

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

    def _listed_issues(
        self, repo: str, state: str, sort: str, direction: str, since: datetime | None
    ) -> list[dict[str, Any]]:
        """Copies of ``repo``'s issues as ``GET .../issues`` lists them (takes the lock)."""
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
            return [dict(issue) for issue, _ in found]
