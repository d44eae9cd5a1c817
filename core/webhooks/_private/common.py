"""What every signature scheme shares: the error, the protocol, and strict parsers.

Every helper here either returns a value or raises :class:`VerificationError`;
none lets ``ValueError``, ``binascii.Error``, ``UnicodeError`` or
``TypeError`` escape, so a receiver can map "anything wrong with a delivery"
to one 401 without a catch-all.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from core.errors import SwitchboardError
from core.redaction import register_secret

__all__ = [
    "DEFAULT_TOLERANCE",
    "MAX_SIGNATURES",
    "Clock",
    "Headers",
    "Reason",
    "VerificationError",
    "Verified",
    "Verifier",
    "b64decode",
    "body_digest",
    "check_tolerance",
    "hexdecode",
    "mac",
    "matches",
    "parse_timestamp",
    "secret_list",
]

DEFAULT_TOLERANCE = 300.0
"""Seconds a signed timestamp may be away from the clock, either way."""

MAX_SIGNATURES = 32
"""More signature entries than this in one header is treated as malformed
(bounds the work an unauthenticated request can cause)."""

Clock = Callable[[], float]

Reason = Literal[
    "missing_header",
    "malformed_header",
    "bad_signature",
    "stale_timestamp",
    "future_timestamp",
    "body_mismatch",
    "malformed_body",
    "missing_url",
    "duplicate_header",
]


class VerificationError(SwitchboardError):
    """A webhook delivery failed verification; answer 401 and produce nothing.

    The one error every verifier raises, whatever is wrong: missing or
    malformed header, bad base64/hex, non-numeric timestamp, no matching
    signature, timestamp outside the tolerance, body not matching its hash.

    ``reason`` is machine-readable (one of :data:`Reason`: ``missing_header``,
    ``malformed_header``, ``bad_signature``, ``stale_timestamp``,
    ``future_timestamp``, ``body_mismatch``, ``malformed_body``,
    ``missing_url``, ``duplicate_header``), fit for a metrics label. ``scheme``
    names the verifier (``standard_webhooks``, ``hmac``, a connector's scheme
    name). The message is short and safe to log: it may name a header, never
    a secret, a signature value or the body.
    """

    code = "verification_failed"

    def __init__(self, reason: Reason, message: str | None = None, *, scheme: str = "") -> None:
        super().__init__(message or reason.replace("_", " "))
        self.reason: Reason = reason
        self.scheme = scheme

    def __str__(self) -> str:
        prefix = f"{self.scheme}: " if self.scheme else ""
        return f"{prefix}{self.message} ({self.reason})"


def body_digest(body: bytes) -> str:
    """``sha256:<hex>`` of the raw body: what dedup keys on when a provider signs no id."""
    return "sha256:" + hashlib.sha256(body).hexdigest()


@dataclass(frozen=True)
class Verified:
    """What a verifier checked, for normalization to use instead of re-reading headers.

    - ``digest``: :func:`body_digest` of the raw body the signature covers;
    - ``event_id``: the delivery id *the signature covers* (Standard
      Webhooks' ``webhook-id``, a generic HMAC ``{id}``), else ``None``:
      an id in an unsigned header is not evidence
      of anything, so those deliveries are deduplicated on ``digest``;
    - ``timestamp``: the signed epoch-seconds timestamp, else ``None``.
    """

    digest: str
    event_id: str | None = None
    timestamp: int | None = None


@runtime_checkable
class Verifier(Protocol):
    """Verifies one webhook delivery from its raw bytes and headers.

    Contract for every implementation:

    - ``body`` is the raw request body exactly as received, before any
      parsing or decoding;
    - header names are looked up case-insensitively, whatever mapping is
      passed (a plain ``dict``, ``httpx.Headers``, aiohttp's ``CIMultiDict``);
      a header the scheme reads (signature, id, timestamp, event type) that
      occurs more than once is refused (``duplicate_header``), so the value
      verified is the only value anyone can read;
    - ``url`` is the request's path and query as received (only schemes that
      sign the URL need it; others ignore it);
    - returns :class:`Verified` when the delivery is authentic and fresh, and
      raises :class:`VerificationError` for anything else, never another
      exception;
    - comparisons are constant-time; every configured secret (rotation) is
      tried; the clock is injectable.
    """

    def verify(
        self, body: bytes, headers: Mapping[str, str], *, url: str | None = None
    ) -> Verified:
        """Return what was verified; raise :class:`VerificationError` if not authentic."""
        ...


class Headers:
    """Case-insensitive, read-only view over any header mapping (built once per call).

    ``guarded`` names the headers the scheme reads (and ``guarded_prefixes``
    whole families, e.g. ``x-acme-``): one of them present more than once
    (a multidict's repeated header, or two spellings of one name in a plain
    dict) raises ``duplicate_header``. A replayed delivery with a prepended
    id would otherwise be verified on one value and normalized on another.
    """

    __slots__ = ("_scheme", "_values")

    def __init__(
        self,
        headers: Mapping[str, str],
        scheme: str,
        guarded: Iterable[str] = (),
        guarded_prefixes: Iterable[str] = (),
    ) -> None:
        self._scheme = scheme
        values: dict[str, str] = {}
        repeated: dict[str, None] = {}  # in the order first repeated
        try:
            # httpx.Headers.items() joins repeated headers; multi_items() does not
            multi = getattr(headers, "multi_items", None)
            pairs = multi() if callable(multi) else headers.items()
            for name, value in pairs:
                if isinstance(name, str) and isinstance(value, str):
                    key = name.lower()
                    if key in values:
                        repeated[key] = None
                    else:
                        values[key] = value
        except Exception as exc:  # a broken mapping is the caller's input, not our crash
            raise VerificationError(
                "malformed_header", "unreadable headers", scheme=scheme
            ) from exc
        names = {n.lower() for n in guarded}
        prefixes = tuple(p.lower() for p in guarded_prefixes)
        for key in repeated:
            if key in names or key.startswith(prefixes):
                raise VerificationError(
                    "duplicate_header", f"{key} header sent more than once", scheme=scheme
                )
        self._values = values

    def get(self, name: str) -> str | None:
        """The header's value, stripped, or ``None`` when absent or empty."""
        value = self._values.get(name.lower())
        if value is None:
            return None
        value = value.strip()
        return value or None

    def require(self, name: str) -> str:
        """The header's value; :class:`VerificationError` ``missing_header`` if absent/empty."""
        value = self.get(name)
        if value is None:
            raise VerificationError("missing_header", f"missing {name} header", scheme=self._scheme)
        return value

    def first(self, *names: str) -> tuple[str, str] | None:
        """(name, value) of the first present header among ``names``."""
        for name in names:
            value = self.get(name)
            if value is not None:
                return name, value
        return None


_DIGITS = re.compile(r"[0-9]{1,12}")
_HEX = re.compile(r"(?:[0-9a-fA-F]{2}){1,128}")
_B64 = re.compile(r"[A-Za-z0-9+/]{2,1024}={0,2}")


def parse_timestamp(value: str, name: str, scheme: str) -> int:
    """Epoch seconds from a header: ASCII digits only (no sign, no Unicode
    digits, no underscores, no fractions), else ``malformed_header``."""
    if not _DIGITS.fullmatch(value):
        raise VerificationError("malformed_header", f"non-numeric {name}", scheme=scheme)
    return int(value)


def check_tolerance(timestamp: float, clock: Clock, tolerance: float | None, scheme: str) -> None:
    """Raise ``stale_timestamp``/``future_timestamp`` when ``timestamp`` is more
    than ``tolerance`` seconds from ``clock()``; ``None`` disables the check."""
    if tolerance is None:
        return
    now = clock()
    if timestamp < now - tolerance:
        raise VerificationError("stale_timestamp", "timestamp too old", scheme=scheme)
    if timestamp > now + tolerance:
        raise VerificationError("future_timestamp", "timestamp in the future", scheme=scheme)


def hexdecode(value: str, name: str, scheme: str) -> bytes:
    """Bytes from a strict hex string (either case), else ``malformed_header``."""
    if not _HEX.fullmatch(value):
        raise VerificationError("malformed_header", f"{name} is not hex", scheme=scheme)
    return bytes.fromhex(value)


def b64decode(value: str, name: str, scheme: str) -> bytes:
    """Bytes from strict standard base64, else ``malformed_header``."""
    if not _B64.fullmatch(value):
        raise VerificationError("malformed_header", f"{name} is not base64", scheme=scheme)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise VerificationError("malformed_header", f"{name} is not base64", scheme=scheme) from exc


def mac(key: bytes, message: bytes, algorithm: str = "sha256") -> bytes:
    """HMAC digest of ``message`` under ``key``."""
    return hmac.new(key, message, getattr(hashlib, algorithm)).digest()


def matches(expected: Iterable[bytes], given: Sequence[bytes]) -> bool:
    """True if any expected digest equals any given one (each compare constant-time)."""
    found = False
    for digest in expected:
        for candidate in given:
            # no early exit: the work done does not depend on which pair matched
            found |= hmac.compare_digest(digest, candidate)
    return found


def secret_list(
    secrets: str | bytes | Iterable[str | bytes], argument: str = "secrets"
) -> tuple[bytes, ...]:
    """Normalise one secret or several (rotation) to UTF-8 bytes.

    Registers every str secret for log redaction. Raises ``ValueError`` naming
    ``argument`` when there is no secret or one is empty (a configuration
    error, raised at construction, never during verification).
    """
    items: list[str | bytes] = [secrets] if isinstance(secrets, (str, bytes)) else list(secrets)
    if not items:
        raise ValueError(f"{argument}: at least one secret is required")
    out: list[bytes] = []
    for item in items:
        if isinstance(item, str):
            register_secret(item)
            item = item.encode("utf-8")
        if not isinstance(item, bytes) or not item:
            raise ValueError(f"{argument}: secrets must be non-empty str or bytes")
        out.append(item)
    return tuple(out)
