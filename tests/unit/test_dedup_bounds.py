"""The dedup table stays within its bounds whatever the volume.

Memory figure: an id the table keeps costs its key (a 64-hex body digest or
a provider id, up to 97 bytes), its value (``"<time>:<partition>"``, 65
bytes), its table slot and its node in the partition's order: measured about
340 bytes; the stated bound is ``DEDUP_BYTES_PER_ID`` = 512 bytes per id
(README, "Bounded state"). The table here is a plain dict, what faust's
memory store holds.
"""

from __future__ import annotations

import gc
import hashlib
import time
import tracemalloc

from streams._seen import SeenBounds, seen_at
from streams.dedup import changelog_config

DEDUP_BYTES_PER_ID = 512


def digest(i: int) -> bytes:
    return hashlib.sha256(b"%d" % i).hexdigest().encode()


def test_ten_times_the_count_bound_keeps_the_table_within_the_stated_memory() -> None:
    bound = 20_000
    now = time.time()
    gc.collect()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        table: dict[bytes, str | None] = {}
        bounds = SeenBounds(table, 7 * 24 * 3600, bound)
        for i in range(10 * bound):
            bounds.record(digest(i), 0, now)
        gc.collect()
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(table) == bound == bounds.size(0)
    assert after - before <= bound * DEDUP_BYTES_PER_ID
    assert digest(10 * bound - 1) in table  # the newest kept
    assert digest(10 * bound - bound - 1) not in table  # the oldest forgotten


def test_the_bound_is_per_partition_and_rebuilt_from_the_table() -> None:
    now = time.time()
    generation = [0]
    table: dict[bytes, str | None] = {}
    bounds = SeenBounds(table, 3600, 3, lambda: generation[0])
    for i in range(3):
        bounds.record(b"p0-%d" % i, 0, now + i)
        bounds.record(b"p1-%d" % i, 1, now + i)
    assert len(table) == 6
    # a rebalance: the order is rebuilt from what the table holds (restored)
    generation[0] += 1
    fresh = SeenBounds(table, 3600, 3, lambda: generation[0])
    fresh.record(b"p0-new", 0, now + 10)
    assert sorted(k for k in table if k.startswith(b"p0")) == [b"p0-1", b"p0-2", b"p0-new"]
    assert len([k for k in table if k.startswith(b"p1")]) == 3


def test_entries_past_the_window_are_deleted_as_new_ones_come() -> None:
    now = time.time()
    table: dict[bytes, str | None] = {}
    bounds = SeenBounds(table, 3600, None)
    bounds.record(b"old", 0, now - 4000)
    bounds.record(b"kept", 0, now - 100)
    bounds.record(b"new", 0, now)
    assert sorted(table) == [b"kept", b"new"]
    bounds.record(b"kept", 0, now + 1)  # written again: the newest now
    assert abs(seen_at(table[b"kept"] or "") - (now + 1)) < 0.01


def test_the_changelog_is_compacted_and_deleted_past_the_window() -> None:
    config = changelog_config(7 * 24 * 3600)
    assert config["cleanup.policy"] == "compact,delete"
    assert config["retention.ms"] == str(7 * 24 * 3600 * 1000)
    assert int(config["segment.ms"]) <= 3_600_000
