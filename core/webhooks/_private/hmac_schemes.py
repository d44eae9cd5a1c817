"""HMAC schemes with a fixed layout: Stripe, GitHub, Slack, Shopify.

Written here rather than taken from the providers' SDKs: those SDKs are large
synchronous API clients, each raises its own error types (Stripe's lets a
``ValueError`` out on a non-numeric ``t=``), none takes an injectable clock,
and only Stripe checks several secrets. Each scheme is a few lines over
:mod:`hmac`; the SDKs are used as oracles in the tests instead.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

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

__all__ = ["GitHubVerifier", "ShopifyVerifier", "SlackVerifier", "StripeVerifier"]


def _check_tolerance_arg(tolerance: float | None) -> float | None:
    if tolerance is not None and tolerance < 0:
        raise ValueError("tolerance: must be >= 0 seconds (or None to disable)")
    return tolerance


class StripeVerifier:
    """Stripe ``Stripe-Signature: t=<ts>,v1=<hex>[,v1=<hex>...]``.

    Signed content is ``<t>.<body>``, HMAC-SHA256, hex. The ``whsec_...``
    endpoint secret is used as-is (UTF-8 bytes, prefix included). Any ``v1``
    entry matching any configured secret passes (Stripe sends one ``v1`` per
    active secret while an endpoint secret is rolled; we accept old and new
    secrets on our side too). Other schemes (``v0``) are ignored. ``t`` must be
    within ``tolerance`` seconds of the clock, either way (Stripe's SDK checks
    only the past; ``None`` disables the check).
    """

    scheme = "stripe"
    header = "Stripe-Signature"

    def __init__(
        self,
        secrets: str | bytes | Iterable[str | bytes],
        *,
        tolerance: float | None = DEFAULT_TOLERANCE,
        clock: Clock = time.time,
    ) -> None:
        self._secrets = secret_list(secrets)
        self._tolerance = _check_tolerance_arg(tolerance)
        self._clock = clock

    def verify(
        self, body: bytes, headers: Mapping[str, str], *, url: str | None = None
    ) -> Verified:
        """See :class:`~core.webhooks.Verifier`; ``url`` is ignored."""
        value = Headers(headers, self.scheme, [self.header]).require(self.header)
        timestamp: str | None = None
        signatures: list[bytes] = []
        for item in value.split(","):
            key, sep, val = item.strip().partition("=")
            if not sep:
                raise self._malformed()
            if key == "t":
                if timestamp is not None:
                    raise self._malformed()
                timestamp = val
            elif key == "v1":
                if len(signatures) >= MAX_SIGNATURES:
                    raise self._malformed()
                signatures.append(hexdecode(val, self.header, self.scheme))
        if timestamp is None:
            raise VerificationError(
                "malformed_header", "no t= in Stripe-Signature", scheme=self.scheme
            )
        if not signatures:
            raise VerificationError("missing_header", "no v1 signature", scheme=self.scheme)
        ts = parse_timestamp(timestamp, "Stripe-Signature t", self.scheme)
        signed = timestamp.encode("ascii") + b"." + body
        if not matches((mac(s, signed) for s in self._secrets), signatures):
            raise VerificationError("bad_signature", "no matching signature", scheme=self.scheme)
        check_tolerance(ts, self._clock, self._tolerance, self.scheme)
        return Verified(body_digest(body), timestamp=ts)

    def _malformed(self) -> VerificationError:
        return VerificationError(
            "malformed_header", "malformed Stripe-Signature", scheme=self.scheme
        )


class GitHubVerifier:
    """GitHub ``X-Hub-Signature-256: sha256=<hex>``: HMAC-SHA256 of the body.

    GitHub signs no timestamp, id or event name, so there is no freshness
    check: replays are caught downstream by dedup on the body's digest (see
    :class:`~core.webhooks.Verified`). Every ``X-GitHub-*`` and
    ``X-Hub-Signature*`` header must occur once. Any configured secret may
    match.
    """

    scheme = "github"
    header = "X-Hub-Signature-256"

    def __init__(self, secrets: str | bytes | Iterable[str | bytes]) -> None:
        self._secrets = secret_list(secrets)

    def verify(
        self, body: bytes, headers: Mapping[str, str], *, url: str | None = None
    ) -> Verified:
        """See :class:`~core.webhooks.Verifier`; ``url`` is ignored."""
        view = Headers(headers, self.scheme, guarded_prefixes=("x-github-", "x-hub-signature"))
        value = view.require(self.header)
        prefix, sep, hexsig = value.partition("=")
        if not sep or prefix != "sha256":
            raise VerificationError(
                "malformed_header", f"malformed {self.header}", scheme=self.scheme
            )
        given = hexdecode(hexsig, self.header, self.scheme)
        if not matches((mac(s, body) for s in self._secrets), [given]):
            raise VerificationError("bad_signature", "no matching signature", scheme=self.scheme)
        return Verified(body_digest(body))


class SlackVerifier:
    """Slack ``X-Slack-Signature: v0=<hex>`` over ``v0:<ts>:<body>``.

    ``<ts>`` is ``X-Slack-Request-Timestamp``, which must be within
    ``tolerance`` seconds of the clock either way (Slack's documented 5
    minutes by default). HMAC-SHA256 with the app's signing secret; any
    configured secret may match.
    """

    scheme = "slack"
    header = "X-Slack-Signature"
    timestamp_header = "X-Slack-Request-Timestamp"

    def __init__(
        self,
        secrets: str | bytes | Iterable[str | bytes],
        *,
        tolerance: float | None = DEFAULT_TOLERANCE,
        clock: Clock = time.time,
    ) -> None:
        self._secrets = secret_list(secrets)
        self._tolerance = _check_tolerance_arg(tolerance)
        self._clock = clock

    def verify(
        self, body: bytes, headers: Mapping[str, str], *, url: str | None = None
    ) -> Verified:
        """See :class:`~core.webhooks.Verifier`; ``url`` is ignored."""
        view = Headers(headers, self.scheme, [self.header, self.timestamp_header])
        value = view.require(self.header)
        timestamp = view.require(self.timestamp_header)
        ts = parse_timestamp(timestamp, self.timestamp_header, self.scheme)
        version, sep, hexsig = value.partition("=")
        if not sep or version != "v0":
            raise VerificationError(
                "malformed_header", f"malformed {self.header}", scheme=self.scheme
            )
        given = hexdecode(hexsig, self.header, self.scheme)
        signed = b"v0:" + timestamp.encode("ascii") + b":" + body
        if not matches((mac(s, signed) for s in self._secrets), [given]):
            raise VerificationError("bad_signature", "no matching signature", scheme=self.scheme)
        check_tolerance(ts, self._clock, self._tolerance, self.scheme)
        return Verified(body_digest(body), timestamp=ts)


class ShopifyVerifier:
    """Shopify ``X-Shopify-Hmac-Sha256``: base64 HMAC-SHA256 of the body.

    The secret is the app's client secret (or the webhook signing secret
    shown in the admin). Shopify signs no timestamp, id or topic; replays
    are caught by dedup on the body's digest. Every ``X-Shopify-*`` header
    must occur once. Any configured secret may match.
    """

    scheme = "shopify"
    header = "X-Shopify-Hmac-Sha256"

    def __init__(self, secrets: str | bytes | Iterable[str | bytes]) -> None:
        self._secrets = secret_list(secrets)

    def verify(
        self, body: bytes, headers: Mapping[str, str], *, url: str | None = None
    ) -> Verified:
        """See :class:`~core.webhooks.Verifier`; ``url`` is ignored."""
        view = Headers(headers, self.scheme, guarded_prefixes=("x-shopify-",))
        given = b64decode(view.require(self.header), self.header, self.scheme)
        if not matches((mac(s, body) for s in self._secrets), [given]):
            raise VerificationError("bad_signature", "no matching signature", scheme=self.scheme)
        return Verified(body_digest(body))
