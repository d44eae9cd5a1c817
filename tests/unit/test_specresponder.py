"""The spec-driven responder's own answers and the minimal-value walk
(helpers of tests/integration/test_catalog_sink.py), checked by jsonschema."""

from __future__ import annotations

import json
import re

import pytest

from core.catalog._export import to_json_schema
from tests.minimal_values import minimal, string_of_pattern
from tests.specresponder import SpecResponder


@pytest.mark.parametrize("connector", ["stripe", "github", "twilio"])
def test_every_answer_body_is_valid_for_its_response_schema(connector: str) -> None:
    responder = SpecResponder(connector)
    checked = 0
    for op in responder.operations:
        body = responder.body_of(op)
        if not body or op.media is None or "json" not in op.media:
            continue
        walk = responder._minimal[op.base]
        assert walk.valid(to_json_schema(op.schema), json.loads(body)), op.operation_id
        checked += 1
    assert checked > 0.7 * len(responder.operations)


@pytest.mark.parametrize(
    "pattern",
    [
        r"^AC[0-9a-fA-F]{32}$",
        r"^(SM|MM)[0-9a-fA-F]{32}$",
        r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})$",
        r"^sha256:[a-f0-9]{64}$",
        r"^\d+\.\d+\.\d+$",
        r"^[^/]+$",
    ],
)
def test_a_string_of_a_pattern_matches_it(pattern: str) -> None:
    assert re.search(pattern, string_of_pattern(pattern))


def test_minimal_takes_required_fields_first_enum_and_bounds() -> None:
    schema = {
        "type": "object",
        "required": ["kind", "n", "when", "items"],
        "properties": {
            "kind": {"enum": ["b", "a"]},
            "n": {"type": "integer", "minimum": 5, "multipleOf": 5},
            "when": {"type": "string", "format": "date-time"},
            "items": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/x"}},
            "optional": {"type": "string"},
        },
        "$defs": {"x": {"type": "string", "minLength": 3}},
    }
    assert minimal(schema) == {
        "kind": "b",
        "n": 5,
        "when": "2024-01-01T00:00:00Z",
        "items": ["xxx"],
    }
