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
from dataclasses import dataclass, field
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


@dataclass
class Ledger:
    """Answered offsets, succeeded ids and open ``started`` markers of one partition."""

    answered: dict[str, set[int]] = field(default_factory=dict)  # id -> offsets with a Result
    succeeded: set[str] = field(default_factory=set)
    started: dict[str, set[int]] = field(default_factory=dict)  # id -> offsets marked started

    def add_result(self, command_id: str, offset: int | None, status: str) -> None:
        if offset is not None:
            self.answered.setdefault(command_id, set()).add(offset)
        if status == "succeeded":
            self.succeeded.add(command_id)

    def add_marker(self, command_id: str, offset: int, state: str) -> None:
        offsets = self.started.setdefault(command_id, set())
        if state == "started":
            offsets.add(offset)
        else:
            offsets.discard(offset)

    def verdict(self, command_id: str, offset: int, idempotency: Idempotency) -> Verdict:
        """What to do with the command ``command_id`` at ``offset`` (see the module docstring)."""
        if offset in self.answered.get(command_id, ()):
            return "redelivered"
        if command_id in self.succeeded:
            return "duplicate"
        if idempotency == "ledger" and offset in self.started.get(command_id, ()):
            return "outcome_unknown"
        return "run"

    @property
    def size(self) -> int:
        """How many command ids it knows (for the assignment log line)."""
        return len(self.answered) + len(self.started)


async def read_ledgers(
    settings: Settings,
    results_topic: str,
    ledger_topic: str,
    partitions: list[int],
    window_s: float,
) -> dict[int, Ledger]:
    """The ledgers of ``partitions``, read from the last ``window_s`` of both topics."""
    ledgers = {p: Ledger() for p in partitions}
    since_ms = int((time.time() - window_s) * 1000)
    tps = [TopicPartition(t, p) for t in (results_topic, ledger_topic) for p in partitions]
    for message in await kafka.read_since(settings, tps, since_ms):
        ledger = ledgers[message.partition]
        command_id = (message.key or b"").decode("utf-8", "replace")
        if message.topic == results_topic:
            headers = dict(message.headers or [])
            raw_offset = headers.get(SOURCE_OFFSET_HEADER)
            status = headers.get(STATUS_HEADER, b"").decode()
            ledger.add_result(command_id, int(raw_offset) if raw_offset else None, status)
        else:
            marker = orjson.loads(message.value or b"{}")
            ledger.add_marker(command_id, int(marker["offset"]), str(marker["state"]))
    return ledgers
