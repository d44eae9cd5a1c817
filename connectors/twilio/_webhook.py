"""Twilio webhooks (status callbacks, incoming messages): ``X-Twilio-Signature``.

The body is form-encoded; data = the form fields (a repeated field is a
list). id = ``I-Twilio-Idempotency-Token`` when Twilio sends it, else a
stable hash of the sorted fields (a retried callback hashes the same).
type = ``twilio.message.<MessageStatus>`` / ``twilio.call.<CallStatus>`` /
``twilio.message.received``; subject = MessageSid or CallSid.

Twilio signs the URL and the parameters, not the idempotency token: every
Event carries ``bodydigest`` and dedup keys on it, so a replay under a new
token is one event.

The scheme (:class:`TwilioVerifier`, configured by
:class:`TwilioWebhookSettings` built from the section's ``auth_tokens`` and
``public_url``): ``X-Twilio-Signature``, an HMAC over the public URL and the
form parameters. Written here rather than calling
``twilio.request_validator``: that needs the parameters already parsed by a
web framework, compares strings in Python, and ships inside the whole Twilio
REST SDK. Its canonicalisation is followed exactly (it is the oracle in the
tests), including its two quirks: the URL is tried with and without the
default port, and repeated identical values of one parameter are counted
once (we also accept them counted every time, which is what Twilio's other
SDKs do).

Form bodies are capped at :data:`MAX_PARAMS` parameters, counted on the raw
bytes before anything is parsed: a 1 MiB form of 150,000 parameters took
230-420 ms of the event loop to canonicalise, and Twilio's own callbacks
carry a few dozen (the connector also caps the body at 64 KiB).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Literal
from urllib.parse import SplitResult, parse_qs, parse_qsl, urlsplit, urlunsplit

import orjson
from pydantic import SecretStr, field_validator

from core.envelopes import Event
from core.webhooks import (
    Clock,
    Headers,
    HmacKeys,
    SchemeSettings,
    SecretList,
    VerificationError,
    Verified,
    b64decode,
    body_digest,
    nonempty_secrets,
)

from .._normalize import digest_of, parse_form, type_part, webhook_event
from ._settings import TwilioSettings

__all__ = [
    "MAX_PARAMS",
    "TwilioVerifier",
    "TwilioWebhookSettings",
    "check_public_url",
    "normalize",
    "scheme",
    "twilio_signing_strings",
]

MAX_PARAMS = 1000
"""Most form parameters a delivery may have (``malformed_body`` above it)."""

_ALGORITHMS = {"HMAC_SHA1": "sha1", "HMAC_SHA256": "sha256"}


def check_public_url(public_url: str) -> str:
    """``public_url`` without a trailing ``/``; ``ValueError`` naming it unless it is an
    absolute http(s) URL without query or fragment."""
    try:
        parts = urlsplit(public_url)
        _ = parts.port
    except ValueError as exc:
        raise ValueError("public_url: not a valid URL") from exc
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("public_url: must be an absolute http(s) URL")
    if parts.query or parts.fragment:
        raise ValueError("public_url: must not have a query or fragment")
    return public_url.rstrip("/")


def _with_port(parts: SplitResult) -> str:
    if parts.port:
        return urlunsplit(parts)
    port = 443 if parts.scheme == "https" else 80
    return urlunsplit(parts._replace(netloc=f"{parts.netloc}:{port}"))


def _without_port(parts: SplitResult) -> str:
    if not parts.port:
        return urlunsplit(parts)
    # the port is what follows the last ":" (userinfo and IPv6 brackets come before it)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition(":")[0]))


def _params_suffixes(params: Sequence[tuple[str, str]]) -> list[str]:
    """``name+value`` concatenations, names sorted; values sorted per name.

    One suffix with every value, plus (when a name repeats an identical
    value) the official Python SDK's variant counting each value once.
    """
    grouped: dict[str, list[str]] = {}
    for name, value in params:
        grouped.setdefault(name, []).append(value)
    every = "".join(name + v for name in sorted(grouped) for v in sorted(grouped[name]))
    once = "".join(name + v for name in sorted(grouped) for v in sorted(set(grouped[name])))
    return [every] if once == every else [every, once]


def twilio_signing_strings(full_url: str, params: Sequence[tuple[str, str]]) -> list[str]:
    """Every string Twilio may have signed for this URL and these form parameters.

    ``ValueError`` if the URL has an invalid port.
    """
    parts = urlsplit(full_url)
    urls = dict.fromkeys([_without_port(parts), _with_port(parts)])
    return [u + suffix for u in urls for suffix in _params_suffixes(params)]


class TwilioVerifier(HmacKeys):
    """Twilio ``X-Twilio-Signature`` (base64 HMAC-SHA1; HMAC-SHA256 when
    ``X-Twilio-Webhooks-Signature-Settings`` says ``algorithm=HMAC_SHA256``).

    Signed content is the full public URL Twilio requested (query included),
    followed by each form parameter's name and value, sorted by name (then
    value). For JSON bodies Twilio adds ``bodySHA256=<hex SHA-256 of the
    body>`` to the URL query and signs the URL alone; the body must then
    match that hash.

    The URL: ``public_url`` (constructor) is the public origin Twilio calls,
    with any path prefix a proxy strips, e.g. ``https://hooks.example.com``;
    ``verify(..., url=...)`` gets the request's path and query as the server
    received them (``/webhooks/twilio?foo=1``). An absolute ``url`` has its
    origin replaced by ``public_url``, or is used as is when ``public_url``
    is ``None``. A missing ``url`` (or a relative one without ``public_url``)
    fails with reason ``missing_url``. Any configured auth token may match.

    A form body with more than ``max_params`` parameters fails with reason
    ``malformed_body`` before it is parsed. Twilio signs no id or timestamp:
    replays are caught by dedup on the body's digest.
    """

    scheme = "twilio"
    header = "X-Twilio-Signature"
    settings_header = "X-Twilio-Webhooks-Signature-Settings"

    def __init__(
        self,
        auth_tokens: str | bytes | Iterable[str | bytes],
        *,
        public_url: str | None = None,
        max_params: int = MAX_PARAMS,
    ) -> None:
        super().__init__(auth_tokens, argument="auth_tokens")
        if max_params < 1:
            raise ValueError("max_params: must be >= 1")
        self._max_params = max_params
        self._public_url = None if public_url is None else check_public_url(public_url)

    def full_url(self, url: str | None) -> str:
        """The public URL Twilio signed, from the request's ``url`` (see class doc)."""
        if not url:
            raise VerificationError("missing_url", "request URL not given", scheme=self.scheme)
        parts = urlsplit(url)
        if parts.scheme and parts.netloc:
            if self._public_url is None:
                return url
            url = urlunsplit(("", "", parts.path, parts.query, ""))
        if self._public_url is None:
            raise VerificationError(
                "missing_url", "no public_url for a relative URL", scheme="twilio"
            )
        if not url.startswith("/"):
            url = "/" + url
        return self._public_url + url

    def verify(
        self, body: bytes, headers: Mapping[str, str], *, url: str | None = None
    ) -> Verified:
        """See :class:`~core.webhooks.Verifier`; ``url`` is required (path + query)."""
        view = Headers(headers, self.scheme, guarded_prefixes=("x-twilio-", "i-twilio-"))
        given = b64decode(view.require(self.header), self.header, self.scheme)
        algorithm = self._algorithm(view.get(self.settings_header))
        try:
            full = self.full_url(url)
            query = parse_qs(urlsplit(full).query, keep_blank_values=True)
        except ValueError as exc:
            raise VerificationError(
                "malformed_header", "bad request URL", scheme=self.scheme
            ) from exc
        params: list[tuple[str, str]] = []
        if "bodySHA256" in query:
            expected = hashlib.sha256(body).hexdigest().encode("ascii")
            claimed = query["bodySHA256"][0].lower().encode("utf-8", "replace")
            if not hmac.compare_digest(expected, claimed):
                raise VerificationError(
                    "body_mismatch", "body does not match bodySHA256", scheme="twilio"
                )
        elif body:
            if body.count(b"&") >= self._max_params:  # n separators: n + 1 parameters
                raise VerificationError(
                    "malformed_body", "too many form parameters", scheme="twilio"
                )
            try:
                text = body.decode("utf-8")
                params = parse_qsl(text, keep_blank_values=True)
            except ValueError as exc:  # UnicodeDecodeError is a ValueError
                raise VerificationError(
                    "malformed_body", "body is not form data", scheme="twilio"
                ) from exc
        try:
            candidates = twilio_signing_strings(full, params)
            messages = [c.encode("utf-8", "surrogatepass") for c in candidates]
        except ValueError as exc:
            raise VerificationError(
                "malformed_header", "bad request URL", scheme=self.scheme
            ) from exc
        self.check_mac(messages, [given], algorithm)
        return Verified(body_digest(body))

    def _algorithm(self, settings: str | None) -> str:
        for part in (settings or "").split(","):
            name, sep, value = part.partition("=")
            if sep and name.strip() == "algorithm" and value.strip():
                found = _ALGORITHMS.get(value.strip().upper())
                if found is None:
                    raise VerificationError(
                        "malformed_header", "unsupported signature algorithm", scheme=self.scheme
                    )
                return found
        return "sha1"


