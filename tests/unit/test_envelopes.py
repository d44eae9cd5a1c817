from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from core.envelopes import (
    DLQ_HEADER_PREFIX,
    Command,
    DlqHeaders,
    EnvelopeError,
    ErrorInfo,
    Event,
    Result,
    Timings,
)

T0 = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)


def make_event(**overrides: object) -> Event:
    fields: dict[str, object] = {
        "id": "evt_1",
        "source": "switchboard/stripe",
        "type": "stripe.payment_intent.succeeded",
        "subject": "pi_1",
        "time": T0,
        "data": {"object": {"id": "pi_1", "amount": 2000, "nested": [1, 2.5, None, "x"]}},
        "provider": "stripe",
        "delivery": "webhook",
        "receivedat": T0 + timedelta(seconds=1),
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    }
    fields.update(overrides)
    return Event.model_validate(fields)


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"subject": None, "time": None, "traceparent": None},
        {"bodydigest": "sha256:" + "0" * 64, "dataschema": "https://x.test/s.json"},
        {"data": None},
        {"data": [1, {"a": None}], "delivery": "poll"},
    ],
)
def test_event_to_json_writes_what_model_dump_gives(overrides: dict[str, object]) -> None:
    # Event.to_json skips model_dump; its bytes must be the ones model_dump's would be
    event = make_event(**overrides)
    dumped = event.model_dump(mode="python", by_alias=True, exclude_none=True)
    assert event.to_json() == orjson.dumps(dumped)


def test_event_round_trip_is_cloudevents_structured_json() -> None:
    event = make_event()
    raw = event.to_json()
    obj = orjson.loads(raw)
    assert obj["specversion"] == "1.0"
    assert obj["time"] == "2026-11-23T12:00:00+00:00"
    assert Event.CONTENT_TYPE == "application/cloudevents+json"
    assert Event.from_json(raw) == event
    assert event.key == "pi_1"
    assert make_event(subject=None).key == "evt_1"


def test_event_data_is_untouched() -> None:
    data = {"b": 1, "a": {"z": [3, 2, 1]}, "unicode": "é✓", "big": 2**53 + 1}
    event = make_event(data=data)
    assert orjson.loads(event.to_json())["data"] == data


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"id": ""}, "Event.id"),
        ({"type": "no-dot"}, "Event.type"),
        ({"delivery": "email"}, "Event.delivery"),
        ({"traceparent": "00-xyz"}, "Event.traceparent"),
        ({"time": datetime(2026, 1, 1)}, "Event.time"),  # naive
    ],
)
def test_event_validation_names_the_field(overrides: dict[str, object], field: str) -> None:
    obj = orjson.loads(make_event().to_json())
    obj.update({k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in overrides.items()})
    with pytest.raises(EnvelopeError) as info:
        Event.from_json(orjson.dumps(obj))
    assert info.value.field == field
    assert str(info.value).startswith(field)
    assert "\n" not in str(info.value)


def test_missing_and_unknown_fields_are_named() -> None:
    with pytest.raises(EnvelopeError, match=r"Event\.source: Field required"):
        Event.from_obj({"id": "e", "type": "a.b", "provider": "a", "delivery": "poll"})
    with pytest.raises(EnvelopeError, match=r"Command\.colour: Extra inputs"):
        Command.from_obj({"type": "a.b", "colour": "red"})


def test_not_json_and_not_an_object() -> None:
    with pytest.raises(EnvelopeError, match="not valid JSON"):
        Command.from_json(b"{nope")
    with pytest.raises(EnvelopeError, match="expected a JSON object, got list"):
        Command.from_json(b"[1]")


def test_command_defaults_round_trip_and_expiry() -> None:
    command = Command(type="stripe.customers.create", params={"email": "a@b.c"})
    assert len(command.id) == 36
    assert command.connector == "stripe"
    again = Command.from_json(command.to_json())
    assert again == command
    assert not command.is_expired()
    expiring = Command(type="x.y", expires_at=T0)
    assert expiring.is_expired(T0)
    assert not expiring.is_expired(T0 - timedelta(seconds=1))


def test_result_round_trip_and_status_rules() -> None:
    ok = Result(
        command_id="c1",
        type="stripe.customers.create",
        status="succeeded",
        attempts=1,
        http_status=200,
        response={"id": "cus_1"},
        timings=Timings(started_at=T0, finished_at=T0 + timedelta(milliseconds=12.5)),
    )
    assert Result.from_json(ok.to_json()) == ok
    assert ok.timings.duration_ms == pytest.approx(12.5)
    failed = Result(
        command_id="c2",
        type="stripe.customers.create",
        status="failed",
        error=ErrorInfo(code="fatal_request", message="bad email", provider_code="email_invalid"),
    )
    assert Result.from_json(failed.to_json()) == failed
    with pytest.raises(EnvelopeError, match="failed Result needs an 'error'"):
        Result.from_obj({"command_id": "c", "type": "a.b", "status": "failed"})
    with pytest.raises(EnvelopeError, match=r"Result\.http_status"):
        Result.from_obj({"command_id": "c", "type": "a.b", "status": "succeeded", "http_status": 7})


def test_dlq_headers_round_trip() -> None:
    headers = DlqHeaders(
        original_topic="stripe.commands",
        original_partition=2,
        original_offset=41,
        connector="stripe",
        stage="sink",
        reason="invalid_command",
        error_class="FatalRequest",
        error_message="x" * 5000,
        attempts=3,
        failed_at=T0,
    )
    kafka_headers = headers.to_headers()
    names = [name for name, _ in kafka_headers]
    assert all(name.startswith(DLQ_HEADER_PREFIX) for name in names)
    assert f"{DLQ_HEADER_PREFIX}topic" in names
    assert all(isinstance(value, bytes) for _, value in kafka_headers)
    assert len(headers.error_message) == DlqHeaders.MAX_MESSAGE
    back = DlqHeaders.from_headers([("traceparent", b"ignored"), *kafka_headers])
    assert back == headers


def test_dlq_headers_missing_field_is_named() -> None:
    with pytest.raises(EnvelopeError, match=r"DlqHeaders\.original_topic: Field required"):
        DlqHeaders.from_headers([])
