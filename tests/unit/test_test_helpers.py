"""The test suite's own helpers stay one: one deadline wait, one fake clock.

``tests/waiting.py`` holds the only polling loop (``eventually`` and its
sync twin) and ``tests/fakeclock.py`` the only fake clock. A test file that
writes its own deadline loop, sleeps to wait, or defines its own clock or
fake sleep fails here with the file and line, and the helpers themselves
are checked to fail when they should.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.fakeclock import EPOCH, FakeClock
from tests.waiting import DeadlinePassed, eventually, eventually_sync

TESTS = Path(__file__).resolve().parents[1]
WAITING = TESTS / "waiting.py"
FAKECLOCK = TESTS / "fakeclock.py"

# (what is wrong, pattern of a line, the one file allowed to have it)
RULES = [
    (
        "a deadline computed from a clock: use tests.waiting.eventually",
        re.compile(r"\bdeadline\s*=\s*.*(monotonic\(\)|\.time\(\))"),
        WAITING,
    ),
    (
        "a loop on a clock reading: use tests.waiting.eventually",
        re.compile(r"^\s*while\b.*(monotonic\(\)|\.time\(\))"),
        WAITING,
    ),
    (
        "a sleep that is not a test's stimulus (mark one '# stimulus: ...'): "
        "wait with tests.waiting.eventually",
        re.compile(r"\b(asyncio|time)\.sleep\((?!0\))(?!.*#.*stimulus)"),
        WAITING,
    ),
    (
        "a clock of its own: use tests.fakeclock.FakeClock",
        re.compile(r"^\s*class\s+\w*(Clock|Time)\b"),
        FAKECLOCK,
    ),
    (
        "a fake sleep of its own: use FakeClock.sleep",
        re.compile(r"^\s*async\s+def\s+\w*sleep\("),
        FAKECLOCK,
    ),
]


def violations(path: Path, text: str) -> list[str]:
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        for what, pattern, allowed in RULES:
            if path != allowed and pattern.search(line):
                found.append(f"{path.relative_to(TESTS.parent)}:{number}: {what}: {line.strip()}")
    return found


def test_no_test_file_writes_its_own_wait_loop_or_clock() -> None:
    found = [
        v
        for path in sorted(TESTS.rglob("*.py"))
        if path != Path(__file__).resolve()
        for v in violations(path, path.read_text())
    ]
    assert found == [], "\n".join(found)


@pytest.mark.parametrize(
    "line",
    [
        "    deadline = time.monotonic() + 30",
        "    deadline = loop.time() + timeout",
        "    while time.monotonic() < deadline:",
        "        await asyncio.sleep(0.05)  # polling interval",
        "        time.sleep(0.1)",
        "class FakeClock:",
        "class VirtualTime:",
        "async def fake_sleep(seconds: float) -> None:",
    ],
)
def test_the_scan_finds_a_second_wait_loop_or_clock(line: str) -> None:
    assert violations(TESTS / "unit" / "test_x.py", f"x = 1\n{line}\n")


@pytest.mark.parametrize(
    "line",
    [
        "    await asyncio.sleep(0)",
        "    await asyncio.sleep(gap)  # stimulus: a client writing slowly",
        "    RetryPolicy(deadline=60)",
        "    began = time.monotonic()",
    ],
)
def test_the_scan_lets_through_what_is_no_wait(line: str) -> None:
    assert violations(TESTS / "unit" / "test_x.py", line) == []


async def test_eventually_returns_the_first_value_that_holds() -> None:
    values = iter([0, 1, 2, 3])

    async def observe() -> int:
        return next(values)

    assert await eventually(observe, 5, until=lambda v: v >= 2, interval=0) == 2
    assert await eventually(lambda: "ready", 5) == "ready"


async def test_eventually_names_what_it_waited_for_and_the_last_value() -> None:
    with pytest.raises(DeadlinePassed) as info:
        await eventually(lambda: [1, 2], 0.05, until=lambda v: len(v) > 2, what="three items")
    assert "three items" in str(info.value)
    assert "last value seen: [1, 2]" in str(info.value)
    assert info.value.last == [1, 2]
    with pytest.raises(AssertionError, match=r"lambda: None"):
        await eventually(lambda: None, 0.05)  # unnamed: the source of the lambda


async def test_eventually_fails_at_once_when_the_observation_raises() -> None:
    calls: list[int] = []

    def observe() -> bool:
        calls.append(1)
        raise RuntimeError("the task under test crashed")

    with pytest.raises(RuntimeError, match="crashed"):
        await eventually(observe, 60)
    assert len(calls) == 1  # not observed again until the deadline


def test_eventually_sync_waits_and_fails_like_its_twin() -> None:
    values = iter(["", "", "up"])
    assert eventually_sync(lambda: next(values), 5, interval=0) == "up"
    with pytest.raises(DeadlinePassed, match=r"waited 0\.05 s for nothing yet; last value seen: 0"):
        eventually_sync(lambda: 0, 0.05, what="nothing yet")


async def test_fake_clock_moves_only_when_slept_on_or_moved() -> None:
    clock = FakeClock(10.0)
    assert clock() == 10.0
    assert clock.wall() == EPOCH
    await clock.sleep(2.5)
    clock.now += 1
    assert (clock(), clock.wall(), clock.sleeps) == (13.5, EPOCH + 3.5, [2.5])
