"""Generic HMAC webhooks, described entirely by settings.

For providers without a dedicated scheme: algorithm, signature header,
prefix, hex/base64, a signed-content template over ``{body}``,
``{timestamp}`` and ``{id}``, optional timestamp header and tolerance. The
settings model validates everything at construction, naming the setting.
"""

from __future__ import annotations

import string
import time
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, SecretStr, field_validator, model_validator

from core.webhooks._private.common import (
    DEFAULT_TOLERANCE,
    MAX_SIGNATURES,
    Clock,
    Headers,
    VerificationError,
    Verified,
    b64decode,
    body_digest,
    check_tolerance,
    hexdecode,
    mac,
    matches,
    parse_timestamp,
    secret_list,
)
from core.webhooks._private.fields import SecretList, Tolerance, nonempty_secrets

__all__ = ["GenericHmacSettings", "GenericHmacVerifier", "compile_template"]

_PLACEHOLDERS = frozenset({"body", "timestamp", "id"})
Part = tuple[Literal["text", "body", "timestamp", "id"], bytes]


def compile_template(template: str) -> tuple[Part, ...]:
    """Split a signed-content template into literal text and placeholders.

    ``{{``/``}}`` are literal braces. Raises ``ValueError`` for an unknown
    placeholder, a format spec or conversion, unbalanced braces, or a
    template without ``{body}``.
    """
    parts: list[Part] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"unbalanced braces in template ({exc})") from None
    for literal, field, spec, conversion in parsed:
        if literal:
            parts.append(("text", literal.encode("utf-8")))
        if field is None:
            continue
        if field not in _PLACEHOLDERS or spec or conversion:
            raise ValueError(
                f"unsupported placeholder {{{field}}}: use {{body}}, {{timestamp}} or {{id}}, "
                "without format spec or conversion"
            )
        parts.append((field, b""))  # type: ignore[arg-type]  # field checked just above
    if not any(kind == "body" for kind, _ in parts):
        raise ValueError("template must contain {body}")
    return tuple(parts)


