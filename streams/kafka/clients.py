"""aiokafka clients built from settings.

Every producer, consumer and admin client Switchboard makes comes from here,
so security options (SASL/SSL) and the durability defaults are set once:

- producers are idempotent with ``acks=all``: a record acknowledged to a
  caller is on every in-sync replica and is never written twice by a retry;
- consumers never auto-commit: offsets are committed only for finished work;
- the size limits agree: a record of up to :data:`MAX_RECORD_BYTES` (a
  25 MiB GitHub delivery in its envelope, re-encoded) can be produced, is
  accepted by the topics Switchboard creates (``max.message.bytes``, see
  :mod:`streams.kafka.topics`) and fetched by its consumers. Kafka's defaults
  (about 1 MiB each) would refuse larger events.

:func:`connect` wraps a client's start in a deadline and turns every failure
into :class:`KafkaUnavailable`, whose message says how to start the local
broker, so no command hangs or prints a traceback when Kafka is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol, TypeVar, cast

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.helpers import create_ssl_context

from ..settings import Settings

__all__ = [
    "MAX_MESSAGE_BYTES",
    "MAX_RECORD_BYTES",
    "KafkaUnavailable",
    "admin",
    "client_options",
    "connect",
    "consumer",
    "iter_since",
    "producer",
    "read_since",
    "ssl_context",
]

HOW_TO_START = (
    "start the local broker with `switchboard kafka start` (or `make demo`), "
    "or point SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS at a running one"
)


MiB = 1024 * 1024
MAX_RECORD_BYTES = 32 * MiB
"""The largest record (key + value + headers) Switchboard produces; the
ingest server answers 413 for an event that would be larger. Room above
GitHub's 25 MiB bodies: a body re-encoded in the envelope can grow (``1e9``
becomes ``1000000000.0``)."""
MAX_MESSAGE_BYTES = MAX_RECORD_BYTES + MiB
"""Producers' ``max_request_size``, topics' ``max.message.bytes``,
consumers' per-partition fetch size: the largest record plus batch overhead
and the headers a dead letter adds. Below the broker's
``socket.request.max.bytes`` (100 MiB by default)."""


class KafkaUnavailable(RuntimeError):
    """Kafka could not be reached in time. The message is for a person."""


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    k = settings.kafka
    if k.security_protocol not in {"SSL", "SASL_SSL"}:
        return None
    context = create_ssl_context(
        cafile=str(k.ssl_cafile) if k.ssl_cafile else None,
        certfile=str(k.ssl_certfile) if k.ssl_certfile else None,
        keyfile=str(k.ssl_keyfile) if k.ssl_keyfile else None,
        password=k.ssl_password.get_secret_value() if k.ssl_password else None,
    )
    context.check_hostname = k.ssl_check_hostname
    return cast(ssl.SSLContext, context)


def client_options(settings: Settings) -> dict[str, Any]:
    """Options every aiokafka client shares: brokers, identity, security."""
    k = settings.kafka
    options: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "client_id": k.client_id,
        "security_protocol": k.security_protocol,
        "request_timeout_ms": 30_000,
        "metadata_max_age_ms": 60_000,
    }
    context = ssl_context(settings)
    if context is not None:
        options["ssl_context"] = context
    if k.security_protocol.startswith("SASL_"):
        options["sasl_mechanism"] = k.sasl_mechanism
        options["sasl_plain_username"] = k.sasl_username
        options["sasl_plain_password"] = (
            k.sasl_password.get_secret_value() if k.sasl_password else None
        )
    return options


def producer(settings: Settings, **overrides: Any) -> AIOKafkaProducer:
    """An idempotent producer with ``acks=all`` (not started)."""
    options = {
        **client_options(settings),
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
        "max_batch_size": 256 * 1024,
        "max_request_size": MAX_MESSAGE_BYTES,
        "compression_type": None,
        **overrides,
    }
    return AIOKafkaProducer(**options)


def consumer(settings: Settings, *topics: str, **overrides: Any) -> AIOKafkaConsumer:
    """A consumer that never auto-commits (not started)."""
    options = {
        **client_options(settings),
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "isolation_level": "read_committed",
        "max_partition_fetch_bytes": MAX_MESSAGE_BYTES,
        **overrides,
    }
    return AIOKafkaConsumer(*topics, **options)


def admin(settings: Settings, **overrides: Any) -> AIOKafkaAdminClient:
    options = {**client_options(settings), **overrides}
    options.pop("metadata_max_age_ms", None)
    return AIOKafkaAdminClient(**options)


class _Client(Protocol):
    async def start(self) -> None: ...


C = TypeVar("C", bound=_Client)


async def _close(client: Any) -> None:
    closer: Callable[[], Awaitable[None]] | None = getattr(client, "stop", None) or getattr(
        client, "close", None
    )
    if closer is not None:
        with contextlib.suppress(Exception):  # best effort on the way out
            await asyncio.wait_for(closer(), 10)


@asynccontextmanager
async def connect(settings: Settings, client: C) -> AsyncIterator[C]:
    """Start ``client`` within ``kafka.connect_timeout_s`` and stop it on exit.

    Raises :class:`KafkaUnavailable` if it cannot start in time.
    """
    timeout = settings.kafka.connect_timeout_s
    try:
        await asyncio.wait_for(client.start(), timeout)
    except Exception as exc:
        await _close(client)
        reason = (
            f"no answer within {timeout:g} s"
            if isinstance(exc, TimeoutError)
            else "connection failed"
        )
        raise KafkaUnavailable(
            f"cannot reach Kafka at {settings.bootstrap_servers} ({reason}): {HOW_TO_START}"
        ) from None
    try:
        yield client
    finally:
        await _close(client)


async def read_since(settings: Settings, tps: list[TopicPartition], since_ms: int) -> list[Any]:
    """Every record of ``tps`` written since ``since_ms``, up to their ends now."""
    return [m async for m in iter_since(settings, tps, since_ms)]


async def iter_since(
    settings: Settings, tps: list[TopicPartition], since_ms: int, last: int | None = None
) -> AsyncIterator[Any]:
    """The records of ``tps`` written since ``since_ms`` up to their ends now,
    as they are fetched (nothing is held); with ``last``, at most the last
    ``last`` offsets of each partition (the start is the later of the two)."""
    consumer_ = consumer(settings, group_id=None, enable_auto_commit=False)
    async with connect(settings, consumer_):
        consumer_.assign(tps)
        ends = await consumer_.end_offsets(tps)
        found = await consumer_.offsets_for_times({tp: since_ms for tp in tps})
        todo = {}
        for tp in tps:
            start = found[tp].offset if found.get(tp) is not None else ends[tp]
            if last is not None:
                start = max(start, ends[tp] - last)
            if start < ends[tp]:
                consumer_.seek(tp, start)
                todo[tp] = ends[tp]
        consumer_.pause(*[tp for tp in tps if tp not in todo])
        while todo:
            batch = await consumer_.getmany(*todo, timeout_ms=1000, max_records=5000)
            for tp, messages in batch.items():
                for m in messages:
                    if m.offset < todo.get(tp, -1):
                        yield m
            for tp in list(todo):
                if await consumer_.position(tp) >= todo[tp]:
                    del todo[tp]
                    consumer_.pause(tp)
