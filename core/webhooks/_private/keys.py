"""Bases every HMAC scheme is built on: several secrets, constant time, a tolerance.

A scheme subclasses one of these, names itself (``scheme = "acme"``), reads
its headers and builds the signed content in ``verify``; the base then
answers "does any configured secret sign it" (and, for schemes that sign a
timestamp, "is it fresh"), raising :class:`VerificationError` with the
scheme's name, never another exception.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

from core.webhooks._private.common import (
    DEFAULT_TOLERANCE,
    Clock,
    VerificationError,
    check_tolerance,
    mac,
    matches,
    secret_list,
)

__all__ = ["HmacKeys", "TimestampedHmac", "tolerance_argument"]


def tolerance_argument(tolerance: float | None) -> float | None:
    """``tolerance`` unchanged, or ``ValueError`` naming it when negative."""
    if tolerance is not None and tolerance < 0:
        raise ValueError("tolerance: must be >= 0 seconds (or None to disable)")
    return tolerance


class HmacKeys:
    """Base of an HMAC scheme: every currently valid secret (several while rotating).

    ``ValueError`` naming ``argument`` at construction for no secret or an
    empty one; :meth:`check_mac` compares every secret's MAC of every
    candidate message with every given signature, in constant time.
    """

    scheme: str = "hmac"

    def __init__(
        self, secrets: str | bytes | Iterable[str | bytes], *, argument: str = "secrets"
    ) -> None:
        self._secrets = secret_list(secrets, argument)

    def check_mac(
        self,
        messages: bytes | Iterable[bytes],
        given: Sequence[bytes],
        algorithm: str = "sha256",
    ) -> None:
        """Return if a secret signs a message with one of ``given``, else ``bad_signature``."""
        candidates = [messages] if isinstance(messages, bytes) else list(messages)
        expected = (mac(s, m, algorithm) for s in self._secrets for m in candidates)
        if not matches(expected, given):
            raise VerificationError("bad_signature", "no matching signature", scheme=self.scheme)


class TimestampedHmac(HmacKeys):
    """Base of an HMAC-SHA256 scheme whose signed content includes a timestamp.

    :meth:`check_signed_at` checks the signature first, then the timestamp
    against ``clock()`` either way (``stale_timestamp``/``future_timestamp``;
    a ``tolerance`` of ``None`` disables that check).
    """

    def __init__(
        self,
        secrets: str | bytes | Iterable[str | bytes],
        *,
        tolerance: float | None = DEFAULT_TOLERANCE,
        clock: Clock = time.time,
    ) -> None:
        super().__init__(secrets)
        self._tolerance = tolerance_argument(tolerance)
        self._clock = clock

    def check_signed_at(self, signed: bytes, given: Sequence[bytes], timestamp: int) -> None:
        """Raise unless a secret signs ``signed`` and ``timestamp`` is within the tolerance."""
        self.check_mac(signed, given)
        check_tolerance(timestamp, self._clock, self._tolerance, self.scheme)
