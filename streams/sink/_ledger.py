"""The ledger: what the owner of one commands partition knows about command ids.

The Result for a command from commands partition P is on results
partition P (key = command id, the command's offset and status in
headers); a ``started`` marker for a ledger provider's call is on
``<c>.ledger`` partition P. :func:`read_ledgers` reads both back for the
ledger window when P is assigned; :meth:`Ledger.verdict` is the one place
that decides what to do with a record given what was read (the skip
rules, in the order they apply):

- ``redelivered``: this offset already has a Result (a redelivery);
- ``duplicate``: this command id already *succeeded* (e.g. replayed twice
  from the DLQ): not executed again;
- ``outcome_unknown``: a ledger provider's call was ``started`` for this
  offset but never answered: its worker died during the call, so it is
  not sent again but dead-lettered for a person to decide;
- ``run``: anything else.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Literal

import orjson
from aiokafka import TopicPartition

from core.apicall import Idempotency
from streams.settings import Settings

from .. import kafka

__all__ = ["SOURCE_OFFSET_HEADER", "STATUS_HEADER", "Ledger", "Verdict", "read_ledgers"]

SOURCE_OFFSET_HEADER = "__switchboard.source.offset"
STATUS_HEADER = "__switchboard.result.status"

Verdict = Literal["run", "redelivered", "duplicate", "outcome_unknown"]


class _Entry:
    """What one command id left on the partition (offsets are few: usually one)."""

    __slots__ = ("answered", "at", "started", "succeeded")

    def __init__(self, at: float) -> None:
        self.at = at  # time of the latest record about the id (s)
        self.answered: tuple[int, ...] = ()  # offsets with a Result
        self.started: tuple[int, ...] = ()  # offsets marked started, not released
        self.succeeded = False


class Ledger:
    """Answered offsets, succeeded ids and open ``started`` markers of one partition.

    Bounded: it forgets an id whose latest record is older than
    ``window_s``, and past ``max_ids`` ids it forgets the one whose latest
    record is the oldest. Both happen as ids are added (oldest first, O(1)
    each), so its memory is at most ``max_ids`` entries whatever the volume.
    A forgotten id is judged ``run``, as one never seen.
    """

    __slots__ = ("_entries", "max_ids", "window_s")

    def __init__(self, window_s: float = float("inf"), max_ids: int | None = None) -> None:
        self.window_s = window_s
        self.max_ids = max_ids
        # id -> entry, in the order of their latest record (oldest first)
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def _touch(self, command_id: str, at: float | None) -> _Entry:
        now = time.time() if at is None else at
        entry = self._entries.get(command_id)
        if entry is None:
            entry = self._entries[command_id] = _Entry(now)
        else:
            self._entries.move_to_end(command_id)
            entry.at = max(entry.at, now)
        self._evict(now)
        return entry

    def _evict(self, now: float) -> None:
        entries = self._entries
        if self.max_ids is not None:
            while len(entries) > self.max_ids:
                entries.popitem(last=False)
        horizon = now - self.window_s
        while entries:
            oldest = next(iter(entries.values()))
            if oldest.at >= horizon:
                break
            entries.popitem(last=False)

    def add_result(
        self, command_id: str, offset: int | None, status: str, at: float | None = None
    ) -> None:
        """A Result of ``command_id`` (``at``: its time, default now)."""
        entry = self._touch(command_id, at)
        if offset is not None and offset not in entry.answered:
            entry.answered += (offset,)
        if status == "succeeded":
            entry.succeeded = True

    def add_marker(self, command_id: str, offset: int, state: str, at: float | None = None) -> None:
        """A ``started`` or ``released`` marker of ``command_id`` at ``offset``."""
        entry = self._touch(command_id, at)
        if state == "started":
            if offset not in entry.started:
                entry.started += (offset,)
        else:
            entry.started = tuple(o for o in entry.started if o != offset)

    def verdict(self, command_id: str, offset: int, idempotency: Idempotency) -> Verdict:
        """What to do with the command ``command_id`` at ``offset`` (see the module docstring)."""
        entry = self._entries.get(command_id)
        if entry is None or entry.at < time.time() - self.window_s:
            return "run"
        if offset in entry.answered:
            return "redelivered"
        if entry.succeeded:
            return "duplicate"
        if idempotency == "ledger" and offset in entry.started:
            return "outcome_unknown"
        return "run"

    def at(self, command_id: str) -> float | None:
        """The time of the latest record about ``command_id`` (epoch s), if known."""
        entry = self._entries.get(command_id)
        return None if entry is None else entry.at

    @property
    def size(self) -> int:
        """How many command ids it knows."""
        return len(self._entries)


async def read_ledgers(
    settings: Settings,
    results_topic: str,
    ledger_topic: str,
    partitions: list[int],
    window_s: float,
    max_ids: int | None = None,
) -> dict[int, Ledger]:
    """The ledgers of ``partitions``, read from the last ``window_s`` of both
    topics and, with ``max_ids``, from no more than their last ``max_ids``
    records per partition (a Result and a marker are one record each, so
    those hold every id the bounded ledger keeps). Records are applied as
    they are fetched: reading holds no more than the ledger does."""
    ledgers = {p: Ledger(window_s, max_ids) for p in partitions}
    since_ms = int((time.time() - window_s) * 1000)
    tps = [TopicPartition(t, p) for t in (results_topic, ledger_topic) for p in partitions]
    async for message in kafka.iter_since(settings, tps, since_ms, last=max_ids):
        ledger = ledgers[message.partition]
        command_id = (message.key or b"").decode("utf-8", "replace")
        at = message.timestamp / 1000 if message.timestamp is not None else None
        if message.topic == results_topic:
            headers = dict(message.headers or [])
            raw_offset = headers.get(SOURCE_OFFSET_HEADER)
            status = headers.get(STATUS_HEADER, b"").decode()
            ledger.add_result(command_id, int(raw_offset) if raw_offset else None, status, at)
        else:
            marker = orjson.loads(message.value or b"{}")
            ledger.add_marker(command_id, int(marker["offset"]), str(marker["state"]), at)
    return ledgers
