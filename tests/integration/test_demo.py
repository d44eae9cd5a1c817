"""``switchboard demo`` end to end: the command as a user runs it, on a used broker.

The "user" here is a topic prefix unique to the test (what the real ``make
demo`` sees with no prefix: the default ``stripe.*`` topics, groups and
cursors). Before the demo runs, that namespace holds what the suite and the
benchmarks leave behind: a backlog of unconsumed records on ``stripe.ingest``
under the worker's default group, old ``evt_bench_*`` events on
``stripe.events``, a ``stripe.events`` cursor, and the topics of an earlier
demo run that was killed. The demo must pass anyway, and leave every topic's
end offset, every group's committed offsets and the cursor records of that
namespace exactly as they were; the killed run's topics and its own are gone.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import TopicPartition

import connectors
from core.envelopes import Event
from core.poll import Cursor
from core.testing.signing import sign_stripe
from streams import kafka
from streams.kafka.topics import TopicNames, connector_topics, ensure_topics, shared_topics
from streams.offsets import cursors_topic, write_change
from streams.offsets.cursors import CursorRecord
from streams.settings import Settings, load_settings

SWITCHBOARD = str(Path(sys.executable).parent / "switchboard")
ROOT = Path(__file__).resolve().parents[2]
USER_MARK = "evt_bench_0000000000099999"  # the user's own stripe.events cursor
BACKLOG = 200  # unconsumed records on the user's stripe.ingest
KILLED_RUN = "demo.20200101T000000-0badc0de."  # an earlier demo, killed before its cleanup

pytestmark = pytest.mark.integration


def user_settings(bootstrap: str, prefix: str) -> Settings:
    return load_settings(
        sections=connectors.settings_sections(),
        kafka={"bootstrap_servers": bootstrap, "topic_prefix": prefix},
    )


async def plant_leftovers(settings: Settings) -> None:
    """What earlier tests and benchmarks leave in a namespace (see the module docstring)."""
    names = TopicNames.from_settings(settings)
    specs = shared_topics(settings)
    for name in ("stripe", "github", "slack"):
        specs += connector_topics(settings, name)
    await ensure_topics(settings, specs)
    ingest, events = names.ingest("stripe"), names.events("stripe")
    async with kafka.connect(settings, kafka.producer(settings)) as producer:
        for i in range(BACKLOG):
            body = orjson.dumps({"id": f"evt_bench_{i:016d}", "object": "event"})
            if i % 2:  # garbage, as a fuzz test or a broken producer leaves it
                await producer.send(ingest, b"\xff not json " + body, key=b"garbage")
                continue
            event = Event(
                id=f"evt_bench_{i:016d}",
                source="switchboard/stripe",
                type="stripe.payment_intent.succeeded",
                provider="stripe",
                delivery="webhook",
                data={"object": {"id": f"pi_bench_{i}"}},
            )
            headers = [(k, v.encode()) for k, v in sign_stripe(body, "whsec_bench").items()]
            await producer.send(ingest, event.to_json(), key=event.id.encode(), headers=headers)
            await producer.send(events, event.to_json(), key=event.id.encode())
        await producer.flush()
    # the worker's default group consumed the first record of each partition, no more
    consumer = kafka.consumer(settings, group_id=f"{names.prefix}switchboard-worker")
    async with kafka.connect(settings, consumer):
        tps = [TopicPartition(ingest, p) for p in range(settings.kafka.partitions)]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        await consumer.commit({tp: min(1, ends[tp]) for tp in tps})
    record = CursorRecord(
        "stripe.events", Cursor(mark=USER_MARK), polled_at="2026-01-01T00:00:00+00:00"
    )
    await write_change(settings, await cursors_topic(settings), record)
    # the topics of a demo that was killed: deleted by the next run
    killed = settings.model_copy(
        update={
            "kafka": settings.kafka.model_copy(update={"topic_prefix": names.prefix + KILLED_RUN})
        }
    )
    await ensure_topics(killed, connector_topics(killed, "stripe"))


async def snapshot(settings: Settings) -> dict[str, Any]:
    """Everything of the namespace outside its ``demo.`` runs: topics and their
    end offsets, groups and their committed offsets, the cursor records as bytes."""
    prefix = settings.kafka.topic_prefix
    mine = prefix + "demo."
    async with kafka.connect(settings, kafka.admin(settings)) as admin:
        topics = sorted(
            t for t in await admin.list_topics() if t.startswith(prefix) and not t.startswith(mine)
        )
        groups = sorted(
            g[0]
            for g in await admin.list_consumer_groups()
            if g[0].startswith(prefix) and not g[0].startswith(mine)
        )
        committed = {g: await admin.list_consumer_group_offsets(g) for g in groups}
        described = await admin.describe_topics(topics)
    tps = [TopicPartition(d["topic"], p["partition"]) for d in described for p in d["partitions"]]
    consumer = kafka.consumer(settings, group_id=None)
    async with kafka.connect(settings, consumer):
        ends = await consumer.end_offsets(tps)
        cursors_tp = TopicPartition(TopicNames.from_settings(settings).cursors, 0)
        cursor_tps = [tp for tp in tps if tp.topic == cursors_tp.topic]
        consumer.assign(cursor_tps)
        await consumer.seek_to_beginning(*cursor_tps)
        cursor_records: list[tuple[int, int, bytes | None, bytes | None]] = []
        while [tp for tp in cursor_tps if await consumer.position(tp) < ends[tp]]:
            for tp, batch in (await consumer.getmany(timeout_ms=1000)).items():
                cursor_records += [(tp.partition, r.offset, r.key, r.value) for r in batch]
    return {
        "topics": topics,
        "end offsets": {f"{tp.topic}[{tp.partition}]": end for tp, end in ends.items()},
        "committed": {
            g: {f"{tp.topic}[{tp.partition}]": tuple(meta) for tp, meta in offsets.items()}
            for g, offsets in committed.items()
        },
        "cursor records": sorted(cursor_records),
    }


async def demo_leftovers(settings: Settings) -> tuple[list[str], list[str]]:
    """Topics and groups of any demo run left in the namespace."""
    mine = settings.kafka.topic_prefix + "demo."
    async with kafka.connect(settings, kafka.admin(settings)) as admin:
        topics = [t for t in await admin.list_topics() if t.startswith(mine)]
        groups = [g[0] for g in await admin.list_consumer_groups() if g[0].startswith(mine)]
    return sorted(topics), sorted(groups)


def run_demo(env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run ``switchboard demo`` from the repository, as ``make demo`` does, with a
    PATH that does not find ``switchboard`` (a virtualenv not activated)."""
    bin_dir = str(Path(SWITCHBOARD).parent)
    path = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != bin_dir)
    began = time.monotonic()
    done = subprocess.run(
        [SWITCHBOARD, "demo"],
        env={**env, "PATH": path},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return done, time.monotonic() - began


def demo_prefix(out: str, user: str) -> str:
    """The run's own namespace, as the demo announces it."""
    found = re.search(r"^the demo's own namespace: topic prefix (\S+) ", out, re.M)
    assert found is not None, out
    prefix = found.group(1)
    assert re.fullmatch(re.escape(user) + r"demo\.\d{8}T\d{6}-[0-9a-f]{8}\.", prefix), prefix
    return prefix


def assert_every_outcome(out: str, prefix: str) -> None:
    """The demo's narration: each outcome checked and shown."""
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
    dlq = re.escape(f"{prefix}stripe.commands.dlq")
    assert re.search(
        rf"^ok  Result: failed  attempts 0  error invalid_command  -> {dlq}$", out, re.M
    )
    assert re.search(
        r"^ok  Result: failed  http 404  attempts 1  error fatal_request \(resource_missing\)",
        out,
        re.M,
    )
    # the DLQ as `switchboard dlq list` prints it: a table with both records
    assert re.search(r"^REF +FAILED AT +CONNECTOR +STAGE +REASON", out, re.M)
    rows = [line for line in out.splitlines() if line.startswith(f"{prefix}stripe.commands.dlq:")]
    assert sorted(row.split()[4] for row in rows) == ["fatal_request", "invalid_command"]
    assert re.search(
        r"^ok  dead-lettered from this run: demo-\w+-missing \(fatal_request\), "
        r"demo-\w+-raw \(invalid_command\)$",
        out,
        re.M,
    )
    # the missed webhook: the poll recovered the event never delivered, and every
    # event is once on stripe.events
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
    events = re.escape(f"{prefix}stripe.events")
    ingest = re.escape(f"{prefix}stripe.ingest")
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
    # `switchboard offsets list`: the demo's cursor is at the newest event
    newest = max([missed, *(event_id for event_id, _kind in sent)])
    header = r"^STREAM +STATUS +MARK +IN RUN +LAST PAGE +LAST FAILURE +WORKER +ERROR$"
    assert re.search(header, out, re.M)
    assert re.search(rf'^stripe\.events +ok +"{newest}" +no ', out, re.M)
    assert USER_MARK not in out  # the user's cursor is not the demo's
    assert (
        f"ok  stripe.events: the next poll starts after {newest}, the newest event at the sandbox"
        in out
    )
    assert re.search(
        rf"^deleted the demo's \d+ topics and \d+ consumer groups \({re.escape(prefix)}\*\)$",
        out,
        re.M,
    )
    assert "Every expected outcome happened." in out
    # the closing hint names the command as it can be run from here
    script = Path(SWITCHBOARD)
    shown = script.relative_to(ROOT) if script.is_relative_to(ROOT) else script
    assert f"stop the broker with `{shown} kafka stop`." in out


@pytest.fixture
def used(cli_env: dict[str, str], topic_prefix: str) -> tuple[dict[str, str], Settings]:
    """The environment of a user whose namespace (``topic_prefix``) holds leftovers."""
    settings = user_settings(cli_env["SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS"], topic_prefix)
    asyncio.run(plant_leftovers(settings))
    return {**cli_env, "SWITCHBOARD_KAFKA__TOPIC_PREFIX": topic_prefix}, settings


def test_demo_passes_on_a_used_broker_and_leaves_the_users_namespace_untouched(
    used: tuple[dict[str, str], Settings],
) -> None:
    env, settings = used
    user = settings.kafka.topic_prefix
    before = asyncio.run(snapshot(settings))
    assert before["cursor records"]  # what there is to keep
    assert before["committed"]
    done, seconds = run_demo(env)
    out = done.stdout
    assert done.returncode == 0, f"stdout:\n{out}\nstderr:\n{done.stderr}"
    assert asyncio.run(snapshot(settings)) == before
    assert asyncio.run(demo_leftovers(settings)) == ([], [])
    prefix = demo_prefix(out, user)
    assert_every_outcome(out, prefix)
    assert f"deleted the topics of an earlier, interrupted demo run ({user}{KILLED_RUN}*)" in out
    print(f"\ndemo on a used namespace: {seconds:.1f} s")


def test_demo_passes_three_times_in_a_row(used: tuple[dict[str, str], Settings]) -> None:
    env, settings = used
    before = asyncio.run(snapshot(settings))
    times = []
    for _ in range(3):
        done, seconds = run_demo(env)
        out = done.stdout
        assert done.returncode == 0, f"stdout:\n{out}\nstderr:\n{done.stderr}"
        assert_every_outcome(out, demo_prefix(out, settings.kafka.topic_prefix))
        times.append(seconds)
    assert asyncio.run(snapshot(settings)) == before
    assert asyncio.run(demo_leftovers(settings)) == ([], [])
    print("\ndemo three times in a row: " + ", ".join(f"{s:.1f} s" for s in times))
