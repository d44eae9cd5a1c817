"""Redaction at the source: secrets never reach a log line, an error or a header.

Anything that may hold a credential goes through these helpers before it is
logged or stored:

- :func:`redact_headers` replaces the value of sensitive headers
  (``Authorization``, ``Cookie``, ``X-Api-Key``, anything naming a token,
  secret, password, signature or key);
- :func:`redact_url` replaces sensitive query parameters and userinfo;
- :func:`redact_text` scrubs free text: ``Bearer``/``Basic`` credentials,
  ``key=value`` pairs with a sensitive name, well-known token shapes
  (``sk_live_...``, ``xoxb-...``, ``ghp_...``, JWTs), every value passed
  to :func:`register_secret` (a short one only as a whole value) and
  ``name=value`` for every name passed to :func:`register_secret_name`;
- :func:`redact_mapping` applies the above recursively to log extras;
- :class:`RedactingFilter` is a ``logging.Filter`` that does it for every
  record a handler sees (message, args and extras).

Auth classes call :func:`register_secret` with every secret they hold (and
every token they obtain), so an exact secret is scrubbed even where no
pattern would recognise it; an API key's header or query parameter name is
passed to :func:`register_secret_name`, so it is redacted by name even when
its value is too short to register (``?appid=...`` in a URL).
Redaction never raises: on anything unexpected it returns the placeholder.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = [
    "REDACTED",
    "RedactingFilter",
    "is_sensitive_name",
    "redact_headers",
    "redact_mapping",
    "redact_text",
    "redact_url",
    "register_request_secrets",
    "register_secret",
    "register_secret_name",
]

REDACTED = "[REDACTED]"

_SENSITIVE_NAME = re.compile(
    r"(authorization|cookie|token|secret|passw|signature|api[-_]?key|apikey|"
    r"access[-_]?key|private|credential|session|^key$|[-_]key$|^sig$|client_assertion)",
    re.IGNORECASE,
)
# Every quantifier that can run before a literal is bounded: provider text is
# hostile input, and an unbounded one makes these patterns quadratic (ReDoS).
_PATTERNS = [
    # Authorization schemes in free text.
    re.compile(
        r"(?i)\b(bearer|basic|digest)\s{1,4}(?=[A-Za-z0-9._~+/=-]{0,512}[0-9+/=_.~-])"
        r"[A-Za-z0-9._~+/=-]{8,}"
    ),
    # name=value / "name": "value" where the name is sensitive.
    re.compile(
        r"(?i)((?:token|secret|passw(?:or)?d|api[-_]?key|apikey|signature|"
        r"authorization|client_assertion)[a-z0-9_-]{0,32}"
        # ... but not a setting that names where or how a secret is used
        # ("token_url: must be https" is an error message, not a credential).
        r"(?<![_-]url)(?<![_-]uri)(?<![_-]type)(?<![_-]endpoint)(?<![_-]method)"
        r"[\"']?\s{0,4}[:=]\s{0,4}[\"']?)"
        # ... nor a command type ending in _secret before the JSON path of a
        # bad param ("...create_or_update_org_secret: params.org: required")
        r"(?!params[.\[])"
        r"([^\"'&\s,;}]+)"
    ),
    # Well-known credential shapes.
    re.compile(r"\b(?:sk|rk|pk|whsec)_(?:live|test)_[A-Za-z0-9]{6,}"),
    re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{6,}"),
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{16,}"),
    re.compile(r"\bshp(?:at|ss|ca|pa)_[A-Fa-f0-9]{16,}"),
    re.compile(r"\bSG\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
]

_lock = threading.Lock()
_secrets: dict[str, None] = {}  # insertion-ordered set
_MAX_SECRETS = 512
_secret_re: re.Pattern[str] | None = None
_MIN_SECRET = 8  # shorter values would shred ordinary words everywhere
# Short secrets (3 to 7 characters: "abc", "test", a PIN) are words as often
# as credentials, so they are redacted only where they stand as a whole
# value: a header's value, a query parameter's, a string in log extras, the
# value of ``name=value`` / ``name: value`` in text -- never inside prose or
# another word. One or two characters are no secret worth shredding every
# "1" and "ok" for, and are ignored.
_MIN_SHORT = 3
_short: dict[str, None] = {}
_short_re: re.Pattern[str] | None = None  # name=<short secret> in free text


def register_secret(*values: str | None) -> None:
    """Scrub these exact values from everything redacted from now on.

    A value of 8 characters or more is scrubbed anywhere it occurs. A
    shorter one (3 to 7 characters) only where it is a whole value: a header
    or query parameter value, a string in a mapping, the value of a
    ``name=value`` or ``name: value`` pair in text; the same word in prose or
    inside a longer word is left alone. One or two characters are ignored.
    The newest 512 values of each kind are kept (rotated tokens age out).
    Safe to call from any thread, any number of times.
    """
    global _secret_re, _short_re
    given = [v for v in values if isinstance(v, str)]
    new = [v for v in given if len(v) >= _MIN_SECRET]
    short = [v for v in given if _MIN_SHORT <= len(v) < _MIN_SECRET]
    if all(v in _secrets for v in new) and all(v in _short for v in short):
        return
    with _lock:
        for registry, items in ((_secrets, new), (_short, short)):
            for value in items:
                registry.pop(value, None)
                registry[value] = None
            while len(registry) > _MAX_SECRETS:  # rotated tokens: forget the oldest
                del registry[next(iter(registry))]
        if _secrets:
            ordered = sorted(_secrets, key=len, reverse=True)
            _secret_re = re.compile("|".join(re.escape(s) for s in ordered))
        if _short:
            alternatives = "|".join(re.escape(s) for s in sorted(_short, key=len, reverse=True))
            _short_re = re.compile(
                r"(?<![A-Za-z0-9_.-])([A-Za-z0-9_.-]{1,64}[\"']?\s{0,4}[:=]\s{0,4}[\"']?)"
                rf"(?:{alternatives})(?![^\"'&\s,;}}])"
            )


def _short_secret(value: str) -> bool:
    """True when ``value`` is, as a whole, a registered short secret."""
    return value in _short


_NOT_SENSITIVE = frozenset({"idempotency-key", "idempotency_key", "x-idempotency-key"})
_names: dict[str, None] = {}  # registered sensitive names, lower case
_MAX_NAMES = 256
_name_re: re.Pattern[str] | None = None  # name=value in free text
_name_query_re: re.Pattern[bytes] | None = None


def register_secret_name(*names: str | None) -> None:
    """Treat these header / query parameter names as sensitive from now on.

    Their values are redacted by name in URLs, headers, log extras and
    ``name=value`` text, whatever the value looks like (e.g. an API key in
    a parameter called ``appid``). Case-insensitive; the newest 256 kept.
    """
    global _name_re, _name_query_re
    new = [n.strip().lower() for n in names if isinstance(n, str) and n.strip()]
    if all(n in _names for n in new):
        return
    with _lock:
        for name in new:
            _names.pop(name, None)
            _names[name] = None
        while len(_names) > _MAX_NAMES:
            del _names[next(iter(_names))]
        alternatives = "|".join(re.escape(n) for n in sorted(_names, key=len, reverse=True))
        _name_re = re.compile(
            rf"(?i)(?<![A-Za-z0-9_.-])((?:{alternatives})[\"']?\s{{0,4}}[:=]\s{{0,4}}[\"']?)"
            r"([^\"'&\s,;}]+)"
        )
        _name_query_re = re.compile(rf"(?i)(?:^|[&;])(?:{alternatives})=".encode())
        _sensitive_header.cache_clear()


@functools.lru_cache(maxsize=1024)
def _sensitive_header(raw_name: bytes) -> bool:
    return is_sensitive_name(raw_name.decode("latin-1"))


_QUERY_HINT = re.compile(rb"(?i)(key|token|secret|passw|signature|sig|credential)[^=&]*=")


def _query_may_carry_secrets(query: bytes) -> bool:
    names = _name_query_re
    return bool(_QUERY_HINT.search(query) or (names is not None and names.search(query)))


def register_request_secrets(headers: Iterable[tuple[bytes, bytes]], query: bytes = b"") -> None:
    """Register the credentials a request carries (sensitive headers and query
    parameters), so a provider echoing them back in an error is scrubbed too.

    Cheap enough to call on every request: known values return at once.
    """
    found: list[str] = []
    for raw_name, raw_value in headers:
        if _sensitive_header(raw_name):
            value = raw_value.decode("latin-1")
            found.append(value)
            scheme, _, credential = value.partition(" ")
            if credential and scheme.isalpha():
                found.append(credential.strip())
    if query and _query_may_carry_secrets(query):
        for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=False):
            if is_sensitive_name(name):
                found.append(value)
    if found:
        register_secret(*found)


def is_sensitive_name(name: str) -> bool:
    """True when a header, parameter or field name suggests a credential
    (or was registered with :func:`register_secret_name`)."""
    lowered = name.lower()
    if lowered in _names:
        return True
    return lowered not in _NOT_SENSITIVE and bool(_SENSITIVE_NAME.search(name))


def redact_text(text: str) -> str:
    """``text`` with every credential we can recognise replaced by ``[REDACTED]``."""
    try:
        if _secret_re is not None:
            text = _secret_re.sub(REDACTED, text)
        if _short_secret(text):
            return REDACTED
        if _short_re is not None:
            text = _short_re.sub(lambda m: m.group(1) + REDACTED, text)
        if _name_re is not None:
            text = _name_re.sub(lambda m: m.group(1) + REDACTED, text)
        for i, pattern in enumerate(_PATTERNS):
            if i == 1:
                text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
            elif i == 0:
                text = pattern.sub(lambda m: m.group(1) + " " + REDACTED, text)
            else:
                text = pattern.sub(REDACTED, text)
        return text
    except Exception:  # never let redaction break the caller
        return REDACTED


def redact_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    """A copy of ``headers`` with sensitive values replaced."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    out: dict[str, str] = {}
    for name, value in items:
        out[name] = REDACTED if is_sensitive_name(name) else redact_text(str(value))
    return out


