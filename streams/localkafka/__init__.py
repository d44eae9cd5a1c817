"""The local development broker: Apache Kafka (KRaft: one node, or a
replicated cluster of several on loopback) from Maven Central, without
Docker. Used by ``switchboard kafka``, ``make demo`` and the test suite's
session fixture (the same code path)."""

from __future__ import annotations

from ..kafka.probe import PortState, is_loopback, parse_servers, probe
from ._broker import (
    BrokerStatus,
    StartResult,
    data_dir,
    nodes,
    run_dir,
    start,
    status,
    stop,
    wipe,
)
from ._ensure import configured_broker, ensure_broker, local_broker
from ._errors import LocalKafkaError
from ._node import Node, NodeStatus
from ._runtime import is_resolved, resolve

__all__ = [
    "BrokerStatus",
    "LocalKafkaError",
    "Node",
    "NodeStatus",
    "PortState",
    "StartResult",
    "configured_broker",
    "data_dir",
    "ensure_broker",
    "is_loopback",
    "is_resolved",
    "local_broker",
    "nodes",
    "parse_servers",
    "probe",
    "resolve",
    "run_dir",
    "start",
    "status",
    "stop",
    "wipe",
]
