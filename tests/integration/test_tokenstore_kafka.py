"""The Kafka token store against the real broker."""

from __future__ import annotations

import logging
import uuid

import httpx
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from core.auth import OAuthToken, RefreshTokenAuth, TokenCipher, generate_key
from core.testing import DemoSandbox
from streams import kafka
from streams.settings import Settings
from streams.tokenstore import KafkaTokenStore
from tests.waiting import eventually

pytestmark = pytest.mark.integration

ACCESS = "at_kafka_secret_access"


def token(access: str = ACCESS, refresh: str = "rt_kafka_secret_refresh") -> OAuthToken:
    return OAuthToken(
        access_token=SecretStr(access), refresh_token=SecretStr(refresh), expires_at=2e9
    )


@pytest.fixture
def topic() -> str:
    return f"test.tokens.{uuid.uuid4().hex[:10]}"


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


async def _produce(settings: Settings, topic: str, key: bytes, value: bytes | None) -> None:
    """Write one record as any writer of the token topic can."""
    producer = kafka.producer(settings)
    async with kafka.connect(settings, producer):
        await producer.send_and_wait(topic, key=key, value=value)


async def access_of(store: KafkaTokenStore, key: str) -> str | None:
    """The access token the store holds for ``key``."""
    stored = await store.get(key)
    return stored.access_token.get_secret_value() if stored else None


async def _raw_values(settings: Settings, topic: str) -> list[tuple[bytes, bytes]]:
    consumer = kafka.consumer(settings, topic, group_id=None)
    async with kafka.connect(settings, consumer):
        batches = await consumer.getmany(timeout_ms=10_000)
    return [(r.key, r.value) for rs in batches.values() for r in rs]


async def test_a_swapped_or_rolled_back_record_is_refused(settings: Settings, topic: str) -> None:
    cipher = TokenCipher(generate_key())
    async with KafkaTokenStore(settings, cipher, topic=topic) as store:
        await store.put("a", token("at_a1"))
        await store.put("b", token("at_b"))
        await store.put("a", token("at_a2"))
    (a1, old_a), (_, b), (a2, _) = await _raw_values(settings, topic)
    assert a1 == a2 == b"a"

    async with KafkaTokenStore(settings, cipher, topic=topic) as follower:
        await _produce(settings, topic, b"a", b)  # b's token under a's key
        await _produce(settings, topic, b"b", old_a)  # a's older token under b's key
        await _produce(settings, topic, b"a", old_a)  # a rolled back
        async with KafkaTokenStore(settings, cipher, topic=topic) as writer:
            await writer.put("c", token("at_c"))  # a marker: what came before is applied

        async def caught_up() -> bool:
            return await follower.get("c") is not None

        await eventually(caught_up)
        assert await access_of(follower, "a") == "at_a2"
        assert await access_of(follower, "b") == "at_b"

    # A worker starting now reads the whole log and comes to the same view.
    async with KafkaTokenStore(settings, cipher, topic=topic) as restarted:
        assert await access_of(restarted, "a") == "at_a2"
        assert await access_of(restarted, "b") == "at_b"


async def test_a_key_that_is_not_utf8_does_not_stop_the_start(
    settings: Settings, topic: str, caplog: pytest.LogCaptureFixture
) -> None:
    cipher = TokenCipher(generate_key())
    async with KafkaTokenStore(settings, cipher, topic=topic) as store:
        await store.put("acme", token("at_1"))
    await _produce(settings, topic, b"\xff\xfe", b"whatever")
    with caplog.at_level(logging.WARNING, logger="switchboard.tokenstore"):
        async with KafkaTokenStore(settings, cipher, topic=topic) as store:
            assert await access_of(store, "acme") == "at_1"
    (line,) = [r.getMessage() for r in caplog.records if "UTF-8" in r.getMessage()]
    assert "skipped" in line


async def test_records_of_the_unbound_format_are_read_newest_first(
    settings: Settings, topic: str
) -> None:
    key = generate_key()
    fernet = Fernet(key.encode())
    async with KafkaTokenStore(settings, TokenCipher(key), topic=topic):
        pass  # creates the topic
    for access in ("at_old", "at_new"):  # what today's store wrote on two refreshes
        await _produce(settings, topic, b"acme", fernet.encrypt(token(access).to_json()))
    async with KafkaTokenStore(settings, TokenCipher(key), topic=topic) as store:
        assert await access_of(store, "acme") == "at_new"
        await store.put("acme", token("at_bound"))
    await _produce(settings, topic, b"acme", fernet.encrypt(token("at_old").to_json()))
    async with KafkaTokenStore(settings, TokenCipher(key), topic=topic) as store:
        assert await access_of(store, "acme") == "at_bound"  # legacy below bound: refused
