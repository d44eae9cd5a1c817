"""A :class:`~core.tokenstore.TokenStore` on a compacted Kafka topic.

Every worker of a deployment sees the same tokens, so a refresh token
rotated by one worker is what the next refresh anywhere uses.

- Topic: ``<prefix>switchboard.tokens`` by default, ``cleanup.policy=compact``,
  one partition (created if missing). Key = the store key (UTF-8), value =
  the Fernet ciphertext of the token bound to that key and versioned
  (:class:`core.tokenstore.TokenCipher`; never plaintext), tombstone = delete.
- Writes go through an idempotent ``acks=all`` producer
  (:func:`streams.kafka.producer`); ``put`` returns once the record is
  acknowledged, and the local view is updated at once (read-your-writes).
- :meth:`KafkaTokenStore.start` reads the topic to its end before it returns,
  then a background task keeps following it, so writes by other workers
  arrive within a poll interval. A record never overrides a newer one this
  store wrote itself (offsets are compared), so a lagging follower cannot
  bring back a rotated-away refresh token.
- What a writer of the topic can forge is refused, one log line each, and
  the record is ignored: a ciphertext sealed for another key (a swap), and
  one whose authenticated version is not above the newest read for its key
  (a rollback, also after a delete). A value that does not decrypt at all
  (another ``encryption_key``) is kept, so ``get`` raises its clear error.
  A key that is not UTF-8 is skipped with one log line; it never stops the
  start. Not refusable: a tombstone (nothing to authenticate) deletes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from aiokafka import TopicPartition

from core.retry import Backoff, RetryPolicy
from core.tokenstore import (
    LEGACY_VERSION,
    OAuthToken,
    TokenCipher,
    TokenKeyMismatch,
    TokenStore,
    TokenStoreError,
    next_version,
)

from ..settings import Settings
from . import clients as kafka
from .topics import TopicSpec, ensure_topics, partitions_of

__all__ = ["KafkaTokenStore", "tokens_topic"]

log = logging.getLogger("switchboard.tokenstore")
#: the follower's pause after a failed fetch: 1 s, every time
FOLLOW_RETRY = RetryPolicy(initial_delay=1.0, max_delay=1.0, jitter="none")


@dataclass(frozen=True)
class _Entry:
    offset: int
    version: int  # the newest version read for the key; kept across a delete
    value: bytes | None


def tokens_topic(settings: Settings) -> str:
    return f"{settings.kafka.topic_prefix}switchboard.tokens"


class KafkaTokenStore(TokenStore):
    """Tokens in a compacted topic (see the module doc). Use ``async with`` or
    ``start()``/``stop()``; ``get``/``put``/``delete`` before ``start`` raise
    RuntimeError."""

    def __init__(
        self,
        settings: Settings,
        cipher: TokenCipher,
        *,
        topic: str | None = None,
        create_topic: bool = True,
        load_timeout: float = 30.0,
    ) -> None:
        self.settings = settings
        self.topic = topic or tokens_topic(settings)
        self._cipher = cipher
        self._create = create_topic
        self._load_timeout = load_timeout
        self._values: dict[str, _Entry] = {}
        self._stack: contextlib.AsyncExitStack | None = None
        self._producer: Any = None
        self._consumer: Any = None
        self._follower: asyncio.Task[None] | None = None
        self._partitions: list[TopicPartition] = []

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Connect, create the topic if allowed, and load it to its end."""
        settings = self.settings
        if self._create:
            spec = TopicSpec(
                self.topic, 1, settings.kafka.replication_factor, {"cleanup.policy": "compact"}
            )
            await ensure_topics(settings, [spec])
        numbers = await partitions_of(settings, self.topic)
        if not numbers:
            raise TokenStoreError(f"token topic {self.topic!r} does not exist")
        self._partitions = [TopicPartition(self.topic, n) for n in numbers]
        stack = contextlib.AsyncExitStack()
        try:
            self._producer = await stack.enter_async_context(
                kafka.connect(settings, kafka.producer(settings))
            )
            self._consumer = await stack.enter_async_context(
                kafka.connect(settings, kafka.consumer(settings, group_id=None))
            )
            self._consumer.assign(self._partitions)
            await self._consumer.seek_to_beginning(*self._partitions)
            await self._load_to_end()
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack
        self._follower = asyncio.create_task(self._follow(), name=f"tokenstore:{self.topic}")

    async def stop(self) -> None:
        follower, self._follower = self._follower, None
        if follower is not None:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()

    async def _load_to_end(self) -> None:
        ends = await self._consumer.end_offsets(self._partitions)
        deadline = time.monotonic() + self._load_timeout
        for tp in self._partitions:
            while await self._consumer.position(tp) < ends[tp]:
                if time.monotonic() > deadline:
                    raise TokenStoreError(
                        f"token topic {self.topic!r} not loaded within {self._load_timeout} s"
                    )
                self._apply(await self._consumer.getmany(tp, timeout_ms=500))

    async def _follow(self) -> None:
        backoff = Backoff(FOLLOW_RETRY)
        while True:
            try:
                self._apply(await self._consumer.getmany(timeout_ms=1000))
                backoff.succeeded()
            except asyncio.CancelledError:
                raise
            except Exception:  # keep following; the next poll retries
                log.exception("token topic follower failed", extra={"topic": self.topic})
                await asyncio.sleep(backoff.failed())

    def _apply(self, batches: dict[TopicPartition, list[Any]]) -> None:
        for records in batches.values():
            for record in records:
                if record.key is None:
                    continue
                try:
                    key = record.key.decode()
                except UnicodeDecodeError:
                    log.warning(
                        "token topic record at offset %d has a key that is not UTF-8; skipped",
                        record.offset,
                        extra={"topic": self.topic},
                    )
                    continue
                self._take(key, record.offset, record.value)

    def _take(self, key: str, offset: int, value: bytes | None) -> None:
        """Apply one record of ``key`` unless it is older or forged."""
        known = self._values.get(key)
        if known is not None and offset <= known.offset:
            return  # this store already wrote something newer itself
        floor = known.version if known else LEGACY_VERSION
        version = floor
        if value is not None:
            try:
                version = self._cipher.open(value, key=key).version
            except TokenKeyMismatch as exc:
                log.warning("%s; ignored", exc, extra={"topic": self.topic, "offset": offset})
                return
            except TokenStoreError:
                pass  # another encryption_key, or damage: kept so that get() says so
            else:
                # Unbound (legacy) records carry no version: among them the
                # offset decides, as before; below a bound one they are refused.
                if version < floor or version == floor != LEGACY_VERSION:
                    log.warning(
                        "token %r at offset %d is not newer than the one held: "
                        "refused (a rollback); ignored",
                        key,
                        offset,
                        extra={"topic": self.topic},
                    )
                    return
        self._values[key] = _Entry(offset, max(version, floor), value)

    def _require_started(self) -> None:
        if self._stack is None:
            raise RuntimeError("KafkaTokenStore is not started")

    async def get(self, key: str) -> OAuthToken | None:
        self._require_started()
        entry = self._values.get(key)
        if entry is None or entry.value is None:
            return None
        return self._cipher.decrypt(entry.value, key=key)

    async def put(self, key: str, token: OAuthToken) -> None:
        self._require_started()
        known = self._values.get(key)
        version = next_version(known.version if known else LEGACY_VERSION)
        await self._write(key, self._cipher.encrypt(token, key=key, version=version), version)

    async def delete(self, key: str) -> None:
        self._require_started()
        known = self._values.get(key)
        await self._write(key, None, known.version if known else LEGACY_VERSION)

    async def _write(self, key: str, value: bytes | None, version: int) -> None:
        metadata = await self._producer.send_and_wait(self.topic, key=key.encode(), value=value)
        known = self._values.get(key)
        if known is None or metadata.offset > known.offset:
            self._values[key] = _Entry(metadata.offset, version, value)
