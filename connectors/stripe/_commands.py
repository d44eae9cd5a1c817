"""Stripe command models (params of ``stripe.<command>``)."""

from __future__ import annotations

from pydantic import EmailStr, Field

from core.connector import CommandParams


class CustomersCreate(CommandParams):
    email: EmailStr | None = None
    name: str | None = Field(default=None, max_length=256)
    description: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)


class CustomersUpdate(CustomersCreate):
    customer: str = Field(min_length=1, description="cus_... id")


COMMANDS: dict[str, type[CommandParams]] = {
    "customers.create": CustomersCreate,
    "customers.update": CustomersUpdate,
}