def redact_url(url: object) -> str:
    """The URL with userinfo and sensitive query parameters replaced."""
    try:
        parts = urlsplit(str(url))
        netloc = parts.netloc
        if "@" in netloc:
            netloc = REDACTED + "@" + netloc.rsplit("@", 1)[1]
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            query = urlencode(
                [
                    (k, REDACTED if is_sensitive_name(k) or k == "code" or _short_secret(v) else v)
                    for k, v in pairs
                ],
                safe="[]",
            )
        return redact_text(urlunsplit((parts.scheme, netloc, parts.path, query, "")))
    except Exception:
        return REDACTED


def redact_mapping(value: Any, _depth: int = 0) -> Any:
    """Recursively redact a log-extra style structure (dicts, lists, strings)."""
    if _depth > 8:
        return REDACTED
    if isinstance(value, Mapping):
        return {
            k: (
                REDACTED
                if isinstance(k, str) and is_sensitive_name(k)
                else redact_mapping(v, _depth + 1)
            )
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact_mapping(v, _depth + 1) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


_STANDARD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys() | {"message", "asctime"}
)


class RedactingFilter(logging.Filter):
    """Redacts a record's message, args and extras in place; never drops it.

    Attach it to handlers (``handler.addFilter(RedactingFilter())``) so
    records from any library are scrubbed too.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        # The message is formatted here, once: ``msg`` becomes the final text
        # and ``args`` the empty tuple (falsy: no second %-formatting, so a
        # literal "%" survives). Not None: mode's formatter (faust's worker
        # logging) wraps a non-tuple into ``(None,)`` and then fails with
        # "not all arguments converted" on every record.
        try:
            record.msg = redact_text(record.getMessage())
            record.args = ()
            for key, value in list(record.__dict__.items()):
                if key in _STANDARD_ATTRS:
                    continue
                record.__dict__[key] = REDACTED if is_sensitive_name(key) else redact_mapping(value)
        except Exception:
            record.msg, record.args = REDACTED, ()
        return True
