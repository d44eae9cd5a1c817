"""The sink against the real broker and the providers' sandboxes, in process:
delivery when the provider behaves (one Result and one side effect per
command, order per key, source offsets, reply copies).

Each test runs a :class:`streams.sink.Sink` on its own topic namespace and
checks what reached Kafka (Results, DLQ records, committed offsets) and what
reached the provider (the sandbox's side-effect counts and request log).
Refusals, poison and outages are in ``test_sink_faults.py``; crash tests
with real worker processes in ``test_sink_failover.py``.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import orjson
import pytest

from streams.kafka.topics import TopicSpec, ensure_topics
from streams.sink import SOURCE_OFFSET_HEADER
from tests.integration.sink_support import (
    SinkRig,
    committed_all,
    customer,
)
from tests.kafkatools import read_topic
from tests.waiting import eventually

pytestmark = pytest.mark.integration


async def test_every_command_gets_one_result_and_one_side_effect(stripe_rig: SinkRig) -> None:
    rig = stripe_rig
    await rig.start_sink()
    commands = [customer(i) for i in range(60)]
    for i, command in enumerate(commands):
        await rig.send(command, key=f"k{i % 7}")
    results = await rig.results_by_id(expect=60)
    assert sorted(results) == sorted(c.id for c in commands)
    assert all(len(rs) == 1 for rs in results.values())
    for command in commands:
        (result,) = results[command.id]
        assert result.status == "succeeded", result.error
        assert result.http_status == 200
        assert result.response["email"] == command.params["email"]
        assert result.timings.duration_ms is not None
        assert rig.sandbox.side_effects(command.id) == 1
    # Offsets are committed for everything finished.
    await committed_all(rig)


async def test_same_key_runs_in_order_while_keys_run_concurrently(stripe_rig: SinkRig) -> None:
    rig = stripe_rig
    await rig.start_sink()
    rig.sandbox.hold()  # requests arrive but are not answered
    sent: dict[str, list[str]] = defaultdict(list)
    for i in range(30):
        key = f"cus_{i % 6}"
        command = customer(i, metadata={"seq": str(i)})
        sent[key].append(command.id)
        await rig.send(command, key=key)

    async def first_of_each_key_in_flight() -> bool:
        return len(rig.sandbox.requests) >= 6

    await eventually(first_of_each_key_in_flight, 30)
    # Six keys run concurrently, and only the head of each key's queue.
    in_flight = {r.header("X-Switchboard-Command-Id") for r in rig.sandbox.requests}
    assert in_flight == {ids[0] for ids in sent.values()}
    rig.sandbox.release()
    await rig.results_by_id(expect=30)
    arrived = [r.header("X-Switchboard-Command-Id") for r in rig.sandbox.requests]
    for key, ids in sent.items():
        assert [a for a in arrived if a in set(ids)] == ids, key


async def test_results_carry_the_source_offset(stripe_rig: SinkRig) -> None:
    rig = stripe_rig
    await rig.start_sink()
    command = customer(3)
    await rig.send(command)
    records = await read_topic(rig.settings, rig.results, expect=1)
    headers = dict(records[0].headers)
    assert headers["content-type"] == b"application/json"
    assert int(headers[SOURCE_OFFSET_HEADER]) >= 0
    assert Counter(r.key for r in records) == {command.id.encode(): 1}


def _reply_failures(reason: str) -> float:
    from prometheus_client import REGISTRY

    labels = {"connector": "stripe", "reason": reason}
    return REGISTRY.get_sample_value("switchboard_sink_reply_failed_total", labels) or 0.0


async def test_an_undeliverable_reply_to_never_blocks_the_partition(stripe_rig: SinkRig) -> None:
    """A reply copy that cannot be delivered (a name Kafka refuses, a topic
    that does not exist on a broker without auto-creation) is counted and
    dropped: every command still gets its Result, later commands of the same
    key run, a good reply_to still gets its copy, and the offsets commit."""
    rig = stripe_rig
    replies = f"{rig.settings.kafka.topic_prefix}my.replies"
    await ensure_topics(rig.settings, [TopicSpec(replies, 1, 1, {})])
    # The CLI and CommandClient refuse a bad reply_to; a raw producer does not.
    bad, missing, good, bad_again = (customer(i) for i in range(4))
    before = {r: _reply_failures(r) for r in ("invalid_name", "unknown_topic")}
    targets = [
        (bad, "bad topic!"),
        (missing, f"{rig.settings.kafka.topic_prefix}nobody.created.this"),
        (good, replies),
        (bad_again, "bad topic!"),
    ]
    # A short metadata wait for the missing topic (the sink bounds it by this).
    kafka_settings = rig.settings.kafka.model_copy(update={"connect_timeout_s": 2.0})
    await rig.start_sink(rig.settings.model_copy(update={"kafka": kafka_settings}))
    for command, reply_to in targets:
        value = orjson.loads(command.to_json()) | {"reply_to": reply_to}
        await rig.send_raw(orjson.dumps(value), key="one-key")  # one partition, in order
    results = await rig.results_by_id(expect=4, timeout=30)
    assert {c.id for c, _ in targets} <= set(results)
    assert all(results[c.id][0].status == "succeeded" for c, _ in targets)
    copies = await read_topic(rig.settings, replies, expect=1)
    assert [r.key.decode() for r in copies] == [good.id]
    await committed_all(rig)
    assert _reply_failures("invalid_name") - before["invalid_name"] == 2
    assert _reply_failures("unknown_topic") - before["unknown_topic"] == 1
