"""Every catalog operation once through the real sink, end to end.

Per connector (Stripe, GitHub, Twilio): the real broker, the real Sink,
pointed at a :class:`~tests.specresponder.SpecResponder` that judges each
request against the provider's description with openapi-core and answers
with a minimal body of the operation's success schema. One command per
catalog operation, params from the deterministic minimal-value walk
(:mod:`tests.minimal_values`); a sample of operations also sent with bad
params produced raw (no CLI validation) to the commands topic.

Asserted: one succeeded Result per command with the described status; one
request per command at the responder, for the command's own operation,
valid per openapi-core; a read's Result carries the responder's body; the
bad commands are dead-lettered as ``invalid_command`` naming the JSON path,
and none reached the responder. Operations on a host of their own go
to the responder too (their host settings follow the base URL); a file
answer (Stripe's quote PDF) comes back base64 in ``response``; those the
description answers with a redirect only (downloads) run, and succeed with
the link. Run with ``-s`` for the tally.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from core.apicall import COMMAND_ID_HEADER
from core.envelopes import DlqHeaders
from streams.sink import Sink
from tests.integration import catalog_sink_support as plan_of
from tests.integration.sink_support import SinkRig, running_rig
from tests.kafkatools import read_topic
from tests.specresponder import SpecResponder

pytestmark = pytest.mark.integration

CONNECTORS = ("stripe", "github", "twilio")
#: operations no params could be made for (aim: none)
NO_PARAMS_BOUND = {"stripe": 0, "github": 0, "twilio": 0}
#: requests openapi-core could not judge (measured: none)
UNJUDGED_BOUND = {"stripe": 0, "github": 0, "twilio": 0}
SINK = {"SINK__CONCURRENCY": "128", "SINK__MAX_BUFFERED": "4000"}


@pytest.fixture(params=CONNECTORS)
async def rig(
    request: pytest.FixtureRequest,
    kafka_bootstrap: str,
    topic_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[SinkRig]:
    connector = request.param
    async with SpecResponder(connector) as responder:
        extra = dict(SINK)
        if connector == "twilio":
            extra["TWILIO__MESSAGING_BASE_URL"] = responder.url
        async with running_rig(
            monkeypatch, kafka_bootstrap, topic_prefix, connector, responder, extra
        ) as rig:
            yield rig


async def test_every_operation_runs_once_through_the_sink(rig: SinkRig) -> None:
    started = time.monotonic()
    connector = rig.connector
    responder = rig.sandbox
    assert isinstance(responder, SpecResponder)
    cat = plan_of.catalog(connector)
    planned = plan_of.plan(connector)
    by_id = {c.id: (name, c) for name, c in planned.commands.items()}
    # raw, the bad ones too: past any producer-side check
    await rig.send_many(
        [(c.to_json(), c.id) for c in planned.commands.values()]
        + [(c.to_json(), c.id) for c, _path in planned.bad.values()]
    )
    sink: Sink = await rig.start_sink()
    expected = len(planned.commands) + len(planned.bad)
    results = await rig.results_by_id(expected, timeout=120)
    dlq = await read_topic(rig.settings, rig.dlq, expect=len(planned.bad), timeout=60)
    elapsed = time.monotonic() - started

    # every command: one Result, succeeded, with the described status
    problems: list[str] = []
    for command_id, (name, _command) in by_id.items():
        got = results.get(command_id, [])
        if len(got) != 1 or got[0].status != "succeeded":
            shown = [(r.status, r.http_status, r.error) for r in got]
            problems.append(f"{name}: {shown}"[:400])
    assert not problems, f"{len(problems)} of {len(by_id)}:\n" + "\n".join(problems[:30])

    # the responder: one request per command, for its own operation, valid
    seen: dict[str, list[Any]] = {}
    for item in responder.seen:
        seen.setdefault(item.command_id or "", []).append(item)
    unjudged: dict[str, str] = {}
    redirects = 0
    for command_id, (name, _command) in by_id.items():
        op = cat.operation(name)
        [item] = seen.pop(command_id)
        assert item.operation_id == op.operation_id, (name, item)
        assert item.verdict.failure is None, (name, item)
        assert not item.verdict.wrong_host, (name, item)
        if item.verdict.unjudged is not None:
            unjudged[name] = item.verdict.unjudged
        [result] = results[command_id]
        described = responder.find(op.method, item.path)
        assert described is not None
        assert result.http_status == described.status, (name, result.http_status)
        body = responder.body_of(described)
        if 300 <= described.status < 400:  # a download link: the answer is the link
            assert result.response == {"location": f"{responder.url}/_download"}, name
            redirects += 1
        elif op.method == "GET" and body and described.media and "json" in described.media:
            assert result.response == json.loads(body), name
        elif op.answer == "bytes":  # a file (a PDF): its bytes, base64
            assert result.response is not None, name
            assert base64.b64decode(result.response["base64"]) == body, name
            assert result.response["content_type"] == described.media, name
    assert seen == {}, f"requests no command explains: {list(seen)[:10]}"

    # bad input: dead-lettered with the JSON path, never sent
    assert len(dlq) == len(planned.bad)
    for record in dlq:
        command, path = planned.bad[record.key.decode()]
        headers = DlqHeaders.from_headers(record.headers)
        assert headers.reason == "invalid_command", (command.type, headers)
        assert path in headers.error_message, (command.type, path, headers.error_message)
        assert record.value == command.to_json()
    assert all(r.header(COMMAND_ID_HEADER) not in planned.bad for r in responder.requests)

    left_out = plan_of.left_out(connector)
    print(
        f"\n{connector}: ops={len(cat.names())} sent={len(by_id)} left-out={sorted(left_out)} "
        f"no-params={len(planned.no_params)} {planned.no_params} could-not-judge={unjudged} "
        f"redirects={redirects} bad={len(planned.bad)} "
        f"({sorted({c.type for c, _ in planned.bad.values()})}) "
        f"wall={elapsed:.1f}s sink-health={sink.health.detail!r}"
    )
    assert len(by_id) + len(left_out) + len(planned.no_params) == len(cat.names())
    assert left_out <= set(cat.names())
    assert len(planned.no_params) <= NO_PARAMS_BOUND[connector], planned.no_params
    assert len(unjudged) <= UNJUDGED_BOUND[connector], unjudged
    assert len(planned.bad) == 4 * plan_of.BAD_SAMPLE
