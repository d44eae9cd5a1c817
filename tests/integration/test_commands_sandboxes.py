"""Every registered command type, run as the sink runs it
(:class:`core.testing.commands.CommandRunner` -> ``core.apicall.run_command``)
against its connector's sandbox over real sockets: the request the provider
received (path, encoding, auth, command id, idempotency key) and exactly one
side effect for the command id. No Kafka needed. The cases are in
:mod:`tests.integration.commands_sandboxes_cases`."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import pytest

import connectors
from connectors.stripe._sandbox import decode_form
from core.apicall import COMMAND_ID_HEADER
from core.testing import RecordedRequest
from tests.integration.commands_sandboxes_cases import CASES, Case
from tests.integration.commands_sandboxes_support import AUTH, FORM, JSON, provider

COMMAND_ID = "cmd-under-test"


def test_every_hand_written_command_type_has_a_case() -> None:
    # (every described operation runs through a sink: test_catalog_sink.py)
    registered = {
        f"{c.name}.{name}"
        for c in connectors.registry().values()
        for name in getattr(c.commands, "hand_written", c.commands)
    }
    assert registered == set(CASES)


def received_body(req: RecordedRequest, case: Case) -> Any:
    if case.encoding == "query":
        assert req.body == b""
        return dict(req.query)
    if case.encoding == "form":
        assert req.header("Content-Type") == FORM
        return decode_form(parse_qsl(req.body.decode(), keep_blank_values=True))
    assert (req.header("Content-Type") or "").startswith(JSON)
    body = req.json()
    return body["variables"] if "query" in body else body


@pytest.mark.parametrize("command_type", sorted(CASES))
async def test_command_reaches_its_provider_once(command_type: str) -> None:
    case = CASES[command_type]
    name, _, command = command_type.partition(".")
    async with provider(name) as (sb, r):
        ids = await case.prepare(r)
        before = sb.total_side_effects()
        result = await r.run(command, case.params(ids), COMMAND_ID)
        assert result.status == case.status
        assert result.attempts == 1
        assert case.check(result.data, ids)
        (req,) = [q for q in sb.requests if q.header(COMMAND_ID_HEADER) == COMMAND_ID]
        assert (req.method, req.path) == (case.method, case.path(ids))
        header, value = AUTH[name]
        assert req.header(header) == value
        assert received_body(req, case) == case.wire(ids)
        assert sb.side_effects(COMMAND_ID) == 1
        assert sb.total_side_effects() == before + 1
        # Key providers get the command id as key (Stripe ignores it on DELETE;
        # its sandbox counts that side effect under the command id instead).
        keyed = r.setup.idempotency == "key"
        assert req.header(r.setup.policy.idempotency_header) == (COMMAND_ID if keyed else None)
