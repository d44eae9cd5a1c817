"""Poll throughput: Stripe ``/v1/events`` polled into Kafka end to end.

The Stripe sandbox serves ``BENCH_POLL_RECORDS`` (default 100,000) events in
pages of 100 with 5 ms latency (recording off). Two setups are measured,
each with its own copy of the sandbox:

- *process*: the sandbox in its own process (:func:`core.testing.spawn_sandbox`,
  seeded by :func:`seeded_sandbox` there) -- the setup the target uses,
  ``BENCH_POLL_ROUNDS`` (default 3) rounds, medians shown;
- *thread*: the sandbox in a thread of this process (its own event loop,
  but the same GIL as the measured loop), one round, for comparison. The
  bare loop has measured the same in both setups (within 3 %), the poller
  never better with the sandbox in a thread, where the sandbox's CPU also
  counts in the measured process: so the target uses the process setup.

In each setup, with the same sandbox, each round measures:

(a) a bare ``httpx.AsyncClient`` loop paging ``/v1/events`` (limit=100,
    ``starting_after`` = the page's last id) with no Kafka, nothing parsed
    beyond the JSON;
(b) a real :class:`streams.poll.Poller` with the Stripe ``events`` stream
    (settings pointing at the sandbox, a fresh topic prefix, topics made
    with ``ensure_topics``, ``poll.jitter`` 0, ``stripe.rate`` 1e9 -- the
    default 25 req/s would be the limit otherwise). Its run is timed from
    the moment the stream is owned (the group join before it is shown
    apart as "startup") to the Kafka timestamp of the cursor record that
    ends the run (a mark, no resume point), and it counts only once all
    the records are on ``<prefix>stripe.ingest`` (the end offsets). Time to
    first record: the first ingest record's Kafka timestamp.

Ratio = (b) / (a), median records/s of the process setup. The Kafka side of
a page is measured alone (c): the poller's own hot path -- 100 Events built
from Stripe event objects, produced with the poller's producer settings,
their acks awaited, then the cursor record written with ``send_and_wait``
-- with no HTTP. It is shorter than a page's HTTP round trip, so with the
next page prefetched it stays off the critical path.

Target (issue 14): the poller >= 0.9 of the bare loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
from aiokafka import TopicPartition
from pydantic import HttpUrl, SecretStr

import connectors
from bench._harness import Check, Report
from bench._workers import delete_topics  # best effort, by prefix
from connectors.stripe._poll import EVENTS as EVENTS_STREAM
from connectors.stripe._sandbox import StripeSandbox
from connectors.stripe._sandbox_events import EventLog
from core.envelopes import Event
from core.testing import spawn_sandbox
from streams import kafka, localkafka
from streams.kafka.batches import send_keyed
from streams.kafka.topics import (
    TopicNames,
    connector_topics,
    ensure_topics,
    partitions_of,
    shared_topics,
)
from streams.offsets.cursors import CursorRecord, partition_for
from streams.poll import Poller, build_polls
from streams.settings import Settings, load_settings

RECORDS = int(os.environ.get("BENCH_POLL_RECORDS", "100000"))
PAGE = 100
LATENCY = 0.005
API_KEY = "sk_test_sandbox"
STREAM_ID = "stripe.events"
KAFKA_PAGES = 200  # (c): pages produced without HTTP
ROUNDS = int(os.environ.get("BENCH_POLL_ROUNDS", "3"))  # with the sandbox in a process
TIMEOUT = 120.0  # per poller run
_CONTENT_TYPE = [("content-type", Event.CONTENT_TYPE.encode())]


def seeded_sandbox() -> StripeSandbox:
    """The sandbox every run pages: ``RECORDS`` events, 5 ms latency, no recording.

    Also the factory ``spawn_sandbox("bench.poll_throughput:seeded_sandbox")``
    runs in the child process.
    """
    sandbox = StripeSandbox(api_key=API_KEY)
    sandbox.record = False
    sandbox.set_latency(LATENCY)
    sandbox.add_events(RECORDS)
    return sandbox


@contextlib.contextmanager
def _serve(setup: str) -> Iterator[str]:
    if setup == "process":
        with spawn_sandbox("bench.poll_throughput:seeded_sandbox", timeout=60) as proc:
            yield proc.url
    else:
        with seeded_sandbox().in_thread(timeout=30) as sandbox:
            yield sandbox.url


# -- (a) the bare loop ----------------------------------------------------------------


async def _bare(url: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:
        began, cpu = time.perf_counter(), time.process_time()
        first = 0.0
        records = pages = 0
        params: dict[str, Any] = {"limit": PAGE}
        while True:
            response = await client.get("/v1/events", params=params)
            response.raise_for_status()
            body = response.json()
            data = body["data"]
            if not pages:
                first = time.perf_counter() - began
            records += len(data)
            pages += 1
            if not body["has_more"]:
                break
            params = {"limit": PAGE, "starting_after": data[-1]["id"]}
        elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
    return {
        "records": records,
        "pages": pages,
        "run_s": elapsed,
        "first_ms": first * 1000,
        "cpu_s": cpu,
        "startup_s": 0.0,
    }


# -- (b) the poller -------------------------------------------------------------------


def _bench_settings(settings: Settings, bootstrap: str, prefix: str, url: str) -> Settings:
    update: dict[str, Any] = {
        "kafka": settings.kafka.model_copy(
            update={"bootstrap_servers": bootstrap, "topic_prefix": prefix}
        ),
        "poll": settings.poll.model_copy(
            update={"connectors": ["stripe"], "streams": None, "jitter": 0.0}
        ),
        "stripe": settings.section("stripe").model_copy(
            update={"api_key": SecretStr(API_KEY), "base_url": HttpUrl(url), "rate": 1e9}
        ),
    }
    return settings.model_copy(update=update)


async def _partitions(settings: Settings, topic: str) -> list[TopicPartition]:
    found = await partitions_of(settings, topic)
    if not found:
        raise RuntimeError(f"topic {topic} has no partitions")
    return [TopicPartition(topic, p) for p in found]


async def _poller(settings: Settings) -> dict[str, Any]:
    """Run a Poller until the stream's run is over and every record acknowledged."""
    names = TopicNames.from_settings(settings)
    await ensure_topics(settings, shared_topics(settings) + connector_topics(settings, "stripe"))
    targets = build_polls(settings)
    assert [t.id for t in targets] == [STREAM_ID], [t.id for t in targets]
    cursors = kafka.consumer(settings, group_id=None)
    loop = asyncio.get_running_loop()
    async with kafka.connect(settings, cursors):
        partitions = len(await _partitions(settings, names.cursors))
        cursor_tp = TopicPartition(names.cursors, partition_for(STREAM_ID, partitions))
        cursors.assign([cursor_tp])
        cursors.seek(cursor_tp, 0)
        ingest = await _partitions(settings, names.ingest("stripe"))
        # New topics: wait until every partition's leader answers (ListOffsets
        # is retried until it does), so the poll does not start with produce
        # retries against partitions still without a leader.
        await cursors.end_offsets([*ingest, *await _partitions(settings, names.cursors)])

        poller = Poller(settings, targets)
        began_wall, cpu = time.time(), time.process_time()
        task = asyncio.create_task(poller.run())
        try:
            deadline = loop.time() + TIMEOUT
            while not poller.owned():  # the group join: one wake-up per ms, no more
                if task.done() or loop.time() > deadline:
                    task.result()
                    raise TimeoutError("the poller never owned its stream")
                await asyncio.sleep(0.001)
            owned_wall = time.time()
            final: CursorRecord | None = None
            final_ms = 0
            while final is None:
                if task.done() or loop.time() > deadline:
                    task.result()
                    raise TimeoutError(f"no finished run within {TIMEOUT:g} s")
                batch = await cursors.getmany(cursor_tp, timeout_ms=200)
                for message in batch.get(cursor_tp, []):
                    if message.key != STREAM_ID.encode() or message.value is None:
                        continue
                    record = CursorRecord.from_json(message.value)
                    if record.status in ("failed", "throttled"):
                        raise RuntimeError(f"the poll failed: {record.error}")
                    done = record.cursor.mark is not None and not record.cursor.in_run
                    if record.status == "ok" and done:
                        final, final_ms = record, message.timestamp
            while sum((await cursors.end_offsets(ingest)).values()) < RECORDS:
                if loop.time() > deadline:
                    raise TimeoutError(f"fewer than {RECORDS} records on the ingest topic")
                await asyncio.sleep(0.05)
            cpu = time.process_time() - cpu
        finally:
            poller.stop()
            await asyncio.wait_for(task, 30)
        acked = sum((await cursors.end_offsets(ingest)).values())
        first_ms = await _first_timestamp(settings, ingest)
    run_s = final_ms / 1000 - owned_wall
    return {
        "records": acked,
        "pages": final.pages,
        "run_s": run_s,
        "first_ms": first_ms - owned_wall * 1000,
        "cpu_s": cpu,
        "startup_s": owned_wall - began_wall,
    }


