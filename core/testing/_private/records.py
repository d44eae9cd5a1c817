"""Recorded requests and the idempotency-key store of a sandbox."""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = ["IdempotencyStore", "RecordedRequest", "RequestLog", "StoredResponse"]


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the sandbox received it (before any fault was applied).

    ``headers`` keeps every header line in order, so repeated headers stay
    visible; :meth:`header` is the case-insensitive single-value view.
    ``outcome`` says what the sandbox did with it: ``"handled"``,
    ``"replayed"`` (idempotent replay), ``"throttled"``, or the fault kind.
    """

    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    headers: tuple[tuple[str, str], ...]
    body: bytes
    at: float
    outcome: str = "handled"

    def header(self, name: str) -> str | None:
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return None

    def query_param(self, name: str) -> str | None:
        for key, value in self.query:
            if key == name:
                return value
        return None

    def json(self) -> Any:
        return orjson.loads(self.body)


class RequestLog:
    """Append-only, thread-safe list of :class:`RecordedRequest`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[RecordedRequest] = []

    def append(self, item: RecordedRequest) -> RecordedRequest:
        with self._lock:
            self._items.append(item)
        return item

    def set_outcome(self, item: RecordedRequest | None, outcome: str) -> None:
        """Replace ``item`` (if still in the log) by a copy with ``outcome``."""
        if item is None:
            return
        with self._lock:
            for i in range(len(self._items) - 1, -1, -1):
                if self._items[i] is item:
                    self._items[i] = dataclasses.replace(item, outcome=outcome)
                    return

    def snapshot(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


@dataclass(frozen=True)
class StoredResponse:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


@dataclass
class _Entry:
    fingerprint: str
    response: StoredResponse | None = None


# Headers aiohttp computes for each response; a replay must not copy them.
_HOP_HEADERS = frozenset({"content-length", "date", "server", "transfer-encoding", "connection"})


class IdempotencyStore:
    """Stripe's idempotency semantics.

    - first use of a key: the handler runs (one side effect counted for the
      key) and its response is stored;
    - same key, same method + path + body: the stored response is replayed
      with ``Idempotent-Replayed: true`` and no new side effect;
    - same key, different request: 400 ``idempotency_error``;
    - same key while the first request is still running: 409.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._effects: Counter[str] = Counter()

    @staticmethod
    def fingerprint(method: str, path: str, query: str, body: bytes) -> str:
        digest = hashlib.sha256()
        for part in (method.upper().encode(), path.encode(), query.encode(), body):
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)
        return digest.hexdigest()

    def begin(self, key: str, fingerprint: str) -> StoredResponse | str | None:
        """Claim ``key``. Returns a stored response to replay, ``"mismatch"``,
        ``"in_flight"``, or ``None`` when the caller must run the handler."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self._entries[key] = _Entry(fingerprint)
                self._effects[key] += 1
                return None
            if entry.fingerprint != fingerprint:
                return "mismatch"
            if entry.response is None:
                return "in_flight"
            return entry.response

    def finish(self, key: str, status: int, headers: Any, body: bytes) -> None:
        kept = tuple((k, v) for k, v in headers.items() if k.lower() not in _HOP_HEADERS)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                entry.response = StoredResponse(status, kept, body)

    def abandon(self, key: str) -> None:
        """The claim produced no side effect (the handler failed, or refused
        the request before acting): forget it and its counted effect, so the
        key may be used again."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.response is None:
                del self._entries[key]
                self._effects[key] -= 1
                if self._effects[key] <= 0:
                    del self._effects[key]

    def count(self, key: str | None) -> int:
        """Count one side effect for ``key`` without claiming it (providers
        without idempotency keys count by command id; ``None``: a request
        carrying neither). Returns the new count."""
        with self._lock:
            self._effects[key or ""] += 1
            return self._effects[key or ""]

    def side_effects(self, key: str) -> int:
        """How many side effects were counted for ``key``."""
        with self._lock:
            return self._effects[key] if key else 0

    def total(self) -> int:
        """Every side effect counted, anonymous ones included."""
        with self._lock:
            return sum(self._effects.values())

    def all_side_effects(self) -> dict[str, int]:
        """Side effects by key or command id (anonymous ones left out)."""
        with self._lock:
            return {k: n for k, n in self._effects.items() if k}

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._effects.clear()
