"""DLQ tooling on records a real worker dead-lettered, and replays a real
worker consumes: the dedup agent (``stripe.ingest`` -> ``stripe.events``)
stands in for any consumer that keys on an id carried in the value.

- what the worker dead-letters, `dlq list` shows;
- replaying the same valid event twice yields one event downstream (the id
  in the value is unchanged, so the consumer's dedup drops the second);
- a record that fails again is dead-lettered again with its lineage header.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import pytest

import connectors
from core.envelopes import DlqHeaders, Event
from streams import kafka
from streams.dlq import REPLAY_FROM
from streams.kafka.topics import TopicNames, connector_topics, ensure_topics
from streams.settings import Settings, load_settings
from streams.worker import build_faust_app
from tests.dlqtools import SWITCHBOARD
from tests.kafkatools import read_topic

pytestmark = pytest.mark.integration


@pytest.fixture
async def worker_settings(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    for key in list(os.environ):
        if key.startswith("SWITCHBOARD_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS", kafka_bootstrap)
    monkeypatch.setenv("SWITCHBOARD_KAFKA__TOPIC_PREFIX", topic_prefix)
    monkeypatch.setenv("SWITCHBOARD_WORKER__DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SWITCHBOARD_WORKER__ROLES", '["dedup"]')
    settings = load_settings(sections=connectors.settings_sections())
    await ensure_topics(settings, connector_topics(settings, "stripe"))
    return settings


async def switchboard(*args: str) -> tuple[int, str, str]:
    """The installed CLI, without blocking the loop the worker runs on."""
    proc = await asyncio.create_subprocess_exec(
        SWITCHBOARD,
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


def event(event_id: str) -> bytes:
    return Event(
        id=event_id,
        source="switchboard/stripe",
        type="stripe.customer.updated",
        subject=event_id,
        provider="stripe",
        delivery="webhook",
        data={"id": event_id},
    ).to_json()


async def test_dead_lettered_by_a_worker_listed_and_replayed_safely(
    worker_settings: Settings,
) -> None:
    names = TopicNames.from_settings(worker_settings)
    ingest, events = names.ingest("stripe"), names.events("stripe")
    dlq = names.dlq(ingest)
    # A valid event dead-lettered as if a transient fault had stopped it.
    transient = DlqHeaders(
        original_topic=ingest,
        original_partition=0,
        original_offset=0,
        connector="stripe",
        stage="dedup",
        reason="transient",
        error_class="TimeoutError",
    ).to_headers()
    async with kafka.connect(worker_settings, kafka.producer(worker_settings)) as producer:
        event_again = event("evt_again")
        await producer.send_and_wait(dlq, event_again, key=b"evt_again", headers=transient)
        app = build_faust_app(worker_settings, f"dlq-{uuid.uuid4().hex[:8]}")
        await app.start()
        try:
            await producer.send_and_wait(ingest, b"\x00not an event", key=b"evt_poison")
            await read_topic(worker_settings, dlq, expect=2)

            code, out, err = await switchboard("dlq", "list", "--topic", "stripe.ingest")
            assert code == 0, err
            poison_row = next(line for line in out.splitlines() if "invalid_event" in line)
            assert "dedup" in poison_row
            assert "evt_poison" in poison_row
            poison_ref = poison_row.split()[0]

            # The same replay twice: one event downstream.
            for _ in range(2):
                code, out, err = await switchboard("dlq", "replay", "--reason", "transient", "-y")
                assert code == 0, err
                assert "replayed 1 record(s)" in out
            # A later record on their partition marks the point where both
            # copies were consumed.
            copies = [r for r in await read_topic(worker_settings, ingest) if r.key == b"evt_again"]
            assert len(copies) == 2
            assert copies[0].value == copies[1].value == event_again
            await producer.send_and_wait(
                ingest, event("evt_sentinel"), key=b"evt_sentinel", partition=copies[0].partition
            )
            downstream = await read_topic(worker_settings, events, expect=2)
            ids = sorted(Event.from_json(r.value).id for r in downstream)
            assert ids == ["evt_again", "evt_sentinel"]

            # The poison fails again and comes back with its lineage.
            code, out, err = await switchboard("dlq", "replay", "--ref", poison_ref, "-y")
            assert code == 0, err
            letters = await read_topic(worker_settings, dlq, expect=3)
        finally:
            await app.stop()
    (again,) = [r for r in letters if REPLAY_FROM in dict(r.headers)]
    assert again.value == b"\x00not an event"
    assert dict(again.headers)[REPLAY_FROM] == poison_ref.encode()
    assert DlqHeaders.from_headers(again.headers).reason == "invalid_event"