async def _first_timestamp(settings: Settings, tps: list[TopicPartition]) -> float:
    """The earliest Kafka timestamp (ms) among the first records of ``tps``."""
    consumer = kafka.consumer(settings, group_id=None)
    stamps: list[int] = []
    async with kafka.connect(settings, consumer):
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        for tp in tps:
            if ends[tp]:
                consumer.seek(tp, 0)
                stamps.append((await consumer.getone(tp)).timestamp)
    return float(min(stamps))


# -- (c) the Kafka side of a page, alone ------------------------------------------------


async def _kafka_side(settings: Settings) -> dict[str, float]:
    """The poller's per-page Kafka work with no HTTP, split into its parts."""
    names = TopicNames.from_settings(settings)
    await ensure_topics(settings, shared_topics(settings) + connector_topics(settings, "stripe"))
    log = EventLog()
    log.add_many(KAFKA_PAGES * PAGE, "charge.succeeded")
    objects = log.all()
    topic = names.ingest("stripe")
    spans = {"events": 0.0, "send": 0.0, "acks": 0.0, "cursor": 0.0}
    async with kafka.connect(settings, kafka.producer(settings, linger_ms=1)) as producer:
        partition = partition_for(STREAM_ID, len(await producer.partitions_for(names.cursors)))
        record = CursorRecord(STREAM_ID)
        began = time.perf_counter()
        cpu = time.process_time()
        for page in range(KAFKA_PAGES):
            t0 = time.perf_counter()
            chunk = objects[page * PAGE : (page + 1) * PAGE]
            events = [ev for obj in chunk for ev in EVENTS_STREAM.to_events(obj)]
            t1 = time.perf_counter()
            records = ((ev.id.encode(), ev.to_json()) for ev in events)
            acks = await send_keyed(producer, topic, records, headers=_CONTENT_TYPE)
            t2 = time.perf_counter()
            await asyncio.gather(*acks)
            t3 = time.perf_counter()
            record = record.evolve(
                pages=page + 1, records=len(events), polled_at=datetime.now(UTC).isoformat()
            )
            await producer.send_and_wait(
                names.cursors, record.to_json(), key=STREAM_ID.encode(), partition=partition
            )
            t4 = time.perf_counter()
            for name, span in zip(spans, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                spans[name] += span
        total = time.perf_counter() - began
        cpu = time.process_time() - cpu
    out = {f"{name}_ms": value / KAFKA_PAGES * 1000 for name, value in spans.items()}
    return {**out, "total_ms": total / KAFKA_PAGES * 1000, "cpu_ms": cpu / KAFKA_PAGES * 1000}


# -- the report -----------------------------------------------------------------------


def _median(values: list[float]) -> float:
    return float(statistics.median(values))


def _row(case: str, rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of each figure over ``rounds`` (and each round's records/s)."""

    def med(key: str) -> float:
        return _median([float(f[key]) for f in rounds])

    def rate(f: dict[str, Any]) -> float:
        return float(f["records"] / f["run_s"])

    return {
        "case": case,
        "records": rounds[0]["records"],
        "pages": rounds[0]["pages"],
        "run s": med("run_s"),
        "records/s": _median([rate(f) for f in rounds]),
        "pages/s": _median([f["pages"] / f["run_s"] for f in rounds]),
        "ms/page": _median([f["run_s"] / f["pages"] * 1000 for f in rounds]),
        "first record ms": med("first_ms"),
        "cpu ms/page": _median([f["cpu_s"] / f["pages"] * 1000 for f in rounds]),
        "startup s": med("startup_s"),
        "rounds records/s": ", ".join(f"{rate(f):,.0f}" for f in rounds),
    }


def run() -> Report:
    settings = load_settings(sections=connectors.settings_sections())
    bootstrap, started = localkafka.ensure_broker(settings)
    run_id = uuid.uuid4().hex[:8]
    prefixes: list[str] = []
    figures: dict[str, list[dict[str, Any]]] = {}

    def poll_round(setup: str, url: str, n: int) -> dict[str, Any]:
        prefix = f"benchpoll{run_id}{setup[0]}{n}."
        prefixes.append(prefix)
        return asyncio.run(_poller(_bench_settings(settings, bootstrap, prefix, url)))

    try:
        for setup, rounds in (("process", ROUNDS), ("thread", 1)):
            bare, polled = figures[f"bare {setup}"], figures[f"poller {setup}"] = [], []
            with _serve(setup) as url:
                for n in range(rounds):  # alternated: a slow spell of the machine hits both
                    bare.append(asyncio.run(_bare(url)))
                    polled.append(poll_round(setup, url, n))
        prefix = f"benchpoll{run_id}k."
        prefixes.append(prefix)
        side = asyncio.run(_kafka_side(_bench_settings(settings, bootstrap, prefix, "http://x")))
    finally:
        delete_topics(bootstrap, prefixes)
        if started:
            localkafka.stop(settings.local_kafka)

    rows = [
        _row("(a) bare httpx loop, no Kafka; sandbox in a process", figures["bare process"]),
        _row("(b) Poller -> stripe.ingest; sandbox in a process", figures["poller process"]),
        _row("(a) bare httpx loop, no Kafka; sandbox in a thread", figures["bare thread"]),
        _row("(b) Poller -> stripe.ingest; sandbox in a thread", figures["poller thread"]),
    ]
    ratio = rows[1]["records/s"] / rows[0]["records/s"]
    ratio_thread = rows[3]["records/s"] / rows[2]["records/s"]
    kafka_row = {
        "case": "(c) Kafka side of a page alone (Events, produce, acks, cursor), no HTTP",
        "records": KAFKA_PAGES * PAGE,
        "pages": KAFKA_PAGES,
        "run s": side["total_ms"] * KAFKA_PAGES / 1000,
        "records/s": PAGE * 1000 / side["total_ms"],
        "pages/s": 1000 / side["total_ms"],
        "ms/page": side["total_ms"],
        "first record ms": "-",
        "cpu ms/page": side["cpu_ms"],
        "startup s": "-",
        "rounds records/s": "-",
    }
    rows.append(kafka_row)
    return Report(
        name="poll_throughput",
        rows=rows,
        checks=[Check("poller / bare loop (sandbox in a process)", ratio, 0.9, ">=")],
        notes=[
            f"{RECORDS:,} Stripe events in pages of {PAGE}, sandbox latency"
            f" {LATENCY * 1000:g} ms, recording off; sandbox in a process: {ROUNDS} rounds"
            " (bare loop and poller alternated, medians shown), in a thread: 1 round",
            f"ratio poller / bare (median records/s): {ratio:.2f} with the sandbox in a"
            f" process (the target), {ratio_thread:.2f} with it in a thread of this process",
            f"Kafka side of one page (c), mean of {KAFKA_PAGES} pages: {side['total_ms']:.2f} ms"
            f" = build 100 Events {side['events_ms']:.2f} + produce {side['send_ms']:.2f}"
            f" + await acks {side['acks_ms']:.2f} + cursor send_and_wait {side['cursor_ms']:.2f};"
            f" CPU {side['cpu_ms']:.2f} ms (producer as the poller's: acks=all, idempotent,"
            " linger_ms=1)",
            "poller run s: from the stream being owned to the Kafka timestamp of the cursor"
            " record ending the run (then all records counted on the ingest topic's end"
            " offsets); startup s: Poller.run() until the stream is owned (group join);"
            " first record ms: from owned to the first ingest record's Kafka timestamp"
            " (bare: from its first request to the first page parsed)",
            "cpu ms/page: this process (the sandbox's CPU is included when it runs in a"
            " thread); stripe.rate 1e9 (the default 25 req/s would cap the poll at 25"
            " pages/s), poll.jitter 0",
            f"bare loop, poller, sandbox and the broker share the machine's {os.cpu_count()} cores",
        ],
    )
