"""The Kafka token store against the real broker."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from pydantic import SecretStr

from core.auth import OAuthToken, RefreshTokenAuth, TokenCipher, generate_key
from core.settings import Settings
from core.testing import DemoSandbox
from streams import kafka
from streams.tokenstore import KafkaTokenStore

pytestmark = pytest.mark.integration

ACCESS = "at_kafka_secret_access"


def token(access: str = ACCESS, refresh: str = "rt_kafka_secret_refresh") -> OAuthToken:
    return OAuthToken(
        access_token=SecretStr(access), refresh_token=SecretStr(refresh), expires_at=2e9
    )


@pytest.fixture
def topic() -> str:
    return f"test.tokens.{uuid.uuid4().hex[:10]}"


async def eventually(check: object, timeout: float = 15.0) -> None:
    """Await ``check()`` until it is truthy or the deadline passes (no fixed sleeps)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():  # type: ignore[operator]
        if loop.time() > deadline:
            raise AssertionError(f"not true within {timeout} s")
        await asyncio.sleep(0.05)  # allowed: polling interval of a deadline loop


async def test_round_trip_reload_and_tombstone(settings: Settings, topic: str) -> None:
    cipher = TokenCipher(generate_key())
    async with KafkaTokenStore(settings, cipher, topic=topic) as store:
        assert await store.get("acme") is None
        await store.put("acme", token("at_1"))
        await store.put("acme", token("at_2"))
        await store.put("other", token("at_x"))
        await store.delete("other")
        assert await store.get("other") is None
        stored = await store.get("acme")
        assert stored is not None
        assert stored.access_token.get_secret_value() == "at_2"

    async with KafkaTokenStore(settings, cipher, topic=topic) as reloaded:
        again = await reloaded.get("acme")
        assert again is not None
        assert again.access_token.get_secret_value() == "at_2"
        assert await reloaded.get("other") is None


async def test_values_on_the_topic_are_ciphertext(settings: Settings, topic: str) -> None:
    async with KafkaTokenStore(settings, TokenCipher(generate_key()), topic=topic) as store:
        await store.put("acme", token())
    consumer = kafka.consumer(settings, topic, group_id=None)
    async with kafka.connect(settings, consumer):
        batches = await consumer.getmany(timeout_ms=10_000)
    records = [r for rs in batches.values() for r in rs]
    assert [r.key for r in records] == [b"acme"]
    assert ACCESS.encode() not in records[0].value
    assert b"rt_kafka" not in records[0].value


async def test_another_worker_sees_a_rotation(settings: Settings, topic: str) -> None:
    cipher = TokenCipher(generate_key())
    async with (
        KafkaTokenStore(settings, cipher, topic=topic) as a,
        KafkaTokenStore(settings, cipher, topic=topic) as b,
    ):
        await a.put("acme", token("at_1", "rt_1"))
        await a.put("acme", token("at_2", "rt_2"))

        async def b_sees_rotation() -> bool:
            seen = await b.get("acme")
            return seen is not None and seen.refresh_token == SecretStr("rt_2")

        await eventually(b_sees_rotation)


async def test_rotated_refresh_token_persisted_in_kafka(settings: Settings, topic: str) -> None:
    cipher = TokenCipher(generate_key())
    async with DemoSandbox() as sandbox:
        initial = sandbox.oauth.issue_refresh_token()
        url = f"{sandbox.url}/oauth/token"
        async with KafkaTokenStore(settings, cipher, topic=topic) as store:
            auth = RefreshTokenAuth(
                url, "sandbox-client", "sandbox-secret", refresh_token=initial, store=store
            )
            async with httpx.AsyncClient(base_url=sandbox.url, auth=auth) as client:
                assert (await client.get("/oauth/me")).status_code == 200
            await auth.aclose()

        sandbox.oauth.revoke_access_tokens()
        async with KafkaTokenStore(settings, cipher, topic=topic) as restarted:
            stored = await restarted.get(auth.store_key)
            assert stored is not None
            assert stored.refresh_token is not None
            assert stored.refresh_token.get_secret_value() != initial
            assert sandbox.oauth.refresh_token_valid(stored.refresh_token.get_secret_value())
            fresh = RefreshTokenAuth(url, "sandbox-client", "sandbox-secret", store=restarted)
            async with httpx.AsyncClient(base_url=sandbox.url, auth=fresh) as client:
                assert (await client.get("/oauth/me")).status_code == 200
            assert fresh.fetches == 1
            await fresh.aclose()


async def test_not_started_is_refused(settings: Settings, topic: str) -> None:
    store = KafkaTokenStore(settings, TokenCipher(generate_key()), topic=topic)
    with pytest.raises(RuntimeError, match="not started"):
        await store.get("acme")
