"""Slack ``history:<channel>`` poll streams against the Slack sandbox over
real sockets, through the connector's own client. No Kafka needed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

import connectors
from connectors.slack import SlackSettings
from connectors.slack._sandbox import SlackSandbox
from core import errors as e
from core.poll import Cursor, PollStream
from core.testing.commands import CommandRunner
from tests.polltools import (
    assert_once,
    assert_repeat_stops,
    assert_resumes_after_each_page,
    final,
    ids,
    run,
)

CHANNEL = "C0SANDBOX"
SLACK = connectors.get("slack")


def section(sb: SlackSandbox, **kw: object) -> SlackSettings:
    values: dict[str, object] = {
        "bot_token": "xoxb-sandbox",
        "base_url": sb.url,
        "rate": 1000,
        "poll_channels": [CHANNEL],
    }
    return SlackSettings.model_validate({**values, **kw})


@pytest.fixture
async def slack() -> AsyncIterator[tuple[SlackSandbox, CommandRunner]]:
    async with SlackSandbox() as sb:
        sb.seed_messages(CHANNEL, 449, start=1_700_000_000)
        sb.seed_messages(CHANNEL, 1, subtype="channel_join", text="<@U1> has joined")
        sb.seed_messages("C0GENERAL", 3)
        async with CommandRunner(SLACK, section(sb)) as runner:
            yield sb, runner


def history(runner: CommandRunner) -> PollStream:
    assert SLACK.polls is not None
    (stream,) = SLACK.polls(runner.section)
    return stream


async def test_a_full_run_yields_every_message_once(
    slack: tuple[SlackSandbox, CommandRunner],
) -> None:
    sb, r = slack
    stream = history(r)
    assert stream.name == f"history:{CHANNEL}"
    pages = await run(stream, r.client)
    assert [p.records for p in pages] == [200, 200, 50]
    expected = [f"{CHANNEL}:{m['ts']}" for m in sb.history(CHANNEL)]
    assert assert_once(pages) == expected
    first = pages[0].events[0]
    assert first.type == "slack.message.channel_join"
    assert first.subject == CHANNEL
    assert first.delivery == "poll"
    assert first.source == "switchboard/slack"
    assert first.data == sb.history(CHANNEL)[0]
    last = pages[-1].events[-1]
    assert last.type == "slack.message"
    assert last.time == datetime.fromtimestamp(1_700_000_000, UTC)
    assert final(pages).mark == sb.history(CHANNEL)[0]["ts"]
    requests = sb.requests_to("/conversations.history", "GET")
    assert requests[0].query_param("cursor") is None
    assert all(q.query_param("cursor") for q in requests[1:])
    assert all(q.query_param("channel") == CHANNEL for q in requests)
    assert all(q.query_param("limit") == "200" for q in requests)
    assert all(q.query_param("oldest") is None for q in requests)


async def test_a_second_run_reads_only_what_came_after_the_mark(
    slack: tuple[SlackSandbox, CommandRunner],
) -> None:
    sb, r = slack
    stream = history(r)
    done = final(await run(stream, r.client))
    posted = await r.run("chat.post_message", {"channel": CHANNEL, "text": "new"})
    more = sb.seed_messages(CHANNEL, 2)
    again = await run(stream, r.client, done)
    new_ts = [posted.data["ts"], *(m["ts"] for m in more)]
    assert sorted(ids(again)) == sorted(f"{CHANNEL}:{ts}" for ts in new_ts)
    # oldest is exclusive at Slack: the mark's own message is not read again
    assert sb.requests_to("/conversations.history")[-1].query_param("oldest") == done.mark
    assert final(again).mark == max(new_ts, key=Decimal)
    assert ids(await run(stream, r.client, final(again))) == []


async def test_the_lookback_reads_again_only_its_window_with_the_same_ids(
    slack: tuple[SlackSandbox, CommandRunner],
) -> None:
    sb, r = slack
    (stream,) = SLACK.polls(section(sb, poll_lookback_s=5.5))
    pages = await run(stream, r.client)
    first_ids = set(ids(pages))
    done = final(pages)
    more = sb.seed_messages(CHANNEL, 3)
    again = ids(await run(stream, r.client, done))
    new = {f"{CHANNEL}:{m['ts']}" for m in more}
    repeated = set(again) - new
    assert new <= set(again)
    assert repeated <= first_ids
    window = Decimal(done.mark) - Decimal("5.5")
    assert {Decimal(i.split(":")[1]) > window for i in repeated} == {True}
    assert len(repeated) == 6  # 1 s apart: the mark's message and the 5 before it


async def test_resuming_from_page_k_yields_exactly_the_pages_after_it(
    slack: tuple[SlackSandbox, CommandRunner],
) -> None:
    sb, r = slack
    stream = history(r)
    full = await run(stream, r.client)
    sb.seed_messages(CHANNEL, 5)  # posted during the run: the cursor is a position
    await assert_resumes_after_each_page(stream, r.client, full)


async def test_a_repeated_cursor_stops_the_run_with_a_pagination_error(
    slack: tuple[SlackSandbox, CommandRunner],
) -> None:
    sb, r = slack
    stream = history(r)
    full = await run(stream, r.client)
    sb.repeat_cursor = True
    error = await assert_repeat_stops(stream, r.client, full)
    assert "already fetched" in str(error)


async def test_ok_false_on_a_history_get_is_an_error(
    slack: tuple[SlackSandbox, CommandRunner],
) -> None:
    sb, r = slack
    (stream,) = SLACK.polls(section(sb, poll_channels=["C0NOPE"]))
    with pytest.raises(e.FatalRequestError) as info:
        await run(stream, r.client)
    assert info.value.status == 200
    assert info.value.provider_code == "channel_not_found"
    async with CommandRunner(SLACK, section(sb, bot_token="xoxb-wrong")) as wrong:
        with pytest.raises(e.FatalConfigError) as auth:
            await run(history(wrong), wrong.client)
    assert auth.value.provider_code == "invalid_auth"


async def test_a_mark_before_the_first_message_and_a_backfill_date(
    slack: tuple[SlackSandbox, CommandRunner],
) -> None:
    sb, r = slack
    stream = history(r)
    # oldest is exclusive: a mark reads what came after it; a backfill date
    # reads from that instant on, included
    ten = Cursor(mark="1700000439.000000")
    assert len(ids(await run(stream, r.client, ten))) == 10
    backfill = datetime.fromtimestamp(1_700_000_440, UTC)
    assert len(ids(await run(stream, r.client, backfill=backfill))) == 10
    assert sb.requests_to("/conversations.history")[-1].query_param("oldest") == (
        "1700000439.999999"
    )


def test_poll_channels_must_be_channel_ids() -> None:
    with pytest.raises(ValidationError) as info:
        SlackSettings(poll_channels=["#general"])
    assert info.value.errors()[0]["loc"] == ("poll_channels",)
    assert SlackSettings().poll_channels == []
    assert SLACK.polls is not None
    assert SLACK.polls(SlackSettings()) == []
