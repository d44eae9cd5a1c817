"""Generic poll streams declared in settings, against the generic sandbox
(the demo datasets under every pagination scheme, and an incremental
``/v1/events`` feed) over real sockets, through the connector's own client.
No Kafka needed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

import connectors
from connectors.generic import GenericSettings
from connectors.generic._sandbox import GenericSandbox
from core import errors as e
from core.poll import PollStream
from core.testing.commands import CommandRunner
from streams.settings import SettingsError, load_settings
from tests.polltools import (
    assert_once,
    assert_repeat_stops,
    assert_resumes_after_each_page,
    events,
    final,
    ids,
    run,
)

GENERIC = connectors.get("generic")
START = datetime(2024, 5, 1, tzinfo=UTC)

# One declaration per paginator kind over the demo dataset "items" (95 records).
KINDS: dict[str, dict[str, Any]] = {
    "cursor": {
        "path": "/datasets/items/cursor",
        "paginator": {"kind": "cursor", "has_more_path": "has_more", "limit": 10},
    },
    "link": {
        "path": "/datasets/items/link",
        "params": {"per_page": 10},
        "paginator": {"kind": "link"},
    },
    "next_url": {
        "path": "/datasets/items/next-url",
        "params": {"PageSize": 10},
        "paginator": {"kind": "next_url"},
    },
    "offset": {
        "path": "/datasets/items/offset",
        "paginator": {"kind": "offset", "limit": 10, "has_more_path": "has_more"},
    },
    "page": {
        "path": "/datasets/items/page",
        "paginator": {"kind": "page", "size": 10, "next_page_path": "next_page"},
    },
}

CHANGES: dict[str, Any] = {
    "name": "changes",
    "path": "/v1/events",
    "paginator": {"kind": "cursor", "has_more_path": "has_more", "limit": 25},
    "id_field": "id",
    "type": "change",
    "type_field": "kind",
    "subject_field": "subject",
    "time_field": "updated_at",
    "incremental": {"param": "since", "field": "updated_at", "lookback_s": 120},
}


def item_poll(kind: str) -> dict[str, Any]:
    return {
        "name": f"items-{kind}".replace("_", "-"),
        "id_field": "id",
        "type": "item",
        **KINDS[kind],
    }


@pytest.fixture
async def sandbox() -> AsyncIterator[GenericSandbox]:
    async with GenericSandbox() as sb:
        sb.add_events(100, start=START)
        yield sb


async def streams_of(
    sb: GenericSandbox, *polls: dict[str, Any]
) -> tuple[CommandRunner, list[PollStream]]:
    section = GenericSettings.model_validate({"base_url": sb.url, "polls": list(polls)})
    assert GENERIC.polls is not None
    return CommandRunner(GENERIC, section), list(GENERIC.polls(section))


@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_every_paginator_kind_reads_the_dataset_once_and_resumes(
    sandbox: GenericSandbox, kind: str
) -> None:
    runner, (stream,) = await streams_of(sandbox, item_poll(kind))
    async with runner as r:
        pages = await run(stream, r.client)
        assert [p.records for p in pages] == [10] * 9 + [5]
        assert assert_once(pages) == [str(i) for i in range(1, 96)]
        event = pages[0].events[0]
        assert (event.type, event.source, event.delivery) == (
            "generic.item",
            "switchboard/generic",
            "poll",
        )
        assert event.data == {"id": 1, "name": "item-1"}
        assert event.subject is None
        assert final(pages).mark is None  # not incremental: every run reads everything
        await assert_resumes_after_each_page(stream, r.client, pages)


@pytest.mark.parametrize(
    ("kind", "good"),
    # a page number is a token from the first request on: page 1 points back at itself
    [("cursor", 2), ("link", 2), ("next_url", 2), ("page", 1)],
)
async def test_a_repeated_token_stops_each_kind_with_a_pagination_error(
    sandbox: GenericSandbox, kind: str, good: int
) -> None:
    runner, (stream,) = await streams_of(sandbox, item_poll(kind))
    async with runner as r:
        full = await run(stream, r.client)
        sandbox.repeat_cursor = True
        await assert_repeat_stops(stream, r.client, full, good)


async def test_offsets_are_computed_so_a_repeated_next_offset_cannot_loop(
    sandbox: GenericSandbox,
) -> None:
    # The offset strategy counts the records it received instead of trusting
    # the body's next_offset: the provider's repeated offset is never followed.
    runner, (stream,) = await streams_of(sandbox, item_poll("offset"))
    async with runner as r:
        sandbox.repeat_cursor = True
        assert len(assert_once(await run(stream, r.client))) == 95


async def test_an_incremental_feed_reads_everything_then_what_came_after_the_mark(
    sandbox: GenericSandbox,
) -> None:
    runner, (stream,) = await streams_of(sandbox, CHANGES)
    async with runner as r:
        full = await run(stream, r.client)
        assert [p.records for p in full] == [25] * 4
        assert assert_once(full) == [f"evt_{i:06d}" for i in range(1, 101)]
        event = full[0].events[0]
        assert event.type == "generic.change.thing.updated"
        assert event.subject == "thing_1"
        assert event.time == START
        done = final(full)
        assert done.mark == "2024-05-01T01:39:00Z"
        added = sandbox.add_events(5, start=START + timedelta(hours=2))
        again = await run(stream, r.client, done)
        new = {a["id"] for a in added}
        repeated = set(assert_once(again)) - new
        assert new <= set(ids(again))
        # since = mark - 120 s, inclusive: the mark's record and the two before it
        assert repeated == {"evt_000098", "evt_000099", "evt_000100"}
        assert sandbox.requests_to("/v1/events")[-1].query_param("since") == (
            "2024-05-01T01:37:00Z"
        )
        assert final(again).mark == "2024-05-01T02:04:00Z"


async def test_an_incremental_feed_resumes_after_each_page_and_stops_on_a_repeat(
    sandbox: GenericSandbox,
) -> None:
    runner, (stream,) = await streams_of(sandbox, CHANGES)
    async with runner as r:
        full = await run(stream, r.client)
        await assert_resumes_after_each_page(stream, r.client, full)
        sandbox.repeat_cursor = True
        await assert_repeat_stops(stream, r.client, full)


async def test_a_backfill_date_is_the_first_runs_start(sandbox: GenericSandbox) -> None:
    runner, (stream,) = await streams_of(sandbox, CHANGES)
    async with runner as r:
        pages = await run(stream, r.client, backfill=START + timedelta(minutes=90))
    assert [ev.id for ev in events(pages)] == [f"evt_{i:06d}" for i in range(91, 101)]
    assert sandbox.requests_to("/v1/events")[0].query_param("since") == "2024-05-01T01:30:00Z"


async def test_a_record_without_its_id_stops_the_run(sandbox: GenericSandbox) -> None:
    runner, (stream,) = await streams_of(sandbox, {**item_poll("cursor"), "id_field": "uuid"})
    async with runner as r:
        with pytest.raises(e.InvalidBodyError, match="id_field uuid"):
            await run(stream, r.client)


async def test_a_poll_declared_in_the_environment_runs_end_to_end(
    sandbox: GenericSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWITCHBOARD_GENERIC__BASE_URL", sandbox.url)
    monkeypatch.setenv("SWITCHBOARD_GENERIC__POLLS", orjson.dumps([CHANGES]).decode())
    settings = load_settings(sections=connectors.settings_sections())
    section = settings.section("generic")
    assert GENERIC.polls is not None
    (stream,) = GENERIC.polls(section)
    assert stream.name == "changes"
    async with CommandRunner(GENERIC, section) as r:
        assert len(ids(await run(stream, r.client))) == 100


@pytest.mark.parametrize(
    ("change", "names"),
    [
        (
            {"paginator": {"kind": "cursor", "curser_param": "c"}},
            "polls.0.paginator.cursor.curser_param",
        ),
        ({"paginator": {"kind": "graphql"}}, "polls.0.paginator"),
        ({"paginator": {"kind": "page", "size": 0}}, "polls.0.paginator.page.size"),
        ({"id_field": None}, "polls.0.id_field"),
        ({"name": "Has Spaces"}, "polls.0.name"),
        (
            {"incremental": {"param": "since", "field": "id", "kind": "value", "lookback_s": 5}},
            "lookback_s",
        ),
        ({"incremental": {"param": "since"}}, "polls.0.incremental.field"),
        ({"records": "data"}, "polls.0.records"),
        (
            {"paginator": {"kind": "cursor", "cursor_path": "a", "last_record_field": "id"}},
            "cursor_path or last_record_field",
        ),
    ],
)
def test_a_bad_definition_fails_naming_its_field(change: dict[str, Any], names: str) -> None:
    with pytest.raises(ValidationError) as info:
        GenericSettings.model_validate(
            {"base_url": "http://127.0.0.1:9", "polls": [{**CHANGES, **change}]}
        )
    found = [(".".join(map(str, err["loc"])), err["msg"]) for err in info.value.errors()]
    assert any(loc == names or loc.startswith(names + ".") or names in msg for loc, msg in found)


def test_poll_names_are_unique_and_need_a_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="two polls are named 'changes'"):
        GenericSettings.model_validate({"base_url": "http://127.0.0.1:9", "polls": [CHANGES] * 2})
    with pytest.raises(ValidationError, match="polls need base_url"):
        GenericSettings.model_validate({"polls": [CHANGES]})
    bad = {**CHANGES, "paginator": {"kind": "cursor", "curser_param": "c"}}
    monkeypatch.setenv("SWITCHBOARD_GENERIC__BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("SWITCHBOARD_GENERIC__POLLS", orjson.dumps([bad]).decode())
    with pytest.raises(SettingsError, match=r"generic\.polls\.0\.paginator\.cursor\.curser_param"):
        load_settings(sections=connectors.settings_sections())
