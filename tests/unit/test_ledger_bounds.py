"""The sink's ledger stays within its bounds whatever the volume.

Memory figure: an id the ledger remembers costs its key (a 36-character
command id, 85 bytes), its entry (four slots), a one-offset tuple, the
offset and time objects and its ordered-dict node: measured about 435
bytes; the stated bound is ``LEDGER_BYTES_PER_ID`` = 512 bytes per id
(README, "Bounded state").
"""

from __future__ import annotations

import gc
import time
import tracemalloc
import uuid

from streams.sink._ledger import Ledger

LEDGER_BYTES_PER_ID = 512


def _run(ledger: Ledger, n: int, offset0: int = 10**9) -> list[str]:
    ids = []
    for i in range(n):
        command_id = str(uuid.uuid4())  # created here: its memory counts
        ledger.add_marker(command_id, offset0 + i, "started")
        ledger.add_result(command_id, offset0 + i, "succeeded")
        ids.append(command_id)
    return ids


def test_ten_times_the_count_bound_keeps_the_last_ids_within_the_stated_memory() -> None:
    bound = 20_000
    gc.collect()
    tracemalloc.start()
    try:
        ledger = Ledger(window_s=7 * 24 * 3600, max_ids=bound)
        before, _ = tracemalloc.get_traced_memory()
        for _ in range(10):
            # ids are dropped as they are made here, so what stays traced is the ledger
            _run(ledger, bound)
        gc.collect()
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert ledger.size == bound
    assert after - before <= bound * LEDGER_BYTES_PER_ID


def test_within_the_bound_an_id_is_still_known_and_past_it_forgotten() -> None:
    ledger = Ledger(max_ids=100)
    ids = _run(ledger, 1_000, offset0=0)
    assert ledger.size == 100
    newest, evicted = ids[-1], ids[0]
    assert ledger.verdict(newest, 999, "ledger") == "redelivered"
    assert ledger.verdict(newest, 5_000, "ledger") == "duplicate"  # replayed: new offset
    assert ledger.verdict(ids[-100], 900, "key") == "redelivered"  # the oldest one kept
    assert ledger.verdict(ids[-101], 899, "key") == "run"
    assert ledger.verdict(evicted, 0, "ledger") == "run"  # as if never seen


def test_an_id_touched_again_is_the_newest() -> None:
    ledger = Ledger(max_ids=2)
    ledger.add_marker("a", 1, "started")
    ledger.add_marker("b", 2, "started")
    ledger.add_result("a", 1, "succeeded")  # a's latest record is now the newest
    ledger.add_marker("c", 3, "started")
    assert ledger.verdict("a", 1, "ledger") == "redelivered"
    assert ledger.verdict("b", 2, "ledger") == "run"
    assert ledger.verdict("c", 3, "ledger") == "outcome_unknown"


def test_ids_older_than_the_window_are_forgotten() -> None:
    now = time.time()
    ledger = Ledger(window_s=3600)
    ledger.add_result("old", 1, "succeeded", at=now - 7200)  # read back: outside the window
    ledger.add_result("recent", 2, "succeeded", at=now - 60)
    assert ledger.size == 1
    assert ledger.verdict("old", 1, "key") == "run"
    assert ledger.verdict("recent", 2, "key") == "redelivered"
    expiring = Ledger(window_s=3600)
    expiring.add_result("x", 1, "succeeded", at=now - 3599)
    assert expiring.verdict("x", 9, "key") == "duplicate"
    expiring.add_result("y", 2, "succeeded", at=now + 2)  # a later record moves the horizon
    assert expiring.size == 1
    assert expiring.verdict("x", 9, "key") == "run"
