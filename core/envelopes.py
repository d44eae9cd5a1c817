"""The envelopes every Switchboard topic carries.

- :class:`Event`: a CloudEvents 1.0 event in structured JSON mode, on
  ``<c>.ingest`` and ``<c>.events``.
- :class:`Command`: a request to call a provider API, on ``<c>.commands``.
- :class:`Result`: the one outcome of a command, on ``<c>.results``.
- :class:`DlqHeaders`: the error headers added to a record copied to
  ``<topic>.dlq``; the record itself is kept byte for byte.

Contracts:

- ``X.from_json(raw)`` accepts ``bytes``/``str`` and raises
  :class:`EnvelopeError` (a ``ValueError``) on anything that is not valid
  JSON or does not validate; its message names the offending field, e.g.
  ``Command.params.email: Field required``.
- ``x.to_json()`` returns compact UTF-8 JSON bytes (orjson) that
  ``from_json`` turns back into an equal model.
- Timestamps are timezone-aware; naive datetimes are rejected, since a
  timestamp without a zone is a bug waiting for a daylight-saving change.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, Self

import orjson
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

__all__ = [
    "DLQ_HEADER_PREFIX",
    "Command",
    "DlqHeaders",
    "Envelope",
    "EnvelopeError",
    "ErrorInfo",
    "Event",
    "Result",
    "Timings",
    "describe_validation_error",
    "new_id",
    "utcnow",
]

CLOUDEVENTS_CONTENT_TYPE = "application/cloudevents+json"
DLQ_HEADER_PREFIX = "__switchboard.errors."

_TYPE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*(\.[a-zA-Z0-9_-]+)+$")
# W3C trace-context: version-traceid-parentid-flags, all lower-case hex.
_TRACEPARENT_RE = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    """A fresh random id (UUID4, canonical text form)."""
    return str(uuid.uuid4())


class EnvelopeError(ValueError):
    """An envelope could not be decoded or failed validation.

    ``field`` is the dotted path of the first offending field (empty when
    the input was not JSON at all); ``str(err)`` is one line.
    """

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


def describe_validation_error(err: ValidationError, *, prefix: str = "") -> tuple[str, str]:
    """Turn a pydantic error into ``(field, one-line message)``.

    The message lists every failing field as ``path: reason``, separated by
    ``; `` so it stays on one line.
    """
    parts: list[str] = []
    first_field = ""
    for item in err.errors(include_url=False, include_input=False):
        loc = ".".join(str(p) for p in item["loc"])
        path = f"{prefix}.{loc}" if prefix and loc else (prefix or loc)
        if not first_field:
            first_field = path
        parts.append(f"{path}: {item['msg']}" if path else str(item["msg"]))
    return first_field, "; ".join(parts)


class Envelope(BaseModel):
    """Base of all envelopes: strict about unknown fields, orjson on the wire."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @classmethod
    def from_json(cls, raw: bytes | bytearray | memoryview | str) -> Self:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise EnvelopeError(f"{cls.__name__}: not valid JSON ({exc})") from None
        return cls.from_obj(data)

    @classmethod
    def from_obj(cls, data: Any) -> Self:
        if not isinstance(data, Mapping):
            raise EnvelopeError(
                f"{cls.__name__}: expected a JSON object, got {type(data).__name__}"
            )
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            field, message = describe_validation_error(exc, prefix=cls.__name__)
            raise EnvelopeError(message, field=field) from None

    def to_obj(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    def to_json(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="python", by_alias=True, exclude_none=True))


class Event(Envelope):
    """A CloudEvents 1.0 event (structured mode) with Switchboard's extensions.

    ``data`` is the provider's payload, untouched. ``id`` is the provider's
    event id: it is what deduplication keys on, unless ``bodydigest`` is set
    (see :attr:`dedup_key`).
    """

    CONTENT_TYPE: ClassVar[str] = CLOUDEVENTS_CONTENT_TYPE

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(min_length=1)
    source: str = Field(min_length=1, description="switchboard/<connector>")
    type: str = Field(description="<connector>.<the provider's event type>, e.g. <c>.invoice.paid")
    subject: str | None = Field(default=None, min_length=1)
    time: AwareDatetime | None = Field(default=None, description="provider time")
    datacontenttype: str = "application/json"
    dataschema: str | None = Field(
        default=None,
        min_length=1,
        description="URI of the JSON Schema of data, when the provider describes it "
        "(`switchboard schema export` writes them, $id = this URI)",
    )
    data: Any = None
    # Extensions (CloudEvents: lower-case alphanumeric names).
    provider: str = Field(min_length=1)
    delivery: Literal["webhook", "poll"]
    receivedat: AwareDatetime = Field(default_factory=utcnow)
    traceparent: str | None = None
    bodydigest: str | None = Field(
        default=None,
        pattern=r"^sha256:[0-9a-f]{64}$",
        description="sha256 of the signed body, for providers that sign no event id",
    )

    @field_validator("type")
    @classmethod
    def _check_type(cls, value: str) -> str:
        if not _TYPE_RE.match(value):
            raise ValueError("must look like '<connector>.<provider type>'")
        return value

    @field_validator("traceparent")
    @classmethod
    def _check_traceparent(cls, value: str | None) -> str | None:
        if value is not None and not _TRACEPARENT_RE.match(value):
            raise ValueError("must be a W3C traceparent (00-<32 hex>-<16 hex>-<2 hex>)")
        return value

    def to_json(self) -> bytes:
        # An Event's fields are plain values (no aliases, no nested models), so
        # orjson writes them as model_dump would hand them over, minus its copy
        # of ``data`` (a third of the cost of an Event on the poll and ingest paths).
        return orjson.dumps({k: v for k, v in self.__dict__.items() if v is not None})

    @property
    def key(self) -> str:
        """Kafka key on ``<c>.events``: the subject when known, else the id."""
        return self.subject or self.id

    @property
    def dedup_key(self) -> str:
        """Kafka key on ``<c>.ingest`` and what dedup keys on: the signed body's
        digest when the provider signs no id (so a replay under a new id is
        the same key, on the same partition), else the id."""
        return self.bodydigest or self.id


