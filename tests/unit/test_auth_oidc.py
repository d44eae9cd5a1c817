"""OpenID Connect against the sandbox's provider: discovery, JWKS, rotation,
forged id_tokens refused, https required, reserved parameters, device intervals
as the server saw them (issue #9.8)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest
from pydantic import ValidationError

from core.auth import (
    AuthFlowError,
    AuthorizationCodeFlow,
    ClientCredentialsAuth,
    DeviceFlow,
    OIDCProvider,
    auth_settings_adapter,
)
from core.errors import InvalidBodyError, PolicyError
from core.testing import DemoSandbox
from tests.authtools import authorize, demo_sandbox
from tests.fakeclock import EPOCH, FakeClock

REDIRECT = "http://127.0.0.1:9/callback"


@pytest.fixture
async def sandbox() -> AsyncIterator[DemoSandbox]:
    async for sb in demo_sandbox():
        yield sb


@pytest.fixture
def clock(sandbox: DemoSandbox) -> FakeClock:
    clock = FakeClock(EPOCH)
    sandbox.oauth.wall_clock = clock  # the provider signs on the test's clock
    return clock


async def discovered_flow(sandbox: DemoSandbox, clock: FakeClock) -> AuthorizationCodeFlow:
    oidc = OIDCProvider(f"{sandbox.url}/oauth", clock=clock, leeway=30)
    return await AuthorizationCodeFlow.discover(
        oidc, "public", REDIRECT, scope="openid", clock=clock
    )


async def sign_in(flow: AuthorizationCodeFlow) -> str:
    return await authorize(flow.start().url)


async def test_discovered_flow_verifies_a_signed_id_token(
    sandbox: DemoSandbox, clock: FakeClock
) -> None:
    flow = await discovered_flow(sandbox, clock)
    assert flow.authorize_url == f"{sandbox.url}/oauth/authorize"
    token = await flow.finish(await sign_in(flow))
    assert token.id_token is not None
    assert token.id_token.count(".") == 2
    assert sandbox.oauth.discovery_requests == 1
    assert sandbox.oauth.jwks_requests == 1
    token = await flow.finish(await sign_in(flow))  # keys cached
    assert sandbox.oauth.jwks_requests == 1
    await flow.aclose()


FORGERIES: dict[str, tuple[str | None, dict[str, Any], str]] = {
    "alg_none": ("none", {}, "algorithm 'none'"),
    "hs256_with_public_key": ("hs256", {}, "algorithm 'HS256'"),
    "wrong_key": ("wrong_key", {}, "bad signature"),
    "unknown_kid": ("unknown_kid", {}, "not in the provider's JWKS"),
    "wrong_issuer": (None, {"iss": "https://idp.attacker.example"}, "wrong issuer"),
    "wrong_audience": (None, {"aud": "someone-elses-client"}, "wrong audience"),
    "several_audiences_no_azp": (None, {"aud": ["public", "other"]}, "azp"),
    "expired": (None, {"exp": 1_800_000_000 - 3600, "iat": 1_800_000_000 - 7200}, "expired"),
    "issued_in_the_future": (None, {"iat": 1_800_000_000 + 3600}, "future"),
    "no_subject": (None, {"sub": None}, "sub"),
    "nonce_mismatch": (None, {"nonce": "someone-elses-nonce"}, "nonce"),
}


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
async def test_forged_id_tokens_are_refused(
    forgery: str, sandbox: DemoSandbox, clock: FakeClock
) -> None:
    forge, overrides, reason = FORGERIES[forgery]
    sandbox.oauth.forge_id_token = forge
    sandbox.oauth.id_token_overrides = dict(overrides)
    flow = await discovered_flow(sandbox, clock)
    with pytest.raises(AuthFlowError, match=reason) as info:
        await flow.finish(await sign_in(flow))
    assert "\n" not in str(info.value)
    await flow.aclose()


async def test_small_clock_skew_is_tolerated(sandbox: DemoSandbox, clock: FakeClock) -> None:
    sandbox.oauth.id_token_overrides = {"iat": int(clock.now) + 20, "exp": int(clock.now) - 20}
    flow = await discovered_flow(sandbox, clock)  # leeway 30 s
    assert (await flow.finish(await sign_in(flow))).id_token
    await flow.aclose()


@pytest.mark.parametrize("keep_old", [True, False])
async def test_key_rotation_refetches_the_jwks_once(
    keep_old: bool, sandbox: DemoSandbox, clock: FakeClock
) -> None:
    sandbox.oauth.jwks_keep_old = keep_old
    flow = await discovered_flow(sandbox, clock)
    await flow.finish(await sign_in(flow))
    assert sandbox.oauth.jwks_requests == 1
    sandbox.oauth.rotate_signing_key()
    await flow.finish(await sign_in(flow))  # a kid we have not seen: refetch, then verify
    assert sandbox.oauth.jwks_requests == 2
    await flow.finish(await sign_in(flow))
    assert sandbox.oauth.jwks_requests == 2
    sandbox.oauth.forge_id_token = "unknown_kid"
    with pytest.raises(AuthFlowError, match="JWKS"):
        await flow.finish(await sign_in(flow))
    assert sandbox.oauth.jwks_requests == 3  # exactly one refetch per unknown kid
    await flow.aclose()


async def test_an_id_token_is_never_returned_unverified(
    sandbox: DemoSandbox, clock: FakeClock
) -> None:
    flow = AuthorizationCodeFlow(
        f"{sandbox.url}/oauth/authorize", f"{sandbox.url}/oauth/token", "public", REDIRECT
    )
    with pytest.raises(AuthFlowError, match="oidc=OIDCProvider"):
        await flow.finish(await sign_in(flow))
    await flow.aclose()


async def test_a_discovery_document_of_another_issuer_is_refused(sandbox: DemoSandbox) -> None:
    # The sandbox names the issuer after the Host it was asked for.
    async with httpx.AsyncClient(headers={"Host": "idp.attacker.example"}) as client:
        oidc = OIDCProvider(f"{sandbox.url}/oauth", client=client)
        with pytest.raises(AuthFlowError, match="not the configured issuer"):
            await oidc.metadata()


async def test_a_missing_discovery_document_is_one_clear_error(sandbox: DemoSandbox) -> None:
    oidc = OIDCProvider(f"{sandbox.url}/elsewhere")
    with pytest.raises(InvalidBodyError, match="OIDC discovery"):
        await oidc.metadata()
    await oidc.aclose()


@pytest.mark.parametrize(
    ("build", "setting"),
    [
        (lambda: OIDCProvider("http://idp.example"), "issuer"),
        (
            lambda: AuthorizationCodeFlow("http://idp.example/a", "https://x/t", "c", REDIRECT),
            "authorize_url",
        ),
        (
            lambda: AuthorizationCodeFlow("https://idp.example/a", "http://x/t", "c", REDIRECT),
            "token_url",
        ),
        (lambda: DeviceFlow("http://idp.example/d", "https://x/t", "c"), "device_url"),
        (lambda: ClientCredentialsAuth("http://idp.example/t", "c", "s"), "token_url"),
    ],
)
def test_plain_http_is_refused_off_loopback(build: Any, setting: str) -> None:
    with pytest.raises(PolicyError) as info:
        build()
    assert info.value.setting == setting
    assert str(info.value).startswith(f"{setting} must be an https URL")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("host", ["127.0.0.1:8080", "localhost", "[::1]:9000"])
def test_plain_http_is_fine_on_loopback(host: str) -> None:
    assert OIDCProvider(f"http://{host}/oauth").issuer == f"http://{host}/oauth"


@pytest.mark.parametrize(
    "name",
    [
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
        "redirect_uri",
        "response_type",
        "client_id",
        "STATE",
    ],
)
def test_extra_cannot_override_the_flows_parameters(name: str) -> None:
    with pytest.raises(PolicyError, match=name.lower()) as info:
        AuthorizationCodeFlow(
            "https://idp.example/a", "https://idp.example/t", "c", REDIRECT, extra={name: "x"}
        )
    assert info.value.setting == "extra"


def test_authorize_url_cannot_preset_the_flows_parameters() -> None:
    with pytest.raises(PolicyError, match="state") as info:
        AuthorizationCodeFlow(
            "https://idp.example/a?tenant=t&state=fixed", "https://idp.example/t", "c", REDIRECT
        )
    assert info.value.setting == "authorize_url"


def test_extra_parameters_are_sent() -> None:
    flow = AuthorizationCodeFlow(
        "https://idp.example/a",
        "https://idp.example/t",
        "c",
        REDIRECT,
        extra={"prompt": "consent", "login_hint": "a@b.c"},
    )
    request = flow.start()
    sent = dict(parse_qsl(urlsplit(request.url).query))
    assert sent["prompt"] == "consent"
    assert sent["login_hint"] == "a@b.c"
    assert sent["state"] == request.state
    assert sent["code_challenge_method"] == "S256"


async def test_a_tampered_authorize_url_cannot_swap_the_nonce(
    sandbox: DemoSandbox, clock: FakeClock
) -> None:
    flow = await discovered_flow(sandbox, clock)
    params = dict(parse_qsl(urlsplit(flow.start().url).query))
    params["nonce"] = "attacker-nonce"
    tampered = f"{sandbox.url}/oauth/authorize?{urlencode(params)}"
    with pytest.raises(AuthFlowError, match="nonce"):
        await flow.finish(await authorize(tampered))
    await flow.aclose()


# --- device flow: intervals as the server saw them ---------------------------------


def device_flow(sandbox: DemoSandbox, fake: FakeClock) -> DeviceFlow:
    sandbox.oauth.clock = fake
    sandbox.oauth.device_enforce_interval = True  # too early -> slow_down, like real servers
    return DeviceFlow(
        f"{sandbox.url}/oauth/device/code",
        f"{sandbox.url}/oauth/token",
        "sandbox-client",
        "sandbox-secret",
        sleep=fake.sleep,
        clock=fake,
    )


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


async def test_device_flow_intervals_from_the_servers_view(sandbox: DemoSandbox) -> None:
    fake = FakeClock()
    flow = device_flow(sandbox, fake)
    sandbox.oauth.device_interval = 7
    sandbox.oauth.device_slow_down_polls = 2
    sandbox.oauth.device_pending_polls = 2
    started = fake.now
    code = await flow.start()
    await flow.poll(code)
    polls = sandbox.oauth.device_poll_times
    # interval 7; each slow_down adds 5 s for that and every later poll (RFC 8628 3.5)
    assert [polls[0] - started, *gaps(polls)] == [7, 12, 17, 17, 17]
    counts = sandbox.oauth.token_requests
    assert counts["urn:ietf:params:oauth:grant-type:device_code:error"] == 4  # none early
    await flow.aclose()


async def test_device_flow_minimum_interval_and_expiry(sandbox: DemoSandbox) -> None:
    fake = FakeClock()
    flow = device_flow(sandbox, fake)
    sandbox.oauth.device_interval = 0  # a careless server: we still wait 1 s
    sandbox.oauth.device_ttl = 30
    sandbox.oauth.device_pending_polls = 1_000
    code = await flow.start()
    with pytest.raises(AuthFlowError, match="expired"):
        await flow.poll(code)
    polls = sandbox.oauth.device_poll_times
    assert set(gaps(polls)) == {1.0}
    assert polls[-1] < code.expires_at  # never polls past expires_in
    assert len(polls) == 29
    await flow.aclose()


def test_auth_settings_refuse_a_plain_http_token_url() -> None:
    data = {
        "type": "oauth2_client_credentials",
        "token_url": "http://auth.example.com/token",
        "client_id": "c",
        "client_secret": "s",
    }
    with pytest.raises(ValidationError) as info:
        auth_settings_adapter.validate_python(data)
    (error,) = info.value.errors()
    assert error["loc"] == ("oauth2_client_credentials", "token_url")
    assert "token_url must be an https URL" in error["msg"]
    loopback = {**data, "token_url": "http://127.0.0.1:8080/token"}
    assert auth_settings_adapter.validate_python(loopback)
