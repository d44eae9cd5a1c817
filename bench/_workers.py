"""What the Kafka benchmarks share: a ``switchboard worker`` subprocess, its
CPU time, topic namespaces per run, and counting records on a topic."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

from aiokafka import TopicPartition

from streams import kafka
from streams.settings import Settings


def with_prefix(settings: Settings, bootstrap: str, prefix: str) -> Settings:
    kafka_settings = settings.kafka.model_copy(
        update={"bootstrap_servers": bootstrap, "topic_prefix": prefix}
    )
    return settings.model_copy(update={"kafka": kafka_settings})


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process (Linux /proc; 0 elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def worker(roles: str, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """``switchboard worker --roles ROLES``; SIGTERM (drain and commit) on exit."""
    cmd = [sys.executable, "-m", "streams.cli", "worker", "--roles", roles]
    proc = subprocess.Popen([*cmd, "--port", str(_free_port())], env=env, stdout=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=30)
        proc.kill()  # a no-op once it has exited
        proc.wait()


async def count_until(
    settings: Settings, topic: str, n: int, deadline: float, pid: int
) -> tuple[int, float, float]:
    """Poll ``topic``'s end offsets until they add up to ``n``. Returns how
    many records there were when the first was seen, and the seconds and
    process ``pid``'s CPU seconds from then to the ``n``-th: its steady
    state, without its start (imports, group join, restoring tables)."""
    consumer = kafka.consumer(settings, group_id=None)
    first: tuple[int, float, float] | None = None
    async with kafka.connect(settings, consumer):
        tps: list[TopicPartition] = []
        while time.monotonic() < deadline:
            if not tps:
                await consumer._client.force_metadata_update()
                partitions = consumer.partitions_for_topic(topic) or set()
                tps = [TopicPartition(topic, p) for p in sorted(partitions)]
            count = sum((await consumer.end_offsets(tps)).values()) if tps else 0
            if count and first is None:
                first = (count, time.monotonic(), cpu_seconds(pid))
            if count >= n:
                assert first is not None
                return first[0], time.monotonic() - first[1], cpu_seconds(pid) - first[2]
            await asyncio.sleep(0.05)
    raise TimeoutError(f"fewer than {n} records on {topic} in time")


def delete_topics(bootstrap: str, prefixes: list[str]) -> None:
    """Best effort: a broker with thousands of leftover partitions gets slow."""

    async def go() -> None:
        from aiokafka.admin import AIOKafkaAdminClient

        client = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await client.start()
        try:
            doomed = [t for t in await client.list_topics() if t.startswith(tuple(prefixes))]
            if doomed:
                await client.delete_topics(doomed, timeout_ms=30_000)
        finally:
            await client.close()

    with contextlib.suppress(Exception):
        asyncio.run(go())