def _nonblank_header(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not value or any(c in value for c in ":\r\n ") or not value.isascii():
        raise ValueError("must be an HTTP header name")
    return value


class GenericHmacSettings(BaseModel):
    """Settings of a generic HMAC webhook (also the verifier's whole configuration).

    Example (a body HMAC with a signed timestamp)::

        GenericHmacSettings(secrets=["s3cret"], header="X-Signature",
                            prefix="sha256=", template="{timestamp}.{body}",
                            timestamp_header="X-Timestamp")
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["hmac"] = "hmac"
    secrets: SecretList
    """Every currently valid secret (several while rotating)."""
    header: str
    """Header carrying the signature."""
    algorithm: Literal["sha1", "sha256", "sha512"] = "sha256"
    prefix: str = ""
    """Text before the digest in each signature, e.g. ``sha256=`` or ``v1=``."""
    encoding: Literal["hex", "base64"] = "hex"
    separator: str | None = None
    """When set, the header may hold several signatures split by this string."""
    template: str = "{body}"
    """Signed content; ``{body}`` (raw bytes), ``{timestamp}``, ``{id}``."""
    timestamp_header: str | None = None
    """Header holding an epoch-seconds timestamp; required by ``{timestamp}``."""
    id_header: str | None = None
    """Header holding the delivery id; required by ``{id}``."""
    tolerance: Tolerance = DEFAULT_TOLERANCE
    """Seconds the timestamp may be off, either way (``None``: no check)."""

    @field_validator("secrets")
    @classmethod
    def _nonempty_secrets(cls, value: list[SecretStr]) -> list[SecretStr]:
        return nonempty_secrets(value)

    @field_validator("header", "timestamp_header", "id_header")
    @classmethod
    def _header_name(cls, value: str | None) -> str | None:
        return _nonblank_header(value)

    @field_validator("separator")
    @classmethod
    def _separator(cls, value: str | None) -> str | None:
        if value is not None and not value:
            raise ValueError("must not be empty (use null for a single signature)")
        return value

    @field_validator("template")
    @classmethod
    def _template(cls, value: str) -> str:
        compile_template(value)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> GenericHmacSettings:
        kinds = {kind for kind, _ in compile_template(self.template)}
        if "timestamp" in kinds and self.timestamp_header is None:
            raise ValueError("timestamp_header: required because template uses {timestamp}")
        if self.timestamp_header is not None and "timestamp" not in kinds:
            raise ValueError(
                "timestamp_header: set but template does not sign {timestamp} "
                "(an unsigned timestamp proves nothing)"
            )
        if "id" in kinds and self.id_header is None:
            raise ValueError("id_header: required because template uses {id}")
        return self

    def build(self, *, clock: Clock = time.time) -> GenericHmacVerifier:
        """The verifier these settings describe."""
        return GenericHmacVerifier(self, clock=clock)


class GenericHmacVerifier:
    """HMAC verifier configured by :class:`GenericHmacSettings`.

    Signed content is the template with ``{body}`` replaced by the raw body
    bytes and ``{timestamp}``/``{id}`` by the exact text of their headers.
    The signature header must start with ``prefix``; with ``separator`` set
    it may hold several signatures, any of which may match any secret. With
    a ``timestamp_header`` the timestamp (epoch seconds) must be within
    ``tolerance`` of the clock, either way.
    """

    scheme = "hmac"

    def __init__(self, settings: GenericHmacSettings, *, clock: Clock = time.time) -> None:
        self.settings = settings
        self._parts = compile_template(settings.template)
        self._signs_id = any(kind == "id" for kind, _ in self._parts)
        self._secrets = secret_list([s.get_secret_value() for s in settings.secrets])
        self._clock = clock

    def verify(
        self, body: bytes, headers: Mapping[str, str], *, url: str | None = None
    ) -> Verified:
        """See :class:`~core.webhooks.Verifier`; ``url`` is ignored. The
        :class:`~core.webhooks.Verified` carries the id and timestamp only when
        the template signs them (an unsigned ``id_header`` is not reported)."""
        cfg = self.settings
        guarded = [h for h in (cfg.header, cfg.timestamp_header, cfg.id_header) if h]
        view = Headers(headers, self.scheme, guarded)
        value = view.require(cfg.header)
        values: dict[str, bytes] = {"body": body}
        ts: int | None = None
        if cfg.timestamp_header is not None:
            raw = view.require(cfg.timestamp_header)
            ts = parse_timestamp(raw, cfg.timestamp_header, self.scheme)
            values["timestamp"] = raw.encode("ascii")
        raw_id: str | None = None
        if cfg.id_header is not None:
            raw_id = view.require(cfg.id_header)
            values["id"] = raw_id.encode("utf-8", "surrogatepass")
        given = self._signatures(value)
        signed = b"".join(data if kind == "text" else values[kind] for kind, data in self._parts)
        if not matches((mac(s, signed, cfg.algorithm) for s in self._secrets), given):
            raise VerificationError("bad_signature", "no matching signature", scheme=self.scheme)
        if ts is not None:
            check_tolerance(ts, self._clock, cfg.tolerance, self.scheme)
        return Verified(
            body_digest(body), event_id=raw_id if self._signs_id else None, timestamp=ts
        )

    def _signatures(self, value: str) -> list[bytes]:
        cfg = self.settings
        items = value.split(cfg.separator) if cfg.separator else [value]
        items = [item.strip() for item in items if item.strip()]
        if not items or len(items) > MAX_SIGNATURES:
            raise VerificationError("malformed_header", f"malformed {cfg.header}", scheme="hmac")
        out: list[bytes] = []
        for item in items:
            if not item.startswith(cfg.prefix):
                raise VerificationError(
                    "malformed_header", f"{cfg.header} lacks its prefix", scheme="hmac"
                )
            digest = item[len(cfg.prefix) :]
            decode = hexdecode if cfg.encoding == "hex" else b64decode
            out.append(decode(digest, cfg.header, self.scheme))
        return out
