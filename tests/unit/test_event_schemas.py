"""Events carry the URI of their payload's schema (CloudEvents dataschema)
where the provider describes it, and schema export writes those schemas."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import orjson
from click.testing import CliRunner

import connectors
from connectors.github._webhook import normalize as github_normalize
from connectors.stripe._webhook import event_from_object
from streams.cli import cli

NOW = datetime(2026, 12, 7, tzinfo=UTC)


def test_described_events_carry_their_dataschema() -> None:
    body = orjson.dumps({"action": "opened", "issue": {"number": 1}, "repository": {}})
    headers = {"X-GitHub-Event": "issues", "X-GitHub-Delivery": "d-1"}
    (event,) = github_normalize(body, headers, NOW)
    assert event.type == "github.issues.opened"
    assert event.dataschema == "urn:switchboard:schema:event:github:issues-opened"
    stripe_event = event_from_object(
        {
            "id": "evt_1",
            "type": "customer.subscription.updated",
            "created": 1,
            "data": {"object": {"id": "sub_1"}},
        },
        {},
        NOW,
    )
    assert stripe_event.dataschema == "urn:switchboard:schema:event:stripe:subscription"
    undescribed = event_from_object(
        {"id": "evt_2", "type": "nothing_known.happened", "data": {}}, {}, NOW
    )
    assert undescribed.dataschema is None
    assert "dataschema" in json.loads(stripe_event.to_json())


def test_the_payload_schemas_are_valid_json_schemas() -> None:
    github = connectors.get("github").events
    stripe = connectors.get("stripe").events
    assert github is not None
    assert stripe is not None
    assert len(github.names) == 261
    assert len(stripe.names) == 165
    for events, name in ((github, "issues-opened"), (github, "push"), (stripe, "invoice")):
        schema = events.schema(name)
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["$id"].endswith(f":{name}")
    issue = github.schema("issues-opened")
    validator = jsonschema.Draft202012Validator(issue)
    assert not validator.is_valid({"action": "opened"})  # the issue and repository are required


def test_schema_export_writes_the_event_payloads(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["schema", "export", str(tmp_path)])
    assert result.exit_code == 0, result.output
    events = sorted(p.name for p in (tmp_path / "events").iterdir())
    assert sum(n.startswith("github.") for n in events) == 261
    assert sum(n.startswith("stripe.") for n in events) == 165
    written = json.loads((tmp_path / "events" / "github.issues-opened.schema.json").read_text())
    assert written["$id"] == "urn:switchboard:schema:event:github:issues-opened"
