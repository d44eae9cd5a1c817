"""Twilio ``messages`` poll stream against the Twilio sandbox over real
sockets, through the connector's own client. No Kafka needed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import pytest
from pydantic import ValidationError

import connectors
from connectors.twilio import TwilioSettings
from connectors.twilio._sandbox import TwilioSandbox
from core.poll import PollStream
from core.testing.commands import CommandRunner
from tests.polltools import (
    assert_once,
    assert_repeat_stops,
    assert_resumes_after_each_page,
    events,
    final,
    ids,
    run,
)

TWILIO = connectors.get("twilio")
SID = "AC" + "0" * 32
START = datetime(2023, 8, 22, tzinfo=UTC)
NOW = datetime(2023, 8, 26, 9, 30, tzinfo=UTC)
LIST = f"/2010-04-01/Accounts/{SID}/Messages.json"


def section(sb: TwilioSandbox, **kw: object) -> TwilioSettings:
    values: dict[str, object] = {
        "account_sid": SID,
        "auth_tokens": ["twilio-sandbox-token"],
        "public_url": "https://hooks.example.com",
        "base_url": sb.url,
        "rate": 1000,
        "poll_messages": True,
    }
    return TwilioSettings.model_validate({**values, **kw})


@pytest.fixture
async def twilio() -> AsyncIterator[tuple[TwilioSandbox, CommandRunner]]:
    async with TwilioSandbox(now=lambda: NOW) as sb:
        # 250 messages 20 minutes apart: Aug 22 00:00 .. Aug 25 11:00 (UTC)
        sb.seed_messages(249, start=START, step_s=1200)
        sb.seed_messages(1, start=START + timedelta(seconds=249 * 1200), status="failed")
        async with CommandRunner(TWILIO, section(sb)) as runner:
            yield sb, runner


def messages(runner: CommandRunner) -> PollStream:
    assert TWILIO.polls is not None
    (stream,) = TWILIO.polls(runner.section)
    return stream


def created(message: dict[str, object]) -> datetime:
    return parsedate_to_datetime(str(message["date_created"]))


async def test_a_full_run_yields_every_message_once(
    twilio: tuple[TwilioSandbox, CommandRunner],
) -> None:
    sb, r = twilio
    stream = messages(r)
    assert stream.name == "messages"
    pages = await run(stream, r.client)
    assert [p.records for p in pages] == [100, 100, 50]
    assert assert_once(pages) == [m["sid"] for m in sb.listed()]
    newest = pages[0].events[0]
    assert newest.type == "twilio.message.failed"
    assert newest.subject == newest.id
    assert newest.time == START + timedelta(seconds=249 * 1200)
    assert newest.delivery == "poll"
    assert {e.type for e in pages[1].events} == {"twilio.message.delivered"}
    assert final(pages).mark == "2023-08-25T11:00:00Z"
    first, *rest = sb.requests_to(LIST, "GET")
    assert first.query_param("PageSize") == "100"
    assert first.query_param("DateSent>") is None
    # the next pages are Twilio's own next_page_uri: the page token, no extra params
    assert all(str(q.query_param("PageToken")).startswith("PASM") for q in rest)


async def test_a_second_run_reads_from_the_day_of_the_mark_minus_the_lookback(
    twilio: tuple[TwilioSandbox, CommandRunner],
) -> None:
    sb, r = twilio
    stream = messages(r)
    full = await run(stream, r.client)
    done = final(full)
    more = sb.seed_messages(3, start=datetime(2023, 8, 25, 11, 20, tzinfo=UTC), step_s=60)
    sent = await r.run(
        "messages.create", {"to": "+15550001111", "from": "+15550002222", "body": "hi"}
    )
    again = await run(stream, r.client, done)
    found = assert_once(again)
    new = {m["sid"] for m in more} | {sent.data["sid"]}
    assert new <= set(found)
    repeated = set(found) - new
    assert repeated <= set(ids(full))
    # Twilio filters by day: the UTC day of (mark - 300 s) is read again, and only it
    day = datetime(2023, 8, 25, tzinfo=UTC)
    assert repeated == {e.id for e in events(full) if e.time is not None and e.time >= day}
    assert len(repeated) == 34
    assert sb.requests_to(LIST, "GET")[-1].query_param("DateSent>") == "2023-08-25"
    queued = next(e for p in again for e in p.events if e.id == sent.data["sid"])
    assert queued.type == "twilio.message.queued"
    assert final(again).mark == "2023-08-26T09:30:00Z"


async def test_the_lookback_crosses_midnight_by_whole_days(
    twilio: tuple[TwilioSandbox, CommandRunner],
) -> None:
    sb, r = twilio
    (stream,) = TWILIO.polls(section(sb, poll_lookback_s=12 * 3600))
    done = final(await run(stream, r.client))
    await run(stream, r.client, done)
    assert sb.requests_to(LIST, "GET")[-1].query_param("DateSent>") == "2023-08-24"


async def test_resuming_from_page_k_yields_exactly_the_pages_after_it(
    twilio: tuple[TwilioSandbox, CommandRunner],
) -> None:
    sb, r = twilio
    stream = messages(r)
    full = await run(stream, r.client)
    sb.seed_messages(5, start=NOW)  # created during the run: the token is a position
    await assert_resumes_after_each_page(stream, r.client, full)


async def test_a_repeated_next_page_uri_stops_the_run_with_a_pagination_error(
    twilio: tuple[TwilioSandbox, CommandRunner],
) -> None:
    sb, r = twilio
    stream = messages(r)
    full = await run(stream, r.client)
    sb.repeat_cursor = True
    await assert_repeat_stops(stream, r.client, full)


async def test_a_backfill_date_filters_from_that_day() -> None:
    async with TwilioSandbox(now=lambda: NOW) as sb:
        sb.seed_messages(10, start=START, step_s=86400)
        async with CommandRunner(TWILIO, section(sb)) as r:
            pages = await run(messages(r), r.client, backfill=START + timedelta(days=7, hours=5))
    assert [created(m).day for m in sb.listed()][:3] == [31, 30, 29]
    assert len(ids(pages)) == 3


def test_polls_are_off_unless_asked_and_need_the_account() -> None:
    assert TWILIO.polls is not None
    assert TWILIO.polls(TwilioSettings(account_sid=SID)) == []
    with pytest.raises(ValidationError, match="poll_messages needs account_sid"):
        TwilioSettings(poll_messages=True)
