"""Auth schemes over real sockets against the demo sandbox's OAuth server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

import core.auth
from core.auth import (
    ApiKeyAuth,
    AuthError,
    BasicAuth,
    BearerAuth,
    ClientCredentialsAuth,
    FileTokenStore,
    MemoryTokenStore,
    RefreshTokenAuth,
    TokenCipher,
    generate_key,
)
from core.errors import InvalidBodyError, PolicyError, ServerError
from core.testing import DemoSandbox
from tests.authtools import demo_sandbox
from tests.fakeclock import EPOCH, FakeClock

CLIENT_ID, CLIENT_SECRET = "sandbox-client", "sandbox-secret"


@pytest.fixture
async def sandbox() -> AsyncIterator[DemoSandbox]:
    async for sb in demo_sandbox():
        yield sb


def token_url(sandbox: DemoSandbox) -> str:
    return f"{sandbox.url}/oauth/token"


async def get_many(sandbox: DemoSandbox, auth: httpx.Auth, n: int) -> list[int]:
    async with httpx.AsyncClient(base_url=sandbox.url, auth=auth, timeout=10) as client:
        responses = await asyncio.gather(*(client.get("/oauth/me") for _ in range(n)))
    return [r.status_code for r in responses]


def test_public_surface() -> None:
    assert sorted(core.auth.__all__) == sorted(
        [
            "ApiKeyAuth", "ApiKeySettings", "AuthError", "AuthFlowError", "AuthSettings",
            "AuthorizationCodeFlow", "AuthorizationRequest", "BasicAuth", "BasicSettings",
            "BearerAuth", "BearerSettings", "ClientCredentialsAuth", "ClientCredentialsSettings",
            "DeviceCode", "DeviceFlow", "FileTokenStore", "MemoryTokenStore", "OAuth2Auth",
            "OAuthToken", "OIDCMetadata", "OIDCProvider", "PKCEPair", "RefreshTokenAuth",
            "RefreshTokenSettings", "TokenCipher",
            "TokenEndpoint", "TokenStore", "TokenStoreError", "TokenStoreSettings",
            "auth_settings_adapter", "build_auth", "generate_key", "pkce_challenge",
        ]
    )  # fmt: skip
    assert all(hasattr(core.auth, name) for name in core.auth.__all__)


async def test_client_secret_with_reserved_characters(sandbox: DemoSandbox) -> None:
    sandbox.oauth.clients["odd client"] = "s3cr:t+/&="
    for method in ("basic", "post"):
        auth = ClientCredentialsAuth(
            token_url(sandbox),
            "odd client",
            "s3cr:t+/&=",
            auth_method=method,
        )
        assert await get_many(sandbox, auth, 1) == [200]
        await auth.aclose()


# --- static schemes ----------------------------------------------------------


async def test_static_schemes_reach_the_server(sandbox: DemoSandbox) -> None:
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        await client.get("/echo", auth=BearerAuth("tok-1"))
        await client.get("/echo", auth=BasicAuth("user", "pa:ss"))
        await client.get("/echo", auth=ApiKeyAuth("k-1", name="X-Api-Key"))
        await client.get("/echo?a=1", auth=ApiKeyAuth("k-2", location="query", name="api_key"))
    bearer, basic, header_key, query_key = sandbox.requests
    assert bearer.header("Authorization") == "Bearer tok-1"
    assert basic.header("Authorization") == "Basic dXNlcjpwYTpzcw=="
    assert header_key.header("X-Api-Key") == "k-1"
    assert query_key.query_param("api_key") == "k-2"
    assert query_key.query_param("a") == "1"
    assert "k-2" not in repr(ApiKeyAuth("k-2", location="query", name="api_key"))


def test_invalid_static_settings_name_the_setting() -> None:
    with pytest.raises(PolicyError) as err:
        BearerAuth("")
    assert err.value.setting == "token"
    with pytest.raises(PolicyError) as err:
        ApiKeyAuth("k", location="cookie")  # type: ignore[arg-type]
    assert err.value.setting == "location"


def test_invalid_oauth_settings_name_the_setting() -> None:
    with pytest.raises(PolicyError) as err:
        ClientCredentialsAuth("", CLIENT_ID, CLIENT_SECRET)
    assert err.value.setting == "token_url"
    with pytest.raises(PolicyError) as err:
        ClientCredentialsAuth("ftp://x/token", CLIENT_ID, CLIENT_SECRET)
    assert err.value.setting == "token_url"
    with pytest.raises(PolicyError) as err:
        ClientCredentialsAuth("https://x/token", CLIENT_ID, "")
    assert err.value.setting == "client_secret"
    with pytest.raises(PolicyError) as err:
        ClientCredentialsAuth("https://x/token", CLIENT_ID, "s", refresh_margin=-1)
    assert err.value.setting == "refresh_margin"
    with pytest.raises(PolicyError) as err:
        RefreshTokenAuth("https://x/token", CLIENT_ID)
    assert err.value.setting == "refresh_token"
    # The message names the setting intact (redaction scrubs "refresh_token: <word>").
    assert str(err.value) == "refresh_token is required when no token store holds one"
    with pytest.raises(PolicyError) as err:
        ClientCredentialsAuth("https://x/token", CLIENT_ID, "")
    assert str(err.value) == "client_secret is required"


# --- client credentials --------------------------------------------------------


async def test_one_fetch_for_50_concurrent_requests(sandbox: DemoSandbox) -> None:
    sandbox.set_latency(0.01)  # keep the token request in flight while the others queue
    auth = ClientCredentialsAuth(token_url(sandbox), CLIENT_ID, CLIENT_SECRET)
    assert await get_many(sandbox, auth, 50) == [200] * 50
    assert sandbox.oauth.token_requests["client_credentials:ok"] == 1
    assert auth.fetches == 1
    await auth.aclose()


async def test_refresh_ahead_of_expiry(sandbox: DemoSandbox) -> None:
    clock = FakeClock(EPOCH)
    sandbox.oauth.access_ttl = 100
    auth = ClientCredentialsAuth(
        token_url(sandbox), CLIENT_ID, CLIENT_SECRET, refresh_margin=10, clock=clock
    )
    assert await get_many(sandbox, auth, 3) == [200] * 3
    clock.now += 85  # 15 s left: not due yet
    assert await get_many(sandbox, auth, 1) == [200]
    assert auth.fetches == 1
    clock.now += 6  # 9 s left: inside the margin
    assert await get_many(sandbox, auth, 5) == [200] * 5
    assert auth.fetches == 2
    assert all(r.outcome == "handled" for r in sandbox.requests_to("/oauth/me"))
    assert not [r for r in sandbox.requests_to("/oauth/me") if r.header("Authorization") is None]
    await auth.aclose()


async def test_401_refreshes_once_for_many_requests(sandbox: DemoSandbox) -> None:
    auth = ClientCredentialsAuth(token_url(sandbox), CLIENT_ID, CLIENT_SECRET, auth_method="post")
    assert await get_many(sandbox, auth, 1) == [200]
    sandbox.oauth.revoke_access_tokens()
    assert await get_many(sandbox, auth, 50) == [200] * 50
    assert auth.fetches == 2
    await auth.aclose()


async def test_401_after_refresh_is_returned_not_looped(sandbox: DemoSandbox) -> None:
    auth = ClientCredentialsAuth(token_url(sandbox), CLIENT_ID, CLIENT_SECRET)
    assert await get_many(sandbox, auth, 1) == [200]
    sandbox.oauth.reject_all = True
    sandbox.log.clear()
    assert await get_many(sandbox, auth, 1) == [401]
    assert len(sandbox.requests_to("/oauth/me")) == 2  # the request and one retry
    assert len(sandbox.requests_to("/oauth/token")) == 1  # one refresh
    assert auth.fetches == 2
    await auth.aclose()


async def test_post_body_is_resent_on_the_401_retry(sandbox: DemoSandbox) -> None:
    auth = ClientCredentialsAuth(token_url(sandbox), CLIENT_ID, CLIENT_SECRET)
    assert await get_many(sandbox, auth, 1) == [200]
    sandbox.oauth.revoke_access_tokens()
    async with httpx.AsyncClient(base_url=sandbox.url, auth=auth) as client:
        response = await client.post("/oauth/me", content=b'{"n":1}')
    assert response.status_code == 200
    first, retry = sandbox.requests_to("/oauth/me", "POST")
    assert first.body == retry.body == b'{"n":1}'
    assert first.header("Authorization") != retry.header("Authorization")
    await auth.aclose()


async def test_wrong_client_secret_is_an_auth_error_without_the_secret(
    sandbox: DemoSandbox,
) -> None:
    auth = ClientCredentialsAuth(token_url(sandbox), CLIENT_ID, "not-the-secret")
    async with httpx.AsyncClient(base_url=sandbox.url, auth=auth) as client:
        with pytest.raises(AuthError) as err:
            await client.get("/oauth/me")
    assert err.value.provider_code == "invalid_client"
    assert err.value.status == 401
    assert "not-the-secret" not in str(err.value)
    assert "not-the-secret" not in repr(err.value.to_error_info())
    await auth.aclose()


async def test_token_endpoint_failures_map_into_the_tree(sandbox: DemoSandbox) -> None:
    auth = ClientCredentialsAuth(token_url(sandbox), CLIENT_ID, CLIENT_SECRET)
    async with httpx.AsyncClient(base_url=sandbox.url, auth=auth) as client:
        sandbox.fail_next(1, status=503, path="/oauth/token", retry_after=2)
        with pytest.raises(ServerError) as err:
            await client.get("/oauth/me")
        assert err.value.retry_after == 2
        sandbox.non_json_next(path="/oauth/token")
        with pytest.raises(InvalidBodyError):
            await client.get("/oauth/me")
        assert (await client.get("/oauth/me")).status_code == 200
    await auth.aclose()


def test_sync_client_is_refused() -> None:
    with (
        DemoSandbox().in_thread() as sandbox,
        httpx.Client(
            base_url=sandbox.url,
            auth=ClientCredentialsAuth(token_url(sandbox), CLIENT_ID, CLIENT_SECRET),
        ) as client,
        pytest.raises(RuntimeError, match="AsyncClient"),
    ):
        client.get("/oauth/me")


async def test_client_credentials_token_cached_in_store(sandbox: DemoSandbox) -> None:
    store = MemoryTokenStore()
    first = ClientCredentialsAuth(token_url(sandbox), CLIENT_ID, CLIENT_SECRET, store=store)
    assert await get_many(sandbox, first, 1) == [200]
    second = ClientCredentialsAuth(token_url(sandbox), CLIENT_ID, CLIENT_SECRET, store=store)
    assert await get_many(sandbox, second, 3) == [200] * 3
    assert second.fetches == 0  # the stored, still valid token was reused
    assert sandbox.oauth.token_requests["client_credentials:ok"] == 1
    await first.aclose()
    await second.aclose()


# --- refresh token -------------------------------------------------------------------


async def test_rotated_refresh_token_is_persisted(sandbox: DemoSandbox, tmp_path: Path) -> None:
    store = FileTokenStore(tmp_path / "tokens.json", TokenCipher(generate_key()))
    initial = sandbox.oauth.issue_refresh_token()
    auth = RefreshTokenAuth(
        token_url(sandbox),
        CLIENT_ID,
        CLIENT_SECRET,
        refresh_token=initial,
        store=store,
        store_key="demo",
    )
    assert await get_many(sandbox, auth, 10) == [200] * 10
    stored = await store.get("demo")
    assert stored is not None
    assert stored.refresh_token is not None
    rotated = stored.refresh_token.get_secret_value()
    assert rotated != initial
    assert not sandbox.oauth.refresh_token_valid(initial)
    assert sandbox.oauth.refresh_token_valid(rotated)
    await auth.aclose()

    # A new process: nothing but the store. The access token is revoked, so
    # the 401 forces a refresh, which only works with the persisted token.
    sandbox.oauth.revoke_access_tokens()
    restarted = RefreshTokenAuth(
        token_url(sandbox), CLIENT_ID, CLIENT_SECRET, store=store, store_key="demo"
    )
    assert await get_many(sandbox, restarted, 5) == [200] * 5
    assert restarted.fetches == 1
    again = await store.get("demo")
    assert again is not None
    assert again.refresh_token is not None
    assert again.refresh_token.get_secret_value() not in (initial, rotated)
    await restarted.aclose()


async def test_refresh_token_kept_when_not_rotated(sandbox: DemoSandbox) -> None:
    sandbox.oauth.rotate_refresh_tokens = False
    initial = sandbox.oauth.issue_refresh_token()
    store = MemoryTokenStore()
    auth = RefreshTokenAuth(
        token_url(sandbox), CLIENT_ID, CLIENT_SECRET, refresh_token=initial, store=store
    )
    assert await get_many(sandbox, auth, 1) == [200]
    stored = await store.get(auth.store_key)
    assert stored is not None
    assert stored.refresh_token is not None
    assert stored.refresh_token.get_secret_value() == initial
    await auth.aclose()


async def test_revoked_refresh_token_is_an_auth_error(sandbox: DemoSandbox) -> None:
    auth = RefreshTokenAuth(
        token_url(sandbox), CLIENT_ID, CLIENT_SECRET, refresh_token="rt_unknown"
    )
    async with httpx.AsyncClient(base_url=sandbox.url, auth=auth) as client:
        with pytest.raises(AuthError) as err:
            await client.get("/oauth/me")
    assert err.value.provider_code == "invalid_grant"
    assert "rt_unknown" not in str(err.value)
    await auth.aclose()
