"""#10.7: ``offsets list`` tells a failed poll from the last good page.

A stream stored in the middle of a run (its last good page at a known
time) resumes; the provider refuses the next page. The list used to show
that old time as LAST POLL; now the time of the last good page and the
time of the failure (with its error) are separate columns and fields.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import orjson
import pytest
from click.testing import CliRunner, Result

from core.testing import DemoSandbox
from streams.cli import cli
from streams.offsets.cursors import CursorRecord
from streams.poll import Poller
from streams.settings import Settings
from tests.integration.test_poll_cursor_origin import store
from tests.integration.test_poller import (  # noqa: F401 - fixtures
    STREAM_ID,
    Running,
    _pages,
    cursor_records,
    env,
    items_stream,
    sandbox,
    target,
)
from tests.waiting import eventually

pytestmark = pytest.mark.integration

LAST_PAGE_AT = "2026-03-04T05:06:07+00:00"


async def offsets_list(*args: str) -> Result:
    # The CLI runs its own event loop: in a thread, off this test's loop.
    return await asyncio.to_thread(CliRunner().invoke, cli, ["offsets", "list", *args])


async def test_a_failure_after_the_last_page_is_shown_apart_from_it(
    env: Settings,  # noqa: F811
    sandbox: DemoSandbox,  # noqa: F811
) -> None:
    pages = [p async for p in _pages(items_stream(), sandbox, 2)]
    mid_run = CursorRecord(STREAM_ID, cursor=pages[-1].cursor, pages=2, polled_at=LAST_PAGE_AT)
    await store(env, mid_run)
    sandbox.fail_next(1, 400)
    async with Running(Poller(env, [target(sandbox)])):

        async def failed() -> CursorRecord | None:
            records = await cursor_records(env)
            return records[-1] if records[-1].status == "failed" else None

        record = await eventually(failed)

    assert record.polled_at == LAST_PAGE_AT  # the last good page is still that one
    assert record.failed_at is not None
    failed_at = datetime.fromisoformat(record.failed_at)
    assert failed_at > datetime.fromisoformat(LAST_PAGE_AT)

    as_json = await offsets_list("--json")
    assert as_json.exit_code == 0, as_json.output
    (line,) = [orjson.loads(x) for x in as_json.stdout.splitlines()]
    assert (line["polled_at"], line["failed_at"]) == (LAST_PAGE_AT, record.failed_at)

    table = await offsets_list()
    assert table.exit_code == 0, table.output
    head, row = table.stdout.splitlines()[:2]
    assert head.split() == [
        "STREAM", "STATUS", "MARK", "IN", "RUN", "LAST", "PAGE", "LAST", "FAILURE", "WORKER",
        "ERROR",
    ]  # fmt: skip
    cells = row.split()
    assert cells[1:4] == ["failed", "-", "yes"]  # still in the run it resumed
    assert cells[4:6] == ["2026-03-04T05:06:07Z", failed_at.strftime("%Y-%m-%dT%H:%M:%SZ")]
    assert "FatalRequestError" in row  # the error of that failure, beside it
