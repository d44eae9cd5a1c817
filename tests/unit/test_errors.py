"""The error tree and the per-connector classification table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

import core.classify
import core.errors
from core import errors as e
from core.classify import Action, ErrorMapping, Resolution, ResponseView, parse_retry_after
from core.envelopes import ErrorInfo

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def response(
    status: int, body: Any = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    request = httpx.Request(
        "POST", "https://api.example.com/v1/things?api_key=sk_live_abcdef123456"
    )
    if body is None:
        return httpx.Response(status, headers=headers, request=request)
    return httpx.Response(status, json=body, headers=headers, request=request)


def test_public_surface() -> None:
    assert set(core.errors.__all__) == {
        "MAX_MESSAGE",
        "BadResponseError",
        "CircuitOpenError",
        "FatalConfigError",
        "FatalRequestError",
        "GraphQLError",
        "InvalidBodyError",
        "InvalidParamsError",
        "NetworkError",
        "OversizedResponseError",
        "PolicyError",
        "RateLimitedError",
        "RetriableError",
        "ServerError",
        "SwitchboardError",
        "TruncatedResponseError",
    }
    assert set(core.classify.__all__) == {
        "DEFAULT_STATUS_ACTIONS",
        "Action",
        "ErrorMapping",
        "Resolution",
        "ResponseView",
        "Rule",
        "parse_retry_after",
    }


def test_tree_branches_say_what_to_do() -> None:
    for cls in (e.NetworkError, e.ServerError, e.RateLimitedError, e.CircuitOpenError):
        assert issubclass(cls, e.RetriableError)
    assert issubclass(e.PolicyError, e.FatalConfigError)
    assert issubclass(e.PolicyError, ValueError)
    assert issubclass(e.GraphQLError, e.FatalRequestError)
    for bad in (e.InvalidBodyError, e.TruncatedResponseError, e.OversizedResponseError):
        assert issubclass(bad, e.BadResponseError)
    assert e.TruncatedResponseError("x").retryable
    assert not e.OversizedResponseError("x").retryable
    assert not e.FatalRequestError("x").retryable
    assert e.ServerError("x").retryable


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, e.FatalRequestError),
        (401, e.FatalConfigError),
        (403, e.FatalConfigError),
        (404, e.FatalRequestError),
        (408, e.ServerError),
        (409, e.FatalRequestError),
        (410, e.FatalRequestError),
        (422, e.FatalRequestError),
        (425, e.ServerError),
        (429, e.RateLimitedError),
        (500, e.ServerError),
        (502, e.ServerError),
        (503, e.ServerError),
        (504, e.ServerError),
        (507, e.ServerError),
        (301, e.FatalConfigError),
    ],
)
def test_default_mapping(status: int, cls: type[e.SwitchboardError]) -> None:
    err = ErrorMapping().error_for(response(status, {"error": {"message": "no"}}), None)
    assert type(err) is cls
    assert err is not None
    assert err.status == status


def test_success_is_none() -> None:
    assert ErrorMapping().error_for(response(200, {"ok": True}), {"ok": True}) is None
    assert ErrorMapping().error_for(response(204), None) is None


def test_error_carries_provider_details_but_no_secret() -> None:
    body = {"error": {"code": "resource_missing", "message": "No such customer: cus_1"}}
    resp = response(404, body, {"Request-Id": "req_123"})
    err = ErrorMapping().error_for(resp, body)
    assert err is not None
    assert err.provider_code == "resource_missing"
    assert err.provider_message == "No such customer: cus_1"
    assert err.request_id == "req_123"
    assert "sk_live_abcdef123456" not in str(err)
    info = err.to_error_info()
    assert isinstance(info, ErrorInfo)
    assert info.code == "fatal_request"
    assert info.retryable is False
    assert info.provider_code == "resource_missing"
    assert info.request_id == "req_123"
    assert "sk_live_abcdef123456" not in info.to_json().decode()


def test_provider_message_echoing_a_secret_is_redacted() -> None:
    body = {"message": "Invalid API key: sk_live_abcdef123456 (Bearer abc.def-123456)"}
    err = ErrorMapping().error_for(response(401, body), body)
    assert err is not None
    text = str(err) + err.to_error_info().to_json().decode()
    assert "sk_live_abcdef123456" not in text
    assert "abc.def-123456" not in text


def test_messages_are_bounded() -> None:
    err = e.FatalRequestError("x" * 10_000, provider_message="y" * 10_000)
    assert len(err.message) <= e.MAX_MESSAGE
    assert err.provider_message is not None
    assert len(err.provider_message) <= e.MAX_MESSAGE


def test_rate_limited_uses_retry_after_seconds_and_dates() -> None:
    err = ErrorMapping().error_for(response(429, {}, {"Retry-After": "7"}), {}, now=NOW)
    assert isinstance(err, e.RateLimitedError)
    assert err.retry_at == NOW + timedelta(seconds=7)
    assert err.retry_after(NOW) == 7
    date = "Thu, 01 Jan 2026 12:00:30 GMT"
    err = ErrorMapping().error_for(response(429, {}, {"Retry-After": date}), {}, now=NOW)
    assert isinstance(err, e.RateLimitedError)
    assert err.retry_after(NOW) == 30


def test_server_error_keeps_retry_after_hint() -> None:
    err = ErrorMapping().error_for(response(503, None, {"Retry-After": "3"}), None, now=NOW)
    assert isinstance(err, e.ServerError)
    assert err.retry_after == 3


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5", 5.0),
        ("0", 0.0),
        ("-3", 0.0),
        ("1.5", 1.5),
        ("Thu, 01 Jan 2026 12:01:00 GMT", 60.0),
        ("Thu, 01 Jan 2026 11:00:00 GMT", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
        ("nan", None),
        ("inf", None),
        ("Thu, 99 Foo 2026 99:99:99 GMT", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


def slack_ok_false(view: ResponseView) -> Resolution | None:
    """Slack answers HTTP 200 with {"ok": false, "error": "..."}."""
    body = view.body
    if view.status == 200 and isinstance(body, dict) and body.get("ok") is False:
        code = str(body.get("error", "unknown"))
        if code == "ratelimited":
            return Resolution(Action.RATE_LIMITED, provider_code=code)
        if code in ("invalid_auth", "not_authed", "token_revoked"):
            return Resolution(Action.FATAL_CONFIG, provider_code=code)
        return Resolution(Action.FATAL_REQUEST, provider_code=code)
    return None


def stripe_should_retry(view: ResponseView) -> Resolution | None:
    flag = view.headers.get("stripe-should-retry")
    if flag == "true":
        return Resolution(Action.RETRY)
    if flag == "false" and view.status >= 400:
        return Resolution(Action.FATAL_REQUEST)
    return None


def test_connector_overrides_only_what_differs() -> None:
    slack = ErrorMapping().override(rules=[slack_ok_false])
    body = {"ok": False, "error": "channel_not_found"}
    err = slack.error_for(response(200, body), body)
    assert isinstance(err, e.FatalRequestError)
    assert err.provider_code == "channel_not_found"
    body = {"ok": False, "error": "ratelimited"}
    assert isinstance(slack.error_for(response(200, body), body), e.RateLimitedError)
    assert slack.error_for(response(200, {"ok": True}), {"ok": True}) is None
    # Untouched defaults still apply.
    assert isinstance(slack.error_for(response(503), None), e.ServerError)


def test_stripe_should_retry_header_wins_over_status() -> None:
    stripe = ErrorMapping().override(rules=[stripe_should_retry])
    assert isinstance(
        stripe.error_for(response(409, {}, {"Stripe-Should-Retry": "true"}), {}), e.ServerError
    )
    assert isinstance(
        stripe.error_for(response(500, {}, {"Stripe-Should-Retry": "false"}), {}),
        e.FatalRequestError,
    )


def test_status_overrides_and_extra_request_id_header() -> None:
    mapping = ErrorMapping().override(
        statuses={404: Action.SUCCESS, 409: Action.RETRY},
        request_id_headers=("x-github-request-id",),
    )
    assert mapping.error_for(response(404), None) is None
    err = mapping.error_for(response(409, None, {"X-GitHub-Request-Id": "gh-1"}), None)
    assert isinstance(err, e.ServerError)
    assert err.request_id == "gh-1"
    # The default mapping is unchanged.
    assert isinstance(ErrorMapping().error_for(response(404), None), e.FatalRequestError)


def test_a_crashing_rule_falls_back_to_the_table() -> None:
    def broken(view: ResponseView) -> Resolution | None:
        raise RuntimeError("bug")

    mapping = ErrorMapping().override(rules=[broken])
    assert isinstance(mapping.error_for(response(400), None), e.FatalRequestError)


@pytest.mark.parametrize("body", [None, [], "text", 5, {"error": None}, {"errors": "x"}, [1, 2]])
def test_odd_bodies_never_crash(body: Any) -> None:
    err = ErrorMapping().error_for(response(422), body)
    assert isinstance(err, e.FatalRequestError)
