"""#9.2: a poll cursor cannot send the connector's credential to another host.

The Stripe sandbox is the provider; a second local server stands in for
``attacker.example`` and records whatever reaches it. A cursor whose
``next.url`` is an absolute URL on another origin is refused when the poller
starts a run from it (nothing is sent; the stream reports the error and
``/healthz`` is not ok) and when ``offsets set`` is given it (exit 2, nothing
written). Relative URLs and absolute ones on the connector's own origin
still resume the run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

import connectors
from connectors.stripe import StripeSettings
from connectors.stripe._sandbox import StripeSandbox
from core.pagination import PageRequest, PaginationError
from core.poll import Cursor, PollStream, poll_run
from core.ratelimit import BudgetRegistry
from core.testing import Sandbox
from streams import kafka
from streams.cli import cli
from streams.kafka.topics import TopicNames, connector_topics, ensure_topics, shared_topics
from streams.offsets.cursors import CursorRecord, partition_for
from streams.poll import Poller, PollTarget
from streams.settings import Settings
from tests.conftest import run_async
from tests.integration.test_poller import Running
from tests.kafkatools import read_topic
from tests.waiting import eventually

pytestmark = pytest.mark.integration

KEY = "sk_live_reprokey"
STREAM_ID = "stripe.events"


@pytest.fixture
async def sites() -> AsyncIterator[tuple[StripeSandbox, Sandbox]]:
    async with StripeSandbox(api_key=KEY) as stripe, Sandbox() as attacker:
        stripe.add_events(5)
        yield stripe, attacker


def section(stripe: StripeSandbox) -> StripeSettings:
    return StripeSettings(api_key=KEY, base_url=stripe.url, rate=1000)


def events_stream(stripe: StripeSandbox) -> tuple[PollStream, Any]:
    connector = connectors.get("stripe")
    assert connector.polls is not None
    assert connector.api is not None
    (stream,) = connector.polls(section(stripe))
    return stream, connector.api(section(stripe))


def resume_at(url: str) -> Cursor:
    # Stored and read back as JSON, as the poller does.
    cursor = Cursor(next=PageRequest(url=url, params={"limit": "100"}), run_mark="evt_x")
    return Cursor.from_json(cursor.to_json())


def foreign_urls(attacker: Sandbox) -> list[str]:
    host_port = attacker.url.split("://", 1)[1]
    return [
        f"{attacker.url}/collect",
        f"//{host_port}/collect",  # scheme-relative: another host all the same
        f"HTTP://{host_port.upper()}/collect",
    ]


@pytest.mark.parametrize("which", range(3))
async def test_a_run_never_starts_at_a_foreign_cursor_url(
    sites: tuple[StripeSandbox, Sandbox], which: int
) -> None:
    stripe, attacker = sites
    stream, setup = events_stream(stripe)
    url = foreign_urls(attacker)[which]
    async with setup.client(budgets=BudgetRegistry()) as client:
        with pytest.raises(PaginationError, match="another origin") as raised:
            async for _page in poll_run(stream, client, resume_at(url)):
                pass
    assert not raised.value.retryable
    assert KEY not in str(raised.value)
    assert attacker.requests == []
    assert stripe.requests == []


async def test_relative_and_same_origin_cursor_urls_still_resume(
    sites: tuple[StripeSandbox, Sandbox],
) -> None:
    stripe, attacker = sites
    stream, setup = events_stream(stripe)
    async with setup.client(budgets=BudgetRegistry()) as client:
        for url in ("/v1/events", f"{stripe.url}/v1/events"):
            pages = [page async for page in poll_run(stream, client, resume_at(url))]
            assert [p.records for p in pages] == [5]
    assert attacker.requests == []


@pytest.fixture
async def env(prefixed_settings: Settings) -> Settings:
    await ensure_topics(
        prefixed_settings,
        shared_topics(prefixed_settings) + connector_topics(prefixed_settings, "stripe"),
    )
    return prefixed_settings


async def store(settings: Settings, record: CursorRecord) -> None:
    names = TopicNames.from_settings(settings)
    async with kafka.connect(settings, kafka.producer(settings)) as producer:
        partitions = len(await producer.partitions_for(names.cursors))
        await producer.send_and_wait(
            names.cursors,
            record.to_json(),
            key=record.stream.encode(),
            partition=partition_for(record.stream, partitions),
        )


async def stored(settings: Settings) -> list[CursorRecord]:
    records = await read_topic(settings, TopicNames.from_settings(settings).cursors)
    return [CursorRecord.from_json(r.value) for r in records if r.key == STREAM_ID.encode()]


async def test_the_poller_refuses_a_stored_foreign_cursor_and_reports_it(
    env: Settings, sites: tuple[StripeSandbox, Sandbox]
) -> None:
    stripe, attacker = sites
    stream, setup = events_stream(stripe)
    planted = CursorRecord(STREAM_ID, cursor=resume_at(f"{attacker.url}/collect"))
    await store(env, planted)
    target = PollTarget(connectors.get("stripe"), stream, setup)
    async with Running(Poller(env, [target])) as poller:

        async def failed() -> CursorRecord | None:
            records = await stored(env)
            return records[-1] if records[-1].status == "failed" else None

        record = await eventually(failed)
        ok, detail = poller.health()[f"poll:{STREAM_ID}"]
    assert attacker.requests == []  # no request, no Authorization header
    assert stripe.requests == []
    assert ok is False
    for text in (record.error or "", detail):
        assert "another origin" in text
        assert "switchboard offsets" in text
        assert KEY not in text
    assert record.cursor == planted.cursor  # kept as found, for a person to look at


def offsets_set_next_url(stripe: StripeSandbox, url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``offsets set stripe.events --cursor {"next": {"url": url}}`` with stripe configured."""
    monkeypatch.setenv("SWITCHBOARD_STRIPE__API_KEY", KEY)
    monkeypatch.setenv("SWITCHBOARD_STRIPE__BASE_URL", stripe.url)
    cursor = orjson.dumps({"next": {"url": url}}).decode()
    return CliRunner().invoke(
        cli, ["offsets", "set", STREAM_ID, "--cursor", cursor, "--yes", "--timeout", "0"]
    )


def test_offsets_set_refuses_a_foreign_cursor_url(
    env: Settings, sites: tuple[StripeSandbox, Sandbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    stripe, attacker = sites
    result = offsets_set_next_url(stripe, f"{attacker.url}/collect", monkeypatch)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "another origin" in lines[0]
    assert stripe.url in lines[0]  # the origin it must be on
    assert "--mark" in lines[0]  # the fix
    assert result.stdout == ""
    assert run_async(stored(env)) == []


def test_offsets_set_takes_a_cursor_on_the_connectors_origin(
    env: Settings, sites: tuple[StripeSandbox, Sandbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    stripe, _attacker = sites
    result = offsets_set_next_url(stripe, f"{stripe.url}/v1/events", monkeypatch)
    assert result.exit_code == 0, result.output
    written = [r.cursor.next for r in run_async(stored(env))]
    assert written == [PageRequest(url=f"{stripe.url}/v1/events")]