class TwilioWebhookSettings(SchemeSettings):
    """Twilio auth tokens and the public URL Twilio calls (behind proxies).

    ``public_url`` is the origin (plus any path prefix a proxy strips) that
    Twilio was configured with, e.g. ``https://hooks.example.com``.
    """

    type: Literal["twilio"] = "twilio"
    auth_tokens: SecretList
    public_url: str | None = None

    @field_validator("auth_tokens")
    @classmethod
    def _nonempty_tokens(cls, value: list[SecretStr]) -> list[SecretStr]:
        return nonempty_secrets(value)

    @field_validator("public_url")
    @classmethod
    def _valid_url(cls, value: str | None) -> str | None:
        if value is not None:
            check_public_url(value)
        return value

    def build(self, *, clock: Clock = time.time) -> TwilioVerifier:
        """The verifier these settings describe (Twilio signs no timestamp)."""
        tokens = [s.get_secret_value() for s in self.auth_tokens]
        return TwilioVerifier(tokens, public_url=self.public_url)


def scheme(settings: TwilioSettings) -> TwilioWebhookSettings | None:
    """The section's scheme settings; None (route off) without an auth token."""
    if not settings.auth_tokens:
        return None
    public_url = str(settings.public_url).rstrip("/") if settings.public_url else None
    return TwilioWebhookSettings(auth_tokens=settings.auth_tokens, public_url=public_url)


def _stable_id(fields: Mapping[str, object]) -> str:
    canonical = orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)
    return "twh_" + hashlib.sha256(canonical).hexdigest()[:40]


def normalize(
    body: bytes,
    headers: Mapping[str, str],
    received_at: datetime,
    verified: Verified | None = None,
) -> Sequence[Event]:
    fields = parse_form(body)
    message_sid = fields.get("MessageSid") or fields.get("SmsSid")
    call_sid = fields.get("CallSid")
    if fields.get("MessageStatus") or fields.get("SmsStatus"):
        status = fields.get("MessageStatus") or fields.get("SmsStatus")
        event_type = f"message.{type_part(status)}"
    elif fields.get("CallStatus"):
        event_type = f"call.{type_part(fields['CallStatus'])}"
    elif message_sid:
        event_type = "message.received"
    else:
        event_type = "webhook"
    subject = message_sid or call_sid
    return [
        webhook_event(
            "twilio",
            event_id=headers.get("I-Twilio-Idempotency-Token") or _stable_id(fields),
            event_type=event_type,
            subject=str(subject) if subject and not isinstance(subject, list) else None,
            data=fields,
            headers=headers,
            received_at=received_at,
            bodydigest=digest_of(body, verified),
        )
    ]
