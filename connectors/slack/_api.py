"""How Slack Web API calls are made: bot token, JSON, HTTP 200 errors.

Idempotency: ``idempotency="ledger"``, window: covered by the sink's ledger
window. The Web API has no idempotency key for ``chat.postMessage`` or
``chat.update`` (Slack dedups the Events API it *sends*, not calls it
receives). ``{"ok": false, "error": code}`` is mapped by :func:`ok_false`:
``ratelimited`` -> RateLimitedError (honouring ``Retry-After``), auth and
scope errors -> FatalConfigError, Slack-side failures -> ServerError,
anything else (``channel_not_found``, ``no_text``...) -> FatalRequestError
with the code as ``provider_code``.
"""

from __future__ import annotations

from core.apicall import ClientSetup
from core.classify import Action, ErrorMapping, Resolution, ResponseView, parse_retry_after
from core.client import ClientPolicy
from core.connector_kit import FOR_COMMANDS_AND_POLLS, required, secret_setup
from core.ratelimit import RatePolicy

from ._settings import SlackSettings

__all__ = ["CONFIG_ERRORS", "RETRY_ERRORS", "client_setup", "ok_false"]

CONFIG_ERRORS = frozenset(
    {
        "not_authed",
        "invalid_auth",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "no_permission",
        "missing_scope",
        "not_allowed_token_type",
        "ekm_access_denied",
        "team_access_not_granted",
        "access_denied",
    }
)
RETRY_ERRORS = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)


def ok_false(view: ResponseView) -> Resolution | None:
    body = view.body
    if not isinstance(body, dict) or body.get("ok") is not False:
        return None
    code = str(body.get("error") or "unknown_error")
    message = f"slack: {code}"
    if code == "ratelimited":
        delay = parse_retry_after(view.headers.get("retry-after"))
        return Resolution(Action.RATE_LIMITED, message, code, retry_after=delay)
    if code in CONFIG_ERRORS:
        return Resolution(Action.FATAL_CONFIG, message, code)
    if code in RETRY_ERRORS or view.status >= 500:
        return Resolution(Action.RETRY, message, code)
    return Resolution(Action.FATAL_REQUEST, message, code)


ERRORS = ErrorMapping().override(rules=[ok_false])


def client_setup(settings: SlackSettings) -> ClientSetup:
    token = required(settings.bot_token, "slack.bot_token", FOR_COMMANDS_AND_POLLS)
    return secret_setup(
        ClientPolicy(
            connector="slack",
            base_url=str(settings.base_url),
            rate=RatePolicy(rate=settings.rate),
            errors=ERRORS,
        ),
        token,
    )
