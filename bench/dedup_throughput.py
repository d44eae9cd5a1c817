"""Dedup throughput: Events through ``stripe.ingest`` -> ``stripe.events``.

``BENCH_EVENTS`` (default 40,000) Stripe Events, one in five a second copy
of an earlier one (a provider's retry), are produced to a fresh topic
namespace first, keyed as the ingest keys them. Then a ``switchboard worker
--roles dedup`` process (faust, the seen-table with its changelog on) turns
them into the unique Events on ``stripe.events``. Throughput is input
records per second between the first output record and the last; CPU is the
worker's over the same span (its start, group join and table restore left
out), per input record.

Baseline, the strongest: a bare aiokafka consume -> produce loop over the
same input in this process, no table: ``getmany``, a ``send`` per record to
another topic, the batch's acks awaited, then the offsets committed -- the
least a consumer that loses nothing does. (It forwards duplicates: the
table is the work dedup adds.) Every process shares the machine's 2 cores
with the broker.

Target (issue 14, point 6): none given; the figures feed the README's CPU
table. The check asks dedup for >= 0.5 of the bare loop.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
import uuid
from typing import Any

import connectors
from bench._harness import Check, Report
from bench._workers import count_until, delete_topics, with_prefix, worker
from core.envelopes import Event
from streams import kafka, localkafka
from streams.kafka.topics import TopicNames, TopicSpec, connector_topics, ensure_topics
from streams.settings import Settings, load_settings

EVENTS = int(os.environ.get("BENCH_EVENTS", "40000"))
COPY_EVERY = 5  # every fifth record repeats an earlier event
TIMEOUT = 300.0


def _records(n: int, run: str) -> list[tuple[bytes, bytes]]:
    out = []
    for i in range(n):
        j = i - 1 if i % COPY_EVERY == COPY_EVERY - 1 else i
        event = Event(
            id=f"evt_{run}_{j}",
            source="switchboard/stripe",
            type="stripe.customer.updated",
            subject=f"cus_{j % 1000}",
            provider="stripe",
            delivery="webhook",
            data={"id": f"cus_{j % 1000}", "object": "customer", "email": f"u{j}@example.com"},
        )
        out.append((event.dedup_key.encode(), event.to_json()))
    return out


def _unique(records: list[tuple[bytes, bytes]]) -> int:
    return len({key for key, _ in records})


async def _produce(settings: Settings, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    async with kafka.connect(settings, kafka.producer(settings, linger_ms=20)) as producer:
        pending = [await producer.send(topic, value, key=key) for key, value in records]
        await asyncio.gather(*pending)


async def _bare(settings: Settings, source: str, target: str, n: int) -> dict[str, Any]:
    consumer = kafka.consumer(settings, source, group_id=f"bare-{uuid.uuid4().hex[:6]}")
    producer = kafka.producer(settings)
    done = 0
    async with kafka.connect(settings, consumer), kafka.connect(settings, producer):
        began = cpu = 0.0
        while done < n:
            batch = await consumer.getmany(timeout_ms=1000, max_records=2000)
            if not batch:
                continue
            if not began:
                began, cpu = time.perf_counter(), time.process_time()
            acks = [
                await producer.send(target, m.value, key=m.key)
                for messages in batch.values()
                for m in messages
            ]
            await asyncio.gather(*acks)
            await consumer.commit()
            done += len(acks)
        elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
    return {"per_s": done / elapsed, "cpu_ms": cpu / done * 1000, "wall_s": elapsed}


def _dedup(bench: Settings, unique: int, n: int) -> dict[str, Any]:
    names = TopicNames.from_settings(bench)
    env = {
        **os.environ,
        "SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS": str(bench.kafka.bootstrap_servers),
        "SWITCHBOARD_KAFKA__TOPIC_PREFIX": bench.kafka.topic_prefix or "",
        "SWITCHBOARD_WORKER__DATA_DIR": tempfile.mkdtemp(prefix="switchboard-bench-"),
        "SWITCHBOARD_LOG_LEVEL": "WARNING",
    }
    began = time.monotonic()
    with worker("dedup", env) as proc:
        seen, span, cpu = asyncio.run(
            count_until(bench, names.events("stripe"), unique, began + TIMEOUT, proc.pid)
        )
    handled = (unique - seen) * n / unique  # input records behind the output counted
    return {
        "per_s": handled / span,
        "cpu_ms": cpu / handled * 1000,
        "wall_s": time.monotonic() - began,
    }


def run() -> Report:
    settings = load_settings(sections=connectors.settings_sections())
    bootstrap, started = localkafka.ensure_broker(settings)
    run_id = uuid.uuid4().hex[:8]
    prefix = f"bench{run_id}."
    bench = with_prefix(settings, bootstrap, prefix)
    names = TopicNames.from_settings(bench)
    records = _records(EVENTS, run_id)
    unique = _unique(records)
    try:
        specs = connector_topics(bench, "stripe")
        bare_out = TopicSpec(names.events("stripe") + ".bare", specs[0].partitions, None)
        asyncio.run(ensure_topics(bench, [*specs, bare_out]))
        asyncio.run(_produce(bench, names.ingest("stripe"), records))
        bare = asyncio.run(_bare(bench, names.ingest("stripe"), bare_out.name, EVENTS))
        ours = _dedup(bench, unique, EVENTS)
    finally:
        delete_topics(bootstrap, [prefix])
        if started:
            localkafka.stop(settings.local_kafka)
    ratio = ours["per_s"] / bare["per_s"] if bare["per_s"] else 0.0
    rows = [
        {"case": "(a) bare aiokafka consume -> produce -> commit, no table", **_cells(bare)},
        {"case": "dedup worker (faust, seen-table + changelog)", **_cells(ours)},
    ]
    return Report(
        name="dedup_throughput",
        rows=rows,
        checks=[Check("dedup / bare loop (a)", ratio, 0.5, ">=")],
        notes=[
            f"{EVENTS:,} Stripe Events on stripe.ingest, {unique:,} unique (every"
            f" {COPY_EVERY}th a copy of the one before); {specs[0].partitions} partitions",
            "per s: input records per second; dedup: from its first output record to its"
            " last (its start, group join and restore left out), CPU over the same span;"
            " bare: this process, from its first batch",
            "the worker, this process and the broker share the machine's 2 cores",
        ],
    )


def _cells(figures: dict[str, Any]) -> dict[str, Any]:
    return {
        "records/s": figures["per_s"],
        "cpu ms/record": figures["cpu_ms"],
        "records/s per core": 1000 / figures["cpu_ms"] if figures["cpu_ms"] else 0.0,
        "wall s": figures["wall_s"],
    }
