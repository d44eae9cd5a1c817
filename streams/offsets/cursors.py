"""Poll cursors in Kafka: the record format of ``<prefix>switchboard.cursors``.

One compacted topic holds every poll stream's position, keyed by the stream
id (``<connector>.<stream>``). The latest record of a key is the stream's
state. The topic's partitions double as the unit of ownership: the worker
of the poll group that owns partition ``p`` polls exactly the streams whose
key maps to ``p`` (:func:`partition_for`, Kafka's own murmur2 partitioner),
so two workers never poll one stream at once, and the owner finds the
stream's state in the partition it owns.

A record's value (JSON)::

    {"stream": "stripe.events",
     "cursor": {"mark": "evt_...", "next": {...}, "run_mark": ..., "etag": ...},
     "backfill": "2026-01-01T00:00:00+00:00" | null,
     "origin": "poller" | "cli",
     "request": "<id of a CLI change>" | null,   # a CLI write, or the poller's echo of it
     "status": "ok" | "not_modified" | "throttled" | "failed" | "reset",
     "error": "<why the last poll failed>" | null,
     "polled_at": "<ISO time of the last good page>" | null,
     "failed_at": "<ISO time the last poll failed>" | null,  # null once a page succeeds
     "records": <records of the last page>, "pages": <pages of the current run>,
     "written_at": "<ISO time>", "worker": "<host:pid>"}

A CLI change (``switchboard offsets set|reset``) is a record with
``origin="cli"`` and a fresh ``request`` id; the owning poller applies it
between two pages, drops the run it was in, and writes it back under its
own name with the same ``request`` id: that echo is how the CLI knows the
change took effect.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka.partitioner import DefaultPartitioner

from core.poll import Cursor

__all__ = ["CursorRecord", "new_request_id", "partition_for", "worker_name"]

_PARTITIONER = DefaultPartitioner()


def partition_for(stream_id: str, partitions: int) -> int:
    """The cursors-topic partition of ``stream_id`` (what a keyed producer picks)."""
    all_partitions = list(range(partitions))
    return int(_PARTITIONER(stream_id.encode(), all_partitions, all_partitions))


def new_request_id() -> str:
    """A fresh ``request`` id for a CLI change record."""
    return uuid.uuid4().hex


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _now() -> str:
    return datetime.now(UTC).isoformat()


@dataclass(frozen=True)
class CursorRecord:
    """One stream's state as stored (see the module docstring)."""

    stream: str
    cursor: Cursor = field(default_factory=Cursor)
    backfill: datetime | None = None
    origin: str = "poller"
    request: str | None = None
    status: str = "ok"
    error: str | None = None
    polled_at: str | None = None
    failed_at: str | None = None
    records: int = 0
    pages: int = 0
    written_at: str = field(default_factory=_now)
    worker: str = field(default_factory=worker_name)

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "stream": self.stream,
                "cursor": self.cursor.to_obj(),
                "backfill": self.backfill.isoformat() if self.backfill else None,
                "origin": self.origin,
                "request": self.request,
                "status": self.status,
                "error": self.error,
                "polled_at": self.polled_at,
                "failed_at": self.failed_at,
                "records": self.records,
                "pages": self.pages,
                "written_at": self.written_at,
                "worker": self.worker,
            }
        )

    @classmethod
    def from_json(cls, raw: bytes) -> CursorRecord:
        """Parse a stored record; raises ValueError for anything unreadable."""
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise ValueError("cursor record is not JSON") from None
        if not isinstance(obj, Mapping) or not isinstance(obj.get("stream"), str):
            raise ValueError("cursor record has no stream")
        backfill = obj.get("backfill")
        try:
            return cls._parse(obj, backfill)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"cursor record of {obj['stream']!r}: {exc}") from None

    @classmethod
    def _parse(cls, obj: Mapping[str, Any], backfill: Any) -> CursorRecord:
        return cls(
            stream=obj["stream"],
            cursor=Cursor.from_obj(obj.get("cursor")),
            backfill=datetime.fromisoformat(backfill) if isinstance(backfill, str) else None,
            origin=str(obj.get("origin") or "poller"),
            request=obj.get("request"),
            status=str(obj.get("status") or "ok"),
            error=obj.get("error"),
            polled_at=obj.get("polled_at"),
            failed_at=obj.get("failed_at"),
            records=int(obj.get("records") or 0),
            pages=int(obj.get("pages") or 0),
            written_at=str(obj.get("written_at") or ""),
            worker=str(obj.get("worker") or ""),
        )

    def evolve(self, **changes: Any) -> CursorRecord:
        """A copy with ``changes``, stamped now by this process."""
        return replace(self, written_at=_now(), worker=worker_name(), **changes)
