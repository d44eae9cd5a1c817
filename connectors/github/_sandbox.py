"""A local GitHub REST API for the GitHub commands.

Routes (JSON bodies, ``Authorization: Bearer|token <token>``)::

    POST /repos/{owner}/{repo}/issues                       201 issue
    POST /repos/{owner}/{repo}/issues/{number}/comments     201 comment
    POST /repos/{owner}/{repo}/issues/{number}/labels       200 the issue's labels

A wrong token answers 401 ``{"message": "Bad credentials"}``; an unknown
repository or issue 404 ``{"message": "Not Found"}``; invalid fields 422
``{"message": "Validation Failed", "errors": [{"resource", "field", "code"}]}``.
GitHub has no idempotency key: nothing is replayed, and each side effect is
counted under the call's command id (``side_effects(command_id)``).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from connectors._sandbox import ProviderSandbox, is_not_json, json_response

__all__ = ["GitHubSandbox"]

DOCS = "https://docs.github.com/rest"


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
    return json_response({"message": "Not Found", "documentation_url": DOCS}, status=404)


class GitHubSandbox(ProviderSandbox):
    """GitHub issues in memory; ``repos`` lists the repositories that exist."""

    name = "github"

    def __init__(
        self,
        *,
        token: str = "ghp_sandbox",  # noqa: S107
        repos: tuple[str, ...] = ("octo/demo",),
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.token = token
        self.repos = set(repos)
        self.issues: dict[tuple[str, int], dict[str, Any]] = {}
        self.comments: list[dict[str, Any]] = []

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.issues.clear()
            self.comments.clear()

    def routes(self, router: web.UrlDispatcher) -> None:
        base = "/repos/{owner}/{repo}/issues"
        router.add_post(base, self._create)
        router.add_post(base + "/{number}/comments", self._comment)
        router.add_post(base + "/{number}/labels", self._labels)

    async def _prelude(self, request: web.Request) -> tuple[str, Any] | web.Response:
        if self.bearer(request) != self.token:
            return json_response({"message": "Bad credentials", "documentation_url": DOCS}, 401)
        repo = f"{request.match_info['owner']}/{request.match_info['repo']}"
        if repo not in self.repos:
            return _not_found()
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
            number = 1 + sum(1 for r, _ in self.issues if r == repo)
            issue = {
                "id": 1000 + len(self.issues),
                "number": number,
                "title": str(title),
                "body": body.get("body"),
                "state": "open",
                "labels": [{"name": x} for x in labels],
                "html_url": f"https://github.com/{repo}/issues/{number}",
            }
            self.issues[(repo, number)] = issue
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
            issue["labels"] = [{"name": x} for x in dict.fromkeys([*names, *labels])]
            result = list(issue["labels"])
        self.count_effect(request)
        return json_response(result)
