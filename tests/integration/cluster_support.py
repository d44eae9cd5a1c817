"""A three-node local Kafka cluster for the replication tests: started by
the project's own code (``localkafka.start`` with ``brokers=3``, the path of
``switchboard kafka start --brokers 3``) on free loopback ports, in a
directory of its own; partition leaders looked up and SIGKILLed."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from streams import kafka, localkafka
from streams.settings import LocalKafkaSettings, Settings, load_settings


def free_port_run(n: int) -> int:
    """The first of ``n`` consecutive loopback ports that are free now."""
    for _ in range(200):
        base = random.randint(20_000, 60_000)
        socks = []
        try:
            for port in range(base, base + n):
                sock = socket.socket()
                socks.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError(f"no run of {n} free ports found")


def cluster_settings(run_root: Path, brokers: int = 3) -> LocalKafkaSettings:
    base = free_port_run(2 * brokers)  # the nodes' ports, then their controllers'
    return LocalKafkaSettings(
        home=load_settings().local_kafka.home,  # jars cached by the session broker
        run_root=run_root,
        port=base,
        brokers=brokers,
        heap="512m",
    )


@dataclass
class Kill:
    """A node SIGKILLed: which, when (monotonic), and what it led."""

    node_id: int
    pid: int
    at: float


async def leader_of(settings: Settings, topic: str, partition: int = 0) -> int:
    """The node id leading ``topic``'s ``partition`` now."""
    async with kafka.connect(settings, kafka.admin(settings)) as client:
        (described,) = await client.describe_topics([topic])
    for p in described["partitions"]:
        if p["partition"] == partition:
            return int(p["leader"])
    raise AssertionError(f"{topic} has no partition {partition}")


async def replicas_of(settings: Settings, topic: str) -> list[int]:
    """How many replicas each partition of ``topic`` has."""
    async with kafka.connect(settings, kafka.admin(settings)) as client:
        (described,) = await client.describe_topics([topic])
    return [len(p["replicas"]) for p in described["partitions"]]


async def topic_config(settings: Settings, topic: str, name: str) -> str | None:
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    async with kafka.connect(settings, kafka.admin(settings)) as client:
        (response,) = await client.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic)]
        )
    for _code, _message, _type, _name, entries in response.resources:
        for entry in entries:
            if entry[0] == name:
                return str(entry[1])
    return None


def kill_leader(cfg: LocalKafkaSettings, settings: Settings, topic: str) -> Kill:
    """SIGKILL the node leading partition 0 of ``topic`` (its JVM, no shutdown)."""
    leader = asyncio.run(leader_of(settings, topic))
    node = next(n for n in localkafka.status(cfg).nodes if n.node.node_id == leader)
    assert node.pid is not None, f"node {leader} is not running: {node.describe()}"
    os.kill(node.pid, signal.SIGKILL)
    return Kill(leader, node.pid, time.monotonic())


async def end_offset(settings: Settings, topic: str, partition: int = 0) -> int | None:
    """The end offset of one partition, or None while it has no leader to ask."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(**{**kafka.client_options(settings), "request_timeout_ms": 3000})
    try:
        await asyncio.wait_for(consumer.start(), 5)
        tp = TopicPartition(topic, partition)
        return int((await asyncio.wait_for(consumer.end_offsets([tp]), 5))[tp])
    except Exception:
        return None
    finally:
        await consumer.stop()


def written_again(settings: Settings, topic: str, before: int, more: int) -> bool:
    """Has partition 0 of ``topic`` taken ``more`` records past ``before``?"""
    now = asyncio.run(end_offset(settings, topic))
    return now is not None and now >= before + more
