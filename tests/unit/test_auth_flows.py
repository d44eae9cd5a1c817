"""Authorization code + PKCE and device authorization, against the sandbox."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest

from core.auth import (
    AuthFlowError,
    AuthorizationCodeFlow,
    DeviceFlow,
    OIDCProvider,
    PKCEPair,
    pkce_challenge,
)
from core.errors import PolicyError
from core.testing import DemoSandbox, pkce_s256
from tests.authtools import authorize, demo_sandbox
from tests.fakeclock import EPOCH, FakeClock

REDIRECT = "http://127.0.0.1:9/callback"

# RFC 7636 Appendix B: the 32 octets, the verifier they encode to, its S256 challenge.
RFC7636_OCTETS = bytes(
    (116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186,
     22, 212, 37, 77, 105, 214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121)
)  # fmt: skip
RFC7636_VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
RFC7636_CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


@pytest.fixture
async def sandbox() -> AsyncIterator[DemoSandbox]:
    async for sb in demo_sandbox():
        yield sb


def test_pkce_s256_matches_rfc7636_appendix_b() -> None:
    assert base64.urlsafe_b64encode(RFC7636_OCTETS).decode().rstrip("=") == RFC7636_VERIFIER
    assert pkce_challenge(RFC7636_VERIFIER) == RFC7636_CHALLENGE
    assert pkce_s256(RFC7636_VERIFIER) == RFC7636_CHALLENGE  # the sandbox agrees


def test_generated_pkce_pair_is_valid() -> None:
    pair = PKCEPair.generate()
    assert 43 <= len(pair.verifier) <= 128
    assert pair.challenge == pkce_challenge(pair.verifier)
    assert pair.verifier not in repr(pair)
    with pytest.raises(ValueError, match="43 to 128"):
        pkce_challenge("short")


def make_flow(sandbox: DemoSandbox, clock: FakeClock | None = None) -> AuthorizationCodeFlow:
    clock = clock or FakeClock(EPOCH)
    sandbox.oauth.wall_clock = clock  # the provider signs id_tokens on the same clock
    return AuthorizationCodeFlow(
        f"{sandbox.url}/oauth/authorize",
        f"{sandbox.url}/oauth/token",
        "public",
        REDIRECT,
        scope="openid read",
        state_ttl=300,
        clock=clock,
        oidc=OIDCProvider(f"{sandbox.url}/oauth", clock=clock),
    )


async def test_authorization_code_with_pkce(sandbox: DemoSandbox) -> None:
    flow = make_flow(sandbox)
    request = flow.start()
    sent = dict(parse_qsl(urlsplit(request.url).query))
    assert sent["code_challenge_method"] == "S256"
    assert sent["code_challenge"] == pkce_challenge(request.pkce.verifier)
    assert sent["state"] == request.state
    assert sent["nonce"] == request.nonce
    token = await flow.finish(await authorize(request.url))
    assert token.access_token.get_secret_value().startswith("at_")
    assert token.refresh_token is not None
    (exchange,) = sandbox.requests_to("/oauth/token")
    form = dict(parse_qsl(exchange.body.decode()))
    assert form["code_verifier"] == request.pkce.verifier
    await flow.aclose()


async def test_server_rejects_a_wrong_verifier(sandbox: DemoSandbox) -> None:
    flow = make_flow(sandbox)
    request = flow.start()
    code = dict(parse_qsl(urlsplit(await authorize(request.url)).query))["code"]
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{sandbox.url}/oauth/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT,
                "client_id": "public",
                "code_verifier": PKCEPair.generate().verifier,
            },
        )
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_grant"}


async def test_state_mismatch_reuse_and_expiry_are_rejected(sandbox: DemoSandbox) -> None:
    clock = FakeClock(EPOCH)
    flow = make_flow(sandbox, clock)
    request = flow.start()
    callback = await authorize(request.url)
    forged = callback.replace(request.state, "forged-state")
    with pytest.raises(AuthFlowError, match="state"):
        await flow.finish(forged)
    await flow.finish(callback)
    with pytest.raises(AuthFlowError, match="state"):
        await flow.finish(callback)  # single use

    late = flow.start()
    callback = await authorize(late.url)
    clock.now += 301
    with pytest.raises(AuthFlowError, match="expired"):
        await flow.finish(callback)
    await flow.aclose()


async def test_nonce_mismatch_is_rejected(sandbox: DemoSandbox) -> None:
    flow = make_flow(sandbox)
    request = flow.start()
    params = dict(parse_qsl(urlsplit(request.url).query))
    params["nonce"] = "someone-elses-nonce"  # the id_token will carry this one
    tampered = f"{sandbox.url}/oauth/authorize?{urlencode(params)}"
    with pytest.raises(AuthFlowError, match="nonce"):
        await flow.finish(await authorize(tampered))
    await flow.aclose()


async def test_error_in_callback_is_rejected(sandbox: DemoSandbox) -> None:
    flow = make_flow(sandbox)
    request = flow.start()
    with pytest.raises(AuthFlowError) as err:
        await flow.finish({"state": request.state, "error": "access_denied"})
    assert err.value.provider_code == "access_denied"
    await flow.aclose()


def test_flow_settings_are_checked() -> None:
    with pytest.raises(PolicyError) as err:
        AuthorizationCodeFlow("https://x/a", "https://x/t", "c", "not a url")
    assert err.value.setting == "redirect_uri"
    with pytest.raises(PolicyError) as err:
        AuthorizationCodeFlow("https://x/a", "https://x/t", "c", REDIRECT, state_ttl=0)
    assert err.value.setting == "state_ttl"


def device_flow(sandbox: DemoSandbox, fake: FakeClock) -> DeviceFlow:
    return DeviceFlow(
        f"{sandbox.url}/oauth/device/code",
        f"{sandbox.url}/oauth/token",
        "sandbox-client",
        "sandbox-secret",
        scope="read",
        sleep=fake.sleep,
        clock=fake,
    )


async def test_device_flow_honours_pending_and_slow_down(sandbox: DemoSandbox) -> None:
    sandbox.oauth.device_slow_down_polls = 1
    sandbox.oauth.device_pending_polls = 2
    fake = FakeClock(0.0)
    flow = device_flow(sandbox, fake)
    code = await flow.start()
    assert code.user_code
    assert code.verification_uri.endswith("/device")
    token = await flow.poll(code)
    assert token.access_token.get_secret_value().startswith("at_")
    # 5 s before the first poll; slow_down adds 5 s for every later poll.
    assert fake.sleeps == [5, 10, 10, 10]
    errors = sandbox.oauth.token_requests
    assert errors["urn:ietf:params:oauth:grant-type:device_code:error"] == 3
    await flow.aclose()


async def test_device_flow_denied_and_expired(sandbox: DemoSandbox) -> None:
    fake = FakeClock(0.0)
    flow = device_flow(sandbox, fake)
    sandbox.oauth.device_pending_polls = 1
    code = await flow.start()
    sandbox.oauth.deny_device(code.user_code)
    with pytest.raises(AuthFlowError) as err:
        await flow.poll(code)
    assert err.value.provider_code == "access_denied"

    sandbox.oauth.device_ttl = 30
    sandbox.oauth.device_pending_polls = 1_000
    code = await flow.start()
    with pytest.raises(AuthFlowError, match="expired"):
        await flow.poll(code)
    assert sum(fake.sleeps[1:]) < 30  # never waits past the code's lifetime
    await flow.aclose()
