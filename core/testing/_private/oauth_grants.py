"""What the fake authorization server remembers between the steps of a grant.

An authorization code (``/authorize`` to ``/token``) and a device
authorization (``/device/code`` to the polls of ``/token``), each with the
rule that decides its next step, so the server's routes only look them up.
Device polls answer ``authorization_pending`` and ``slow_down`` a counted
number of times (not timed, so tests need no real waiting); with
``enforce_interval`` a poll sooner than the current interval also gets
``slow_down``, as real providers answer, and each ``slow_down`` widens the
interval by 5 s (RFC 8628 3.5).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

__all__ = ["DEVICE_GRANT", "AuthorizationCode", "DeviceAuthorization", "pkce_s256"]

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def pkce_s256(verifier: str) -> str:
    """RFC 7636 S256: base64url(sha256(ascii(verifier))) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


@dataclass
class AuthorizationCode:
    """A code ``/authorize`` handed out, redeemable once at ``/token``."""

    client_id: str
    redirect_uri: str
    challenge: str | None
    method: str
    nonce: str | None
    scope: str

    def redeemable(self, client_id: str, redirect_uri: str, verifier: str) -> bool:
        """True if the token request may have it (same client and redirect, PKCE S256)."""
        if self.client_id != client_id or redirect_uri != self.redirect_uri:
            return False
        if self.challenge is None:
            return True
        return bool(verifier) and pkce_s256(verifier) == self.challenge


@dataclass
class DeviceAuthorization:
    """A device code waiting for its user (RFC 8628)."""

    client_id: str
    user_code: str
    pending_left: int
    slow_down_left: int
    expires_at: float
    interval: float
    last_poll: float
    denied: bool = False

    def refusal(self, now: float, *, enforce_interval: bool) -> str | None:
        """The RFC 8628 error a poll at ``now`` gets, or None: the user approved."""
        if self.expires_at <= now:
            return "expired_token"
        if enforce_interval:
            too_soon = now - self.last_poll < self.interval
            self.last_poll = now
            if too_soon:
                self.interval += 5
                return "slow_down"
        if self.denied:
            return "access_denied"
        if self.slow_down_left > 0:
            self.slow_down_left -= 1
            self.interval += 5
            return "slow_down"
        if self.pending_left > 0:
            self.pending_left -= 1
            return "authorization_pending"
        return None
