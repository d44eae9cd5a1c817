"""Shared fixtures.

The Kafka broker is real: ``kafka_bootstrap`` (session scope) reuses a broker
that SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS points at, or one already running
on the local port, or starts the local broker through the same code path as
``switchboard kafka start`` — and at the end stops only what it started.
Topic names are unique per test (``topic_factory``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import hypothesis
import pytest

import connectors
from streams import localkafka
from streams.settings import Settings, load_settings

# No timing thresholds in the suite: hypothesis's per-example deadline and
# its "too slow" health check fail a correct property on a loaded machine
# (seen on test_property_same_as_stripe_sdk under a parallel run).
hypothesis.settings.register_profile(
    "switchboard", deadline=None, suppress_health_check=[hypothesis.HealthCheck.too_slow]
)
hypothesis.settings.load_profile("switchboard")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _base_settings() -> Settings:
    return load_settings(sections=connectors.settings_sections())


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A broker the suite starts keeps its data in a directory of its own (a
    session temporary directory, deleted after it stops), never in the
    user's ``<home>/run``; the jar cache is shared."""
    settings = _base_settings()
    own = settings.local_kafka.model_copy(update={"run_root": tmp_path_factory.mktemp("kafka-run")})
    settings = settings.model_copy(update={"local_kafka": own})
    bootstrap, started = localkafka.ensure_broker(settings)
    try:
        yield bootstrap
    finally:
        if started:
            port = localkafka.parse_servers(bootstrap)[0][1]
            cfg = own.model_copy(update={"port": port})
            localkafka.stop(cfg)
            localkafka.wipe(cfg)


@pytest.fixture
def settings(kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings pointing at the test broker (also exported to subprocesses)."""
    monkeypatch.setenv("SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS", kafka_bootstrap)
    return load_settings(sections=connectors.settings_sections())


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture
def topic_prefix(unique: str, kafka_bootstrap: str) -> Iterator[str]:
    prefix = f"t{unique}."
    yield prefix
    delete_topics(kafka_bootstrap, prefix)


def delete_topics(bootstrap: str, prefix: str) -> None:
    """Delete a test's topics afterwards: a single broker with tens of
    thousands of partitions left over gets slow to start and to serve."""

    async def go() -> None:
        from aiokafka.admin import AIOKafkaAdminClient

        client = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await client.start()
        try:
            doomed = [t for t in await client.list_topics() if t.startswith(prefix)]
            if doomed:
                await client.delete_topics(doomed, timeout_ms=30_000)
        finally:
            await client.close()

    def run() -> None:
        with contextlib.suppress(Exception):  # best effort: a leftover topic is harmless
            asyncio.run(go())

    # In a thread: an async test's event loop may still be set on this one.
    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)


@pytest.fixture
def prefixed_settings(
    kafka_bootstrap: str, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """Settings with a topic prefix unique to the test: its own topic namespace."""
    monkeypatch.setenv("SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS", kafka_bootstrap)
    monkeypatch.setenv("SWITCHBOARD_KAFKA__TOPIC_PREFIX", topic_prefix)
    return load_settings(sections=connectors.settings_sections())


@pytest.fixture
def topic_factory(settings: Settings, unique: str) -> Iterator[Callable[..., Any]]:
    from streams.kafka.topics import TopicSpec, ensure_topics

    prefix = f"test.{unique}."

    async def make(name: str = "topic", partitions: int = 3, **config: str) -> str:
        topic = f"{prefix}{name}.{uuid.uuid4().hex[:10]}"
        await ensure_topics(settings, [TopicSpec(topic, partitions, 1, dict(config))])
        return topic

    yield make
    delete_topics(settings.bootstrap_servers, prefix)


@pytest.fixture
def cli_env(kafka_bootstrap: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    env["SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS"] = kafka_bootstrap
    env["SWITCHBOARD_LOCAL_KAFKA__HOME"] = os.environ.get(
        "SWITCHBOARD_LOCAL_KAFKA__HOME", str(_base_settings().local_kafka.home)
    )
    return env


def run_async(coro: Any) -> Any:
    return asyncio.run(coro)
