"""Parsing of rate-limit headers into one neutral shape. Never raises.

Understood: ``Retry-After`` (seconds or HTTP-date), the common
``X-RateLimit-Limit/-Remaining/-Reset`` (reset as epoch seconds or as a
delta), IETF ``RateLimit``/``RateLimit-Policy`` in both the draft-07 form
(``limit=100, remaining=50, reset=5`` and ``100;w=60``) and the
structured-field form of later drafts (``"default";r=50;t=5`` and
``"default";q=100;w=60``).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from core.classify import parse_retry_after

__all__ = ["RateSignal", "parse_rate_headers"]

_EPOCH_THRESHOLD = 1_000_000_000.0  # a "reset" above this is an epoch timestamp


@dataclass(frozen=True)
class RateSignal:
    """What the provider said. Each field is None when not announced.

    ``quota``/``window``: the policy (``quota`` requests per ``window``
    seconds); ``remaining``/``reset``: requests left and seconds until the
    window resets; ``retry_after``: seconds to stay silent.
    """

    quota: float | None = None
    window: float | None = None
    remaining: float | None = None
    reset: float | None = None
    retry_after: float | None = None

    @property
    def empty(self) -> bool:
        return all(v is None for v in (self.quota, self.remaining, self.reset, self.retry_after))


def _num(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text.strip().strip('"'))
    except (ValueError, AttributeError):
        return None
    if math.isnan(value) or math.isinf(value) or value < 0:
        return None
    return value


_PARAM = re.compile(r"([A-Za-z_-]+)\s*=\s*(\"[^\"]*\"|[^,;\s]+)")


def _params(value: str) -> dict[str, str]:
    return {k.lower(): v.strip('"') for k, v in _PARAM.findall(value)}


def _policy(value: str) -> tuple[float | None, float | None]:
    """Smallest quota-per-second policy from a RateLimit-Policy header."""
    best: tuple[float | None, float | None] = (None, None)
    best_rate = math.inf
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        params = _params(item)
        head = item.split(";", 1)[0].strip()
        quota = _num(params.get("q")) if "q" in params else _num(head)
        window = _num(params.get("w")) or 1.0
        if quota is None or quota <= 0 or window <= 0:
            continue
        if quota / window < best_rate:
            best_rate, best = quota / window, (quota, window)
    return best


def _reset(value: str | None, now: float) -> float | None:
    reset = _num(value)
    if reset is None:
        return None
    if reset > _EPOCH_THRESHOLD:
        reset = max(0.0, reset - now)
    return reset


_NAMES = frozenset(
    {
        b"retry-after",
        b"ratelimit",
        b"ratelimit-policy",
        b"x-ratelimit-remaining",
        b"x-ratelimit-reset",
        b"x-ratelimit-limit",
    }
)


def _relevant(headers: httpx.Headers) -> dict[str, str]:
    """One pass over the raw headers (``Headers.get`` is a scan per call)."""
    out: dict[str, str] = {}
    for name, value in headers.raw:
        lower = name.lower()
        if lower in _NAMES:
            out[lower.decode("latin-1")] = value.decode("latin-1")
    return out


def parse_rate_headers(headers: Mapping[str, str], *, now: float | None = None) -> RateSignal:
    """Read every rate-limit header present; unparsable values are ignored."""
    try:
        if isinstance(headers, httpx.Headers):
            headers = _relevant(headers)
        else:
            headers = {str(k).lower(): v for k, v in headers.items()}
        wall = time.time() if now is None else now
        quota = window = remaining = reset = None
        policy = headers.get("ratelimit-policy")
        if policy:
            quota, window = _policy(policy)
        current = headers.get("ratelimit")
        if current:
            params = _params(current)
            remaining = _num(params.get("remaining", params.get("r")))
            reset = _reset(params.get("reset", params.get("t")), wall)
            if quota is None and "limit" in params:
                quota, window = _num(params["limit"]), None
        if remaining is None:
            remaining = _num(headers.get("x-ratelimit-remaining"))
        if reset is None:
            reset = _reset(headers.get("x-ratelimit-reset"), wall)
        if quota is None:
            quota = _num(headers.get("x-ratelimit-limit"))
        return RateSignal(
            quota=quota,
            window=window,
            remaining=remaining,
            reset=reset,
            retry_after=parse_retry_after(
                headers.get("retry-after"), datetime.fromtimestamp(wall, UTC)
            ),
        )
    except Exception:  # a provider's header must never crash a call
        return RateSignal()
