"""Stripe: signed webhooks in, API commands out."""

from __future__ import annotations

from core.connector import Connector

from ._commands import COMMANDS
from ._settings import StripeSettings

__all__ = ["StripeSettings", "connector"]

connector = Connector(
    name="stripe",
    settings=StripeSettings,
    commands=COMMANDS,
    description="Stripe payments API (form-encoded, Idempotency-Key = command id)",
)
