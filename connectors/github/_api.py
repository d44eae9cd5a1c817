"""How GitHub calls are made: bearer token, JSON, no idempotency key.

Idempotency: ``idempotency="ledger"``, window: covered by the sink's ledger
window. GitHub's REST API has no idempotency key (issues, comments and
labels alike), so the sink checks its ledger of executed command ids before
calling; a POST is never retried by the client once it may have reached
GitHub. (``issues.add_labels`` is idempotent by nature; create and comment
are not.)

Rate limits: GitHub answers 403 *or* 429 with ``X-RateLimit-Remaining: 0``
(primary limit, wait until ``X-RateLimit-Reset``) or with ``Retry-After``
(secondary limit); both are RateLimitedError, not a configuration error.
"""

from __future__ import annotations

import time

from core.apicall import ClientSetup
from core.classify import Action, ErrorMapping, Resolution, ResponseView, parse_retry_after
from core.client import ClientPolicy
from core.connector_kit import required, secret_setup
from core.ratelimit import RatePolicy

from ._settings import GitHubSettings

__all__ = ["client_setup", "rate_limited"]


def rate_limited(view: ResponseView) -> Resolution | None:
    if view.status not in (403, 429):
        return None
    retry_after = parse_retry_after(view.headers.get("retry-after"))
    if retry_after is not None:
        return Resolution(Action.RATE_LIMITED, retry_after=retry_after)
    if view.headers.get("x-ratelimit-remaining") == "0":
        reset = view.headers.get("x-ratelimit-reset", "")
        wait = max(0.0, float(reset) - time.time()) if reset.isdigit() else 60.0
        return Resolution(Action.RATE_LIMITED, retry_after=wait)
    return None


ERRORS = ErrorMapping().override(
    rules=[rate_limited], request_id_headers=("x-github-request-id", "x-request-id")
)


def client_setup(settings: GitHubSettings) -> ClientSetup:
    token = required(settings.token, "github.token")
    return secret_setup(
        ClientPolicy(
            connector="github",
            base_url=str(settings.base_url),
            rate=RatePolicy(rate=settings.rate),
            errors=ERRORS,
            headers={
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": settings.api_version,
            },
        ),
        token,
        api_version=settings.api_version,
    )
