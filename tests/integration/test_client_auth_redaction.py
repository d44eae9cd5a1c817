"""No secret of any auth kind in a log line or an error: the client over real
sockets against a provider that echoes credentials back."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from core import errors as e
from core.auth import (
    ApiKeyAuth,
    AuthError,
    BasicAuth,
    BearerAuth,
    ClientCredentialsAuth,
    OAuth2Auth,
    RefreshTokenAuth,
)
from core.envelopes import DlqHeaders
from core.ratelimit import RatePolicy
from core.testing import DemoSandbox
from tests.integration import client_auth_support as support
from tests.integration.client_auth_support import LeakySandbox, client_for

API_KEY = "sk_test_4eC39HqLyjWDarjtT1zdp7dc"
PLAIN_SECRET = "correct-horse-battery-staple-42"

sandbox = support.sandbox  # the shared fixture, bound here so pytest finds it


async def test_secrets_never_reach_logs_or_errors(
    sandbox: LeakySandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bearer = client_for(sandbox, BearerAuth(API_KEY), rate=RatePolicy(rate=1000))
    query_key = client_for(sandbox, ApiKeyAuth(PLAIN_SECRET, name="api_key", location="query"))
    errors: list[e.SwitchboardError] = []
    async with bearer, query_key:
        for client in (bearer, query_key):
            await client.get("/echo")
            sandbox.fail_next(1, status=503)
            await client.get("/echo", params={"page": "2"})
            for path in ("/leak", "/status/401"):
                with pytest.raises(e.SwitchboardError) as info:
                    await client.get(path)
                errors.append(info.value)
            sandbox.throttle_next(1, retry_after=0.01)
            await client.get("/echo")
    assert caplog.records, "expected the client to log something at DEBUG"
    dumped = caplog.text + repr([r.__dict__ for r in caplog.records])
    dumped += "".join(str(err) + err.to_error_info().to_json().decode() for err in errors)
    # Make sure the leaky route really sent the secrets back to us.
    assert any(r.path == "/leak" for r in sandbox.requests)
    for secret in (API_KEY, PLAIN_SECRET):
        idx = dumped.find(secret)
        assert secret not in dumped, dumped[max(0, idx - 300) : idx + 50]


# --- issue #9.6: every auth kind, end to end through a failing call ----------------

BEARER = "opaque-bearer-Tk7Qw2Zr"
BASIC_PASSWORD = "pw-Hx83Lqz0Pm"
HEADER_KEY = "hdr-key-Vb61Nq0sT"
QUERY_KEY = "qry-key-Wm2Pz9dLc"
CC_SECRET = "cc-secret-Jq4Rt8Yp"
CC_POST_SECRET = "cc-post-secret-Fe5Gh1Kz"
RT_CLIENT_SECRET = "rt-client-secret-Nd3Ws6Ua"
QUERY_KEY_ECHOED = "qry-key-echoed-Ty4Bn7Mo"
INITIAL_REFRESH = "rt-initial-Lp0Xc7Vb"


def _leaky_token_url(sandbox: DemoSandbox) -> str:
    return f"{sandbox.url}/leaky/token"


# name -> (auth factory, path of the failing call, error class, secrets known up front)
AUTH_CASES: dict[str, tuple[Any, str, type[e.SwitchboardError], list[str]]] = {
    "bearer": (lambda sb: BearerAuth(BEARER), "/leak/401", e.FatalConfigError, [BEARER]),
    "basic": (
        lambda sb: BasicAuth("acme-user", BASIC_PASSWORD),
        "/leak/401",
        e.FatalConfigError,
        [BASIC_PASSWORD, f"acme-user:{BASIC_PASSWORD}"],
    ),
    "api_key_header": (
        lambda sb: ApiKeyAuth(HEADER_KEY, name="X-Acme-Auth"),
        "/leak/400",
        e.FatalRequestError,
        [HEADER_KEY],
    ),
    "api_key_query": (
        lambda sb: ApiKeyAuth(QUERY_KEY, location="query", name="appid"),
        "/status/401",
        e.FatalConfigError,
        [QUERY_KEY],
    ),
    "api_key_query_echoed": (
        lambda sb: ApiKeyAuth(QUERY_KEY_ECHOED, location="query", name="appid"),
        "/leak/400",
        e.FatalRequestError,
        [QUERY_KEY_ECHOED],
    ),
    "client_credentials_resource": (
        lambda sb: ClientCredentialsAuth(
            f"{sb.url}/oauth/token", "sandbox-client", "sandbox-secret", auth_method="post"
        ),
        "/leak/401",
        e.FatalConfigError,
        ["sandbox-secret"],
    ),
    "client_credentials_token_endpoint": (
        lambda sb: ClientCredentialsAuth(_leaky_token_url(sb), "acme", CC_SECRET),
        "/echo",
        AuthError,
        [CC_SECRET],
    ),
    "client_credentials_post_token_endpoint": (
        lambda sb: ClientCredentialsAuth(
            _leaky_token_url(sb), "acme", CC_POST_SECRET, auth_method="post"
        ),
        "/echo",
        AuthError,
        [CC_POST_SECRET],
    ),
    "refresh_token_endpoint": (
        lambda sb: RefreshTokenAuth(
            _leaky_token_url(sb), "acme", RT_CLIENT_SECRET, refresh_token=INITIAL_REFRESH
        ),
        "/echo",
        AuthError,
        [RT_CLIENT_SECRET, INITIAL_REFRESH],
    ),
    "refresh_token_resource": (
        lambda sb: RefreshTokenAuth(
            f"{sb.url}/oauth/token",
            "sandbox-client",
            "sandbox-secret",
            refresh_token=sb.oauth.issue_refresh_token(),
        ),
        "/leak/401",
        e.FatalConfigError,
        ["sandbox-secret"],
    ),
}


def _sent_credentials(sandbox: DemoSandbox) -> list[str]:
    """Every credential the sandbox received (tokens obtained at runtime included)."""
    out: list[str] = []
    for request in sandbox.requests:
        for name, value in request.headers:
            if name.lower() == "authorization" or name.lower().startswith("x-acme"):
                out.append(value.partition(" ")[2] or value)
        out += [v for k, v in request.query if k == "appid"]
    return out


@pytest.mark.parametrize("kind", sorted(AUTH_CASES))
async def test_no_auth_kind_leaks_its_secret_through_a_failing_call(
    kind: str, sandbox: LeakySandbox, caplog: pytest.LogCaptureFixture
) -> None:
    factory, path, error_class, secrets = AUTH_CASES[kind]
    caplog.set_level(logging.DEBUG)  # httpx, httpcore and ours
    auth = factory(sandbox)
    async with client_for(sandbox, auth) as client:
        with pytest.raises(error_class) as info:
            await client.get(path, params={"page": "2"})
    if isinstance(auth, OAuth2Auth):
        if auth.token is not None:
            secrets.append(auth.token.access_token.get_secret_value())
            if auth.token.refresh_token is not None:
                secrets.append(auth.token.refresh_token.get_secret_value())
        await auth.aclose()
    secrets += _sent_credentials(sandbox)
    err = info.value
    result_error = err.to_error_info()  # what the sink puts into Result.error
    dlq = DlqHeaders(  # and what it puts into the DLQ headers
        original_topic="demo.commands",
        original_partition=0,
        original_offset=0,
        connector="demo",
        stage="sink",
        reason="fatal_request",
        error_class=type(err).__name__,
        error_message=result_error.message,
    )
    dumped = "\n".join(
        [
            str(err),
            repr(err),
            repr(auth),
            str(err.url),
            result_error.to_json().decode(),
            repr(dlq.to_headers()),
            caplog.text,
            repr([r.__dict__ for r in caplog.records]),
        ]
    )
    echoed = [r for r in sandbox.requests if r.path.startswith(("/leak", "/leaky"))]
    assert echoed or path == "/status/401", "the hostile route was not reached"
    assert "http.attempt" in caplog.text  # the client logged the calls (DEBUG)
    for secret in secrets:
        idx = dumped.find(secret)
        assert secret not in dumped, (kind, dumped[max(0, idx - 200) : idx + 50])


async def test_api_key_query_parameter_is_redacted_by_name_even_when_short(
    sandbox: LeakySandbox, caplog: pytest.LogCaptureFixture
) -> None:
    """A key too short to be registered as a value is still redacted by its
    parameter name in every URL of an error or a log line."""
    caplog.set_level(logging.DEBUG)
    auth = ApiKeyAuth("k3y9Z", location="query", name="appid")
    async with client_for(sandbox, auth) as client:
        with pytest.raises(e.FatalConfigError) as info:
            await client.get("/status/401")
    assert sandbox.requests[-1].query_param("appid") == "k3y9Z"
    for text in (str(info.value), info.value.to_error_info().message, caplog.text):
        assert "k3y9Z" not in text
    assert "appid=[REDACTED]" in info.value.to_error_info().message
    assert "appid=%5BREDACTED%5D" in caplog.text or "appid=[REDACTED]" in caplog.text
