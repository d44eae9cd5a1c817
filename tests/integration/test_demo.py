"""``switchboard demo`` end to end: the command as a user runs it.

It runs in a topic namespace of its own (a unique topic prefix, deleted
afterwards), so what earlier runs left on the broker cannot change it --
except the one thing planted on purpose: the ``stripe.events`` cursor an
earlier demo would have left, naming an event this run's sandbox never had.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path

import pytest

import connectors
from core.poll import Cursor
from core.settings import load_settings
from streams._cursors import CursorRecord
from streams.offsets import cursors_topic, write_change
from streams.topics import ensure_topics, shared_topics

SWITCHBOARD = str(Path(sys.executable).parent / "switchboard")
STALE_MARK = "evt_of_an_earlier_run"

pytestmark = pytest.mark.integration


async def plant_stale_cursor(bootstrap: str, prefix: str) -> None:
    """The ``stripe.events`` cursor of an earlier demo: its mark is unknown to
    a new sandbox (which would answer 400 and stop the stream)."""
    settings = load_settings(
        sections=connectors.settings_sections(),
        kafka={"bootstrap_servers": bootstrap, "topic_prefix": prefix},
    )
    await ensure_topics(settings, shared_topics(settings))
    record = CursorRecord(
        "stripe.events", Cursor(mark=STALE_MARK), polled_at="2026-01-01T00:00:00+00:00"
    )
    await write_change(settings, await cursors_topic(settings), record)


def test_demo_shows_and_checks_every_outcome(cli_env: dict[str, str], topic_prefix: str) -> None:
    env = {**cli_env, "SWITCHBOARD_KAFKA__TOPIC_PREFIX": topic_prefix}
    asyncio.run(plant_stale_cursor(env["SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS"], topic_prefix))
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
    # the missed webhook: the stale cursor was reset first, then the poll recovered the
    # event never delivered, and every event is once on stripe.events
    assert f'stripe.events: cursor of an earlier run\'s sandbox (mark "{STALE_MARK}") reset' in out
    assert re.search(
        r"^worker at \S+; it polls stripe\.events \(GET /v1/events\) every 2 s$", out, re.M
    )
    sent = re.findall(
        r"^ok  200  webhook  (evt_\d+)  (invoice\.created|charge\.succeeded)$", out, re.M
    )
    assert [kind for _id, kind in sent] == ["invoice.created", "charge.succeeded"]
    skipped = re.search(
        r"^--  ---  webhook  (evt_\d+)  invoice\.paid: not delivered \(the endpoint was down\)$",
        out,
        re.M,
    )
    assert skipped is not None
    missed = skipped.group(1)
    events = re.escape(f"{topic_prefix}stripe.events")
    ingest = re.escape(f"{topic_prefix}stripe.ingest")
    assert re.search(
        rf"^ok  {missed}  stripe\.invoice\.paid +delivery=poll +1 record\(s\) on {events}  "
        rf"\(copies on {ingest}: poll\)  <- the missed webhook, recovered by the poll$",
        out,
        re.M,
    )
    for event_id, kind in sent:  # delivered, polled too, still once
        assert re.search(
            rf"^ok  {event_id}  stripe\.{re.escape(kind)} +delivery=webhook +1 record\(s\) on "
            rf"{events}  \(copies on {ingest}: webhook, poll\)$",
            out,
            re.M,
        )
    # `switchboard offsets list`: the cursor is at the newest event
    newest = max([missed, *(event_id for event_id, _kind in sent)])
    assert re.search(r"^STREAM +STATUS +MARK +IN RUN +LAST POLL +WORKER +ERROR$", out, re.M)
    assert re.search(rf'^stripe\.events +ok +"{newest}" +no ', out, re.M)
    assert (
        f"ok  stripe.events: the next poll starts after {newest}, the newest event at the sandbox"
        in out
    )
    assert "Every expected outcome happened." in out
