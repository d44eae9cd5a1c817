"""The client with core.auth over real sockets: one refresh under concurrency,
no 401 loop, and no secret in any log line or error."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

import connectors
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
from core.client import ClientPolicy, ProviderClient
from core.envelopes import DlqHeaders
from core.observability import Metrics
from core.ratelimit import BudgetRegistry, RatePolicy
from core.retry import RetryPolicy
from core.testing import DemoSandbox
from streams import kafka
from streams.commands import build_command
from streams.kafka.topics import TopicNames, connector_topics, ensure_topics
from streams.settings import load_settings
from streams.sink import Sink
from tests.fakeclock import FakeClock
from tests.kafkatools import read_topic
from tests.waiting import eventually

API_KEY = "sk_test_4eC39HqLyjWDarjtT1zdp7dc"
PLAIN_SECRET = "correct-horse-battery-staple-42"


def _echoed_credentials(request: web.Request, form: Mapping[str, str] | None = None) -> str:
    """Every credential a request carried, raw, the way a careless provider echoes it."""
    found: list[str] = []
    for name, value in request.headers.items():
        if name.lower() == "authorization":
            scheme, _, credential = value.partition(" ")
            found.append(credential)
            if scheme == "Basic":
                found.append(base64.b64decode(credential).decode())
        elif name.lower().startswith("x-"):
            found.append(value)
    found += [str(v) for v in request.query.values()]
    found += [str(v) for v in (form or {}).values()]
    return " ".join(found)


class LeakySandbox(DemoSandbox):
    """A provider that echoes credentials back in its error messages."""

    def routes(self, router: web.UrlDispatcher) -> None:
        super().routes(router)

        async def leak(request: web.Request) -> web.Response:
            auth = request.headers.get("Authorization", "")
            key = request.query.get("api_key", "")
            return web.json_response(
                {"error": {"code": "bad", "message": f"rejected {auth} and key {key}"}},
                status=400,
            )

        async def leak_status(request: web.Request) -> web.Response:
            status = int(request.match_info["status"])
            message = f"rejected {_echoed_credentials(request)}"
            return web.json_response({"error": {"code": "bad", "message": message}}, status=status)

        async def leaky_token(request: web.Request) -> web.Response:
            form = {str(k): str(v) for k, v in (await request.post()).items()}
            description = f"cannot use {_echoed_credentials(request, form)}"
            return web.json_response(
                {"error": "invalid_grant", "error_description": description}, status=400
            )

        router.add_get("/leak", leak)
        router.add_get("/leak/{status}", leak_status)
        router.add_post("/leaky/token", leaky_token)


@pytest.fixture
async def sandbox() -> AsyncIterator[LeakySandbox]:
    async with LeakySandbox() as sb:
        yield sb


def client_for(sandbox: DemoSandbox, auth: object, **policy: object) -> ProviderClient:
    return ProviderClient(
        ClientPolicy(
            connector="demo",
            base_url=sandbox.url,
            retry=RetryPolicy(backoff=False, attempts=3),
            **policy,  # type: ignore[arg-type]
        ),
        auth=auth,  # type: ignore[arg-type]
        budgets=BudgetRegistry(),
        metrics=Metrics(CollectorRegistry()),
        sleep=FakeClock().sleep,  # retries wait no real time
    )


async def test_token_refreshed_exactly_once_under_50_concurrent_requests(
    sandbox: LeakySandbox,
) -> None:
    auth = ClientCredentialsAuth(f"{sandbox.url}/oauth/token", "sandbox-client", "sandbox-secret")
    client = client_for(sandbox, auth)
    async with client:
        first = await asyncio.gather(*(client.get("/oauth/me") for _ in range(50)))
        assert all(r.status == 200 for r in first)
        assert auth.fetches == 1  # one token for 50 concurrent first requests
        sandbox.oauth.revoke_access_tokens()
        second = await asyncio.gather(*(client.get("/oauth/me") for _ in range(50)))
        assert all(r.status == 200 for r in second)
        assert auth.fetches == 2  # 50 x 401 -> exactly one refresh
        assert all(r.attempts == 1 for r in second)  # the auth flow retried, not the client
    await auth.aclose()
    assert sandbox.oauth.issued == 2


async def test_a_401_after_refresh_is_fatal_not_a_loop(sandbox: LeakySandbox) -> None:
    auth = ClientCredentialsAuth(f"{sandbox.url}/oauth/token", "sandbox-client", "sandbox-secret")
    sandbox.oauth.reject_all = True
    async with client_for(sandbox, auth) as client:
        with pytest.raises(e.FatalConfigError) as info:
            await client.get("/oauth/me")
    await auth.aclose()
    assert info.value.status == 401
    assert len(sandbox.requests_to("/oauth/me")) == 2  # first try + one after the refresh
    assert auth.fetches == 2


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
    assert "HTTP Request:" in caplog.text  # httpx logged the calls
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


# --- through the sink: Result, DLQ headers and the health detail (/healthz) --------

SINK_QUERY_KEY = "sink-appid-Qv9Xe2Hn"


async def test_query_api_key_never_reaches_result_dlq_or_health_through_the_sink(
    sandbox: LeakySandbox,
    kafka_bootstrap: str,
    topic_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue #9.6 as reported: an API key in the query (``appid``), a provider
    that echoes it (400) and then refuses it (401)."""
    caplog.set_level(logging.DEBUG)
    auth = {"type": "api_key", "key": SINK_QUERY_KEY, "location": "query", "name": "appid"}
    templates = {
        "leak": {"method": "GET", "url": "/leak/400"},
        "deny": {"method": "GET", "url": "/status/401"},
    }
    env = {
        "KAFKA__BOOTSTRAP_SERVERS": kafka_bootstrap,
        "KAFKA__TOPIC_PREFIX": topic_prefix,
        "SINK__COMMIT_INTERVAL_S": "0.2",
        "GENERIC__BASE_URL": sandbox.url,
        "GENERIC__AUTH": orjson.dumps(auth).decode(),
        "GENERIC__TEMPLATES": orjson.dumps(templates).decode(),
    }
    for name, value in env.items():
        monkeypatch.setenv(f"SWITCHBOARD_{name}", value)
    settings = load_settings(sections=connectors.settings_sections())
    await ensure_topics(settings, connector_topics(settings, "generic"))
    names = TopicNames.from_settings(settings)
    commands = names.commands("generic")
    connector = connectors.get("generic")
    assert connector.api is not None
    sink = Sink(settings, connector, connector.api(settings.section("generic")))
    task = asyncio.create_task(sink.run())
    leak = build_command("generic.request", {"template": "leak"})
    deny = build_command("generic.request", {"template": "deny"})
    try:
        async with kafka.connect(settings, kafka.producer(settings)) as producer:
            await producer.send_and_wait(commands, leak.to_json(), key=b"a")
            (result,) = await read_topic(settings, names.results("generic"), expect=1)
            (dead,) = await read_topic(settings, names.dlq(commands), expect=1)
            await producer.send_and_wait(commands, deny.to_json(), key=b"b")
            # The 401 stops the sink and says why.
            await eventually(lambda: not sink.health.ok)
    finally:
        sink.stop()
        await task
    assert sandbox.requests_to("/leak/400")[0].query_param("appid") == SINK_QUERY_KEY
    assert "401" in sink.health.detail
    dumped = "\n".join(
        [
            result.value.decode(),
            repr(dead.headers),
            sink.health.detail,
            caplog.text,
            repr([r.__dict__ for r in caplog.records]),
        ]
    )
    assert "appid=[REDACTED]" in sink.health.detail
    assert SINK_QUERY_KEY not in dumped
