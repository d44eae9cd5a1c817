"""The dedup table's bounds: a window and a count of ids per partition.

The table (a faust table, or any mutable mapping in tests) maps a dedup key
to ``"<first-seen time>:<partition>"``. :class:`SeenBounds` keeps, beside it,
each partition's keys in the order they were written (oldest first) and,
after every write, deletes from the table the keys of that partition that
are older than the window or past ``max_ids`` (oldest first): O(1) per
record, so the table never holds more than ``max_ids`` ids per partition
however many events pass. A deleted id counts as unseen (a copy of it is
forwarded again), which is also what an id past the window gets.

The order is rebuilt from the table itself (one pass over its entries of
that partition, sorted by time) the first time a partition is written after
each rebalance, since the entries were restored from the changelog or
written by the partition's previous owner.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, MutableMapping

__all__ = ["SeenBounds", "partition_of", "seen_at"]


def seen_at(value: str) -> float:
    return float(value.split(":", 1)[0])


def partition_of(value: str) -> int:
    parts = value.split(":", 1)
    return int(parts[1]) if len(parts) == 2 else -1


class SeenBounds:
    """Bounds ``table`` to ``window_s`` and to ``max_ids`` keys per partition.

    ``generation()`` names the current assignment (faust's rebalance count):
    when it changes, a partition's order is rebuilt before its next write.
    """

    def __init__(
        self,
        table: MutableMapping[bytes, str | None],
        window_s: float,
        max_ids: int | None,
        generation: Callable[[], int] = lambda: 0,
    ) -> None:
        self.table = table
        self.window_s = window_s
        self.max_ids = max_ids
        self._generation = generation
        self._order: dict[int, OrderedDict[bytes, None]] = {}
        self._built: dict[int, int] = {}  # partition -> generation its order was built in

    def record(self, key: bytes, partition: int, now: float) -> int:
        """Write ``key`` as first seen ``now`` on ``partition``; returns how many were evicted."""
        order = self._order_of(partition)
        self.table[key] = f"{now:.3f}:{partition}"
        order[key] = None
        order.move_to_end(key)
        return self._evict(order, now)

    def size(self, partition: int) -> int:
        return len(self._order.get(partition, ()))

    def _order_of(self, partition: int) -> OrderedDict[bytes, None]:
        generation = self._generation()
        if self._built.get(partition) != generation:
            mine = [
                (seen_at(value), key)
                for key, value in list(self.table.items())
                if value is not None and partition_of(value) == partition
            ]
            mine.sort()
            self._order[partition] = OrderedDict((key, None) for _, key in mine)
            self._built[partition] = generation
        return self._order[partition]

    def _evict(self, order: OrderedDict[bytes, None], now: float) -> int:
        evicted = 0
        horizon = now - self.window_s
        while order:
            oldest = next(iter(order))
            value = self.table.get(oldest)
            over = self.max_ids is not None and len(order) > self.max_ids
            if not over and value is not None and seen_at(value) >= horizon:
                break
            order.popitem(last=False)
            if value is not None:
                del self.table[oldest]
            evicted += 1
        return evicted
