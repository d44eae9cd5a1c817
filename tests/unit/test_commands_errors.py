"""Connector error rules (classification tables) and in-band failures, without a network."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

import core.apicall
from connectors.github._api import ERRORS as GITHUB
from connectors.shopify._commands import user_errors
from connectors.slack._api import ERRORS as SLACK
from connectors.stripe._api import ERRORS as STRIPE
from core import errors as e
from core.classify import ErrorMapping


def response(
    status: int, body: Any = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    request = httpx.Request("POST", "https://provider.example/x")
    content = orjson.dumps(body) if body is not None else b""
    return httpx.Response(status, content=content, headers=headers or {}, request=request)


def error(mapping: ErrorMapping, status: int, body: Any = None, **headers: str) -> Any:
    return mapping.error_for(response(status, body, headers), body)


def test_stripe_should_retry_header_and_409() -> None:
    assert isinstance(
        error(STRIPE, 400, {"error": {"code": "x"}}, **{"Stripe-Should-Retry": "true"}),
        e.ServerError,
    )
    assert isinstance(
        error(STRIPE, 503, None, **{"Stripe-Should-Retry": "false"}), e.FatalRequestError
    )
    assert isinstance(error(STRIPE, 409, {"error": {"type": "idempotency_error"}}), e.ServerError)
    mismatch = error(STRIPE, 400, {"error": {"type": "idempotency_error", "message": "Keys..."}})
    assert isinstance(mismatch, e.FatalRequestError)
    assert mismatch.provider_code == "idempotency_error"
    assert isinstance(
        error(STRIPE, 401, {"error": {"message": "Invalid API Key"}}), e.FatalConfigError
    )
    assert error(STRIPE, 200, {"id": "cus_1"}) is None


def test_github_rate_limits_are_not_config_errors() -> None:
    primary = error(
        GITHUB,
        403,
        {"message": "API rate limit exceeded"},
        **{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "0"},
    )
    assert isinstance(primary, e.RateLimitedError)
    secondary = error(GITHUB, 403, {"message": "secondary rate limit"}, **{"Retry-After": "30"})
    assert isinstance(secondary, e.RateLimitedError)
    assert isinstance(
        error(
            GITHUB, 403, {"message": "Resource not accessible"}, **{"X-RateLimit-Remaining": "4000"}
        ),
        e.FatalConfigError,
    )
    assert (
        error(GITHUB, 404, {"message": "Not Found"}, **{"X-GitHub-Request-Id": "AB:CD"}).request_id
        == "AB:CD"
    )


@pytest.mark.parametrize(
    ("code", "status", "cls"),
    [
        ("channel_not_found", 200, e.FatalRequestError),
        ("no_text", 200, e.FatalRequestError),
        ("invalid_auth", 200, e.FatalConfigError),
        ("missing_scope", 200, e.FatalConfigError),
        ("ratelimited", 429, e.RateLimitedError),
        ("ratelimited", 200, e.RateLimitedError),
        ("internal_error", 200, e.ServerError),
    ],
)
def test_slack_ok_false(code: str, status: int, cls: type[e.SwitchboardError]) -> None:
    err = error(SLACK, status, {"ok": False, "error": code}, **{"Retry-After": "3"})
    assert type(err) is cls
    assert err.provider_code == code


def test_slack_ok_true_is_success() -> None:
    assert error(SLACK, 200, {"ok": True, "ts": "1.2"}) is None


def test_shopify_user_errors_are_fatal() -> None:
    ok = {"customerCreate": {"customer": {"id": "gid://1"}, "userErrors": []}}
    assert user_errors(ok, httpx.Headers()) == ok
    bad = {
        "customerCreate": {
            "customer": None,
            "userErrors": [{"field": ["input", "email"], "message": "Email is invalid"}],
        }
    }
    with pytest.raises(e.FatalRequestError) as info:
        user_errors(bad, httpx.Headers())
    assert info.value.provider_code == "USER_ERROR"
    assert "input.email" in info.value.message


def test_public_surface() -> None:
    assert set(core.apicall.__all__) == {
        "COMMAND_ID_HEADER",
        "ApiCall",
        "BodyKind",
        "Buildable",
        "CallContext",
        "CallResult",
        "ClientSetup",
        "Endpoint",
        "Idempotency",
        "Safety",
        "execute",
        "fill_path",
        "form_encode",
        "path_value_problem",
        "run_command",
        "safety",
    }
    assert all(hasattr(core.apicall, name) for name in core.apicall.__all__)
