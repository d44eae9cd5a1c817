"""``switchboard demo`` end to end: the command as a user runs it.

It runs in a topic namespace of its own (a unique topic prefix, deleted
afterwards), so what earlier runs left on the broker cannot change it.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

SWITCHBOARD = str(Path(sys.executable).parent / "switchboard")

pytestmark = pytest.mark.integration


def test_demo_shows_and_checks_every_outcome(cli_env: dict[str, str], topic_prefix: str) -> None:
    env = {**cli_env, "SWITCHBOARD_KAFKA__TOPIC_PREFIX": topic_prefix}
    done = subprocess.run(
        [SWITCHBOARD, "demo"], env=env, capture_output=True, text=True, timeout=240, check=False
    )
    out = done.stdout
    assert done.returncode == 0, f"stdout:\n{out}\nstderr:\n{done.stderr}"
    assert "!! " not in out

    # webhooks: every delivery answered as expected, one event per id
    assert re.search(r"^ok  401  stripe: tampered body$", out, re.M)
    assert "ok  3 events for 3 ids (the duplicate was dropped)" in out
    # the sink ran against the sandbox: one line per command outcome
    assert re.search(r"^ok  Result: succeeded  http 200  attempts 1  -> cus_\w+$", out, re.M)
    assert re.search(
        r"^ok  no second Result \(1 in all for demo-\w+-good\); side effects at the sandbox: 1$",
        out,
        re.M,
    )
    assert re.search(r"^ok  Result: succeeded  http 200  attempts 3  \(retried", out, re.M)
    assert re.search(
        r"^ok  exit 2, nothing produced: error: stripe\.customers\.create: params\.email: ",
        out,
        re.M,
    )
    assert re.search(
        rf"^ok  Result: failed  attempts 0  error invalid_command  -> {topic_prefix}stripe"
        r"\.commands\.dlq$",
        out,
        re.M,
    )
    assert re.search(
        r"^ok  Result: failed  http 404  attempts 1  error fatal_request \(resource_missing\)",
        out,
        re.M,
    )
    # the DLQ as `switchboard dlq list` prints it: a table with both records
    assert re.search(r"^REF +FAILED AT +CONNECTOR +STAGE +REASON", out, re.M)
    rows = [
        line for line in out.splitlines() if line.startswith(f"{topic_prefix}stripe.commands.dlq:")
    ]
    assert sorted(row.split()[4] for row in rows) == ["fatal_request", "invalid_command"]
    assert re.search(
        r"^ok  dead-lettered from this run: demo-\w+-missing \(fatal_request\), "
        r"demo-\w+-raw \(invalid_command\)$",
        out,
        re.M,
    )
    assert "Every expected outcome happened." in out
