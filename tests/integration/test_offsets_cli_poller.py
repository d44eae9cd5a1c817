"""`switchboard offsets set|reset` with a real :class:`streams.poll.Poller`
running in the test's event loop over a poll stream of the demo sandbox (the
CLI runs in a thread, since it runs its own event loop): the poller applies
the change and echoes it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

import connectors
from core.apicall import ClientSetup
from core.client import ClientPolicy
from core.envelopes import Event
from core.pagination import CursorPaginator
from core.poll import Cursor, PollStream, max_mark
from core.testing import DemoSandbox
from streams.kafka.topics import TopicNames, TopicSpec, ensure_topics, shared_topics
from streams.offsets.cursors import CursorRecord
from streams.poll import Poller, PollTarget
from streams.settings import Settings, load_settings
from tests.dlqtools import sb
from tests.integration.offsets_cli_support import cursors, rows
from tests.kafkatools import read_topic
from tests.waiting import eventually

pytestmark = pytest.mark.integration

ITEMS = 30
SID = "generic.items"


def items_stream() -> PollStream:
    """The demo sandbox's cursor-paginated dataset as a poll stream; the
    first request carries the mark (``after``) or the backfill (``since``)."""

    def first(mark: Any, backfill: datetime | None) -> dict[str, Any]:
        if mark is not None:
            return {"after": mark}
        return {"since": backfill.isoformat()} if backfill else {}

    def to_events(record: dict[str, Any]) -> list[Event]:
        return [
            Event(
                id=f"item-{record['id']}",
                source="switchboard/generic",
                type="generic.item",
                provider="generic",
                delivery="poll",
                data=record,
            )
        ]

    return PollStream(
        name="items",
        path="/datasets/items/cursor",
        paginator=lambda: CursorPaginator(limit=10),
        to_events=to_events,
        first=first,
        advance=max_mark("id"),
        interval_s=3600,  # one run at start (no jitter), then only what the CLI wakes
    )


async def latest(settings: Settings) -> CursorRecord | None:
    records = [r for r in await read_topic(settings, cursors(settings)) if r.key == SID.encode()]
    return CursorRecord.from_json(records[-1].value) if records else None


async def until_stored(settings: Settings, check: Callable[[CursorRecord], bool]) -> CursorRecord:
    record = await eventually(
        lambda: latest(settings),
        8,
        until=lambda r: r is not None and check(r),
        what="the stream's stored cursor record",
    )
    assert record is not None
    return record


async def test_a_running_poller_applies_set_and_reset_and_echoes_them(
    kafka_bootstrap: str, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS", kafka_bootstrap)
    monkeypatch.setenv("SWITCHBOARD_KAFKA__TOPIC_PREFIX", topic_prefix)
    monkeypatch.setenv("SWITCHBOARD_POLL__JITTER", "0")
    settings = load_settings(sections=connectors.settings_sections())
    names = TopicNames.from_settings(settings)
    await ensure_topics(
        settings, [*shared_topics(settings), TopicSpec(names.ingest("generic"), 1, 1)]
    )
    async with DemoSandbox(items=ITEMS) as sandbox:
        setup = ClientSetup(policy=ClientPolicy(connector="generic", base_url=sandbox.url))
        poller = Poller(settings, [PollTarget(connectors.get("generic"), items_stream(), setup)])
        running = asyncio.create_task(poller.run())

        def requests() -> list[dict[str, str]]:
            return [dict(r.query) for r in sandbox.requests_to("/datasets/items/cursor")]

        async def applied(*args: str) -> CursorRecord:
            """Run ``offsets *args``; it reports the poller's echo, now the latest record."""
            result = await asyncio.to_thread(sb, "offsets", *args, "--yes", "--timeout", "8")
            assert result.exit_code == 0, result.output
            assert result.stdout.startswith("applied by ")
            echo = await latest(settings)
            assert echo is not None
            assert (echo.origin, echo.status) == ("poller", "reset")
            assert f"request {echo.request}" in result.stderr
            return echo

        try:
            # the first run reads everything: the stream now has a record
            await until_stored(settings, lambda r: r.status == "ok" and r.cursor.mark == ITEMS)
            sandbox.hold()  # the run a change starts stays at its first request

            echo = await applied("set", SID, "--mark", "10")
            assert echo.cursor == Cursor(10)
            # the stream re-polls from the new mark
            await eventually(lambda: requests()[-1].get("after") == "10", 8)
            listed = await asyncio.to_thread(sb, "offsets", "list")
            row = rows(listed.stdout)[SID].split()
            assert row[1:3] == ["reset", "10"]
            assert "pending" not in listed.stdout

            sandbox.release()
            await until_stored(settings, lambda r: r.status == "ok" and r.cursor.mark == ITEMS)
            sandbox.hold()
            echo = await applied("reset", SID, "--from", "2026-01-01")
            assert echo.cursor == Cursor()
            assert echo.backfill == datetime(2026, 1, 1, tzinfo=UTC)
            # the stream re-reads from the backfill date
            await eventually(lambda: requests()[-1].get("since") == "2026-01-01T00:00:00+00:00", 8)
        finally:
            sandbox.release()
            poller.stop()
            await asyncio.wait_for(running, 30)
