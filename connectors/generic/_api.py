"""How generic requests are made: base URL, auth and idempotency from settings.

Idempotency: with ``idempotency_header`` set (e.g. ``Idempotency-Key``)
``idempotency="key"``, window: ``idempotency_window_s`` (the provider is
trusted to honour the key that long; default 24 h); without it
``idempotency="ledger"``, window: covered by the sink's ledger window.
"""

from __future__ import annotations

from datetime import timedelta

from core.apicall import ClientSetup
from core.auth import build_auth
from core.client import ClientPolicy, credential_fingerprint
from core.connector_kit import FOR_COMMANDS_AND_POLLS, required
from core.ratelimit import RatePolicy

from ._settings import GenericSettings

__all__ = ["client_setup"]


def client_setup(settings: GenericSettings) -> ClientSetup:
    base_url = required(settings.base_url, "generic.base_url", FOR_COMMANDS_AND_POLLS)
    key = settings.idempotency_header
    auth = build_auth(settings.auth) if settings.auth is not None else None
    return ClientSetup(
        policy=ClientPolicy(
            connector="generic",
            base_url=str(base_url),
            rate=RatePolicy(rate=settings.rate) if settings.rate else None,
            idempotency_header=key or "Idempotency-Key",
        ),
        auth=auth,
        credential=credential_fingerprint(repr(settings.auth)) if auth else "default",
        idempotency="key" if key else "ledger",
        idempotency_window=timedelta(seconds=settings.idempotency_window_s) if key else None,
    )
