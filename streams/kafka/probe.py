"""Is there a Kafka broker at host:port? Answered with one ApiVersions call.

A plain TCP connect cannot tell Kafka from anything else listening on the
port; an ApiVersions (v0) request can, cheaply and without a client library.
The worker's start and its ``/readyz`` ask :func:`kafka_ready`; the local
development broker (:mod:`streams.localkafka`) asks :func:`probe` whether
its port is free, taken by Kafka or by something else.
"""

from __future__ import annotations

import socket
import struct
from enum import Enum

from ..settings import Settings

__all__ = ["PortState", "is_loopback", "kafka_ready", "parse_servers", "probe"]

_API_VERSIONS = 18
_CORRELATION_ID = 0x5B0A


class PortState(Enum):
    FREE = "free"
    KAFKA = "kafka"
    OTHER = "other"


def _request(client_id: bytes = b"switchboard-probe") -> bytes:
    body = struct.pack(">hhih", _API_VERSIONS, 0, _CORRELATION_ID, len(client_id)) + client_id
    return struct.pack(">i", len(body)) + body


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf


def probe(host: str, port: int, timeout: float = 2.0) -> PortState:
    """FREE if nothing accepts connections, KAFKA if a broker answers
    ApiVersions, OTHER if something else holds the port."""
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except (ConnectionRefusedError, TimeoutError, OSError):
        return PortState.FREE
    try:
        sock.settimeout(timeout)
        sock.sendall(_request())
        size = struct.unpack(">i", _recv_exactly(sock, 4))[0]
        if not 6 <= size <= 1 << 20:
            return PortState.OTHER
        correlation_id, _error = struct.unpack(">ih", _recv_exactly(sock, 6))
        return PortState.KAFKA if correlation_id == _CORRELATION_ID else PortState.OTHER
    except (OSError, ConnectionError, struct.error):
        return PortState.OTHER
    finally:
        sock.close()


def parse_servers(bootstrap: str) -> list[tuple[str, int]]:
    """``"a:9092,b:9093"`` -> ``[("a", 9092), ("b", 9093)]``; raises ValueError."""
    out = []
    for item in bootstrap.split(","):
        item = item.strip()
        if not item:
            continue
        host, sep, port = item.rpartition(":")
        if not sep or not port.isdigit():
            raise ValueError(f"{item!r} is not host:port")
        out.append((host.strip("[]"), int(port)))
    if not out:
        raise ValueError("no broker address given")
    return out


def is_loopback(host: str) -> bool:
    return host in {"localhost", "::1"} or host.startswith("127.")


def kafka_ready(settings: Settings) -> bool:
    """True if any bootstrap server answers a Kafka ApiVersions request."""
    return any(
        probe(host, port, timeout=1.0) is PortState.KAFKA
        for host, port in parse_servers(settings.bootstrap_servers)
    )