class Command(Envelope):
    """A request to call a provider API.

    ``id`` doubles as the idempotency key at the provider, so a redelivered
    or replayed command must keep it. ``params`` are validated by the
    command type's own model (see the connector registry) before producing.
    """

    id: str = Field(default_factory=new_id, min_length=1, max_length=255)
    type: str = Field(description="<connector>.<command>, e.g. <connector>.customers.create")
    params: dict[str, Any] = Field(default_factory=dict)
    reply_to: str | None = Field(default=None, min_length=1)
    expires_at: AwareDatetime | None = None
    created_at: AwareDatetime = Field(default_factory=utcnow)
    metadata: dict[str, str] = Field(default_factory=dict)

    @field_validator("type")
    @classmethod
    def _check_type(cls, value: str) -> str:
        if not _TYPE_RE.match(value):
            raise ValueError("must look like '<connector>.<command>'")
        return value

    @property
    def connector(self) -> str:
        return self.type.split(".", 1)[0]

    def is_expired(self, now: datetime | None = None) -> bool:
        return self.expires_at is not None and (now or utcnow()) >= self.expires_at


class ErrorInfo(Envelope):
    """Why a command failed, safe to show: never carries a secret."""

    code: str = Field(min_length=1, description="Switchboard error class, e.g. fatal_request")
    message: str
    retryable: bool = False
    provider_code: str | None = None
    request_id: str | None = None


class Timings(Envelope):
    received_at: AwareDatetime | None = None
    started_at: AwareDatetime | None = None
    finished_at: AwareDatetime | None = None

    @property
    def duration_ms(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds() * 1000.0


class Result(Envelope):
    """The one outcome of a command. A failed Result always has ``error``."""

    command_id: str = Field(min_length=1)
    type: str
    status: Literal["succeeded", "failed"]
    attempts: int = Field(default=0, ge=0)
    http_status: int | None = Field(default=None, ge=100, le=599)
    response: Any = None
    error: ErrorInfo | None = None
    timings: Timings = Field(default_factory=Timings)
    api_version: str | None = Field(
        default=None,
        description="the provider API version the command ran with (pinned per connector)",
    )

    @model_validator(mode="after")
    def _error_matches_status(self) -> Result:
        if self.status == "failed" and self.error is None:
            raise ValueError("a failed Result needs an 'error'")
        if self.status == "succeeded" and self.error is not None:
            raise ValueError("a succeeded Result cannot carry an 'error'")
        return self


Stage = Literal["ingest", "dedup", "sink", "poll", "replay"]


class DlqHeaders(Envelope):
    """Headers added to a dead-lettered record (modelled on Kafka Connect's
    ``__connect.errors.*``). The record's own key, value, headers and
    timestamp are copied unchanged beside them.
    """

    _NAMES: ClassVar[dict[str, str]] = {
        "original_topic": "topic",
        "original_partition": "partition",
        "original_offset": "offset",
        "connector": "connector.name",
        "stage": "stage",
        "reason": "reason",
        "error_class": "class.name",
        "error_message": "exception.message",
        "attempts": "attempts",
        "failed_at": "failed.at",
    }
    MAX_MESSAGE: ClassVar[int] = 1000

    original_topic: str = Field(min_length=1)
    original_partition: int = Field(ge=0)
    original_offset: int = Field(ge=0)
    connector: str = Field(min_length=1)
    stage: Stage
    reason: str = Field(min_length=1, description="e.g. invalid_command, retries_exhausted")
    error_class: str = Field(min_length=1)
    error_message: str = ""
    attempts: int = Field(default=0, ge=0)
    failed_at: AwareDatetime = Field(default_factory=utcnow)

    @field_validator("error_message")
    @classmethod
    def _truncate(cls, value: str) -> str:
        limit = cls.MAX_MESSAGE
        return value if len(value) <= limit else value[: limit - 1] + "…"

    @classmethod
    def header_name(cls, field: str) -> str:
        return DLQ_HEADER_PREFIX + cls._NAMES[field]

    def to_headers(self) -> list[tuple[str, bytes]]:
        """Kafka headers, in a fixed order; values are UTF-8 text."""
        out: list[tuple[str, bytes]] = []
        for field, value in self.to_obj().items():
            out.append((self.header_name(field), str(value).encode()))
        return out

    @classmethod
    def from_headers(cls, headers: Iterable[tuple[str, bytes]]) -> Self:
        """Read the error headers back; other headers are ignored."""
        by_name = {DLQ_HEADER_PREFIX + suffix: field for field, suffix in cls._NAMES.items()}
        data: dict[str, Any] = {}
        for name, value in headers:
            field = by_name.get(name)
            if field is not None:
                data[field] = value.decode("utf-8", "replace")
        return cls.from_obj(data)
