"""Stripe command models (params of ``stripe.<command>``) and the calls they make.

Every call is form-encoded with Stripe's bracket nesting
(:func:`core.apicall.form_encode`); path ids (``customer``,
``payment_intent``, ``subscription``) go in the URL, not the body.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import EmailStr, Field, model_validator

from core.catalog import Catalog
from core.connector import CommandParams, Endpoint

__all__ = [
    "CATALOG",
    "COMMANDS",
    "CustomersCreate",
    "CustomersUpdate",
    "PaymentIntentsCapture",
    "PaymentIntentsConfirm",
    "PaymentIntentsCreate",
    "RefundsCreate",
    "SubscriptionItem",
    "SubscriptionsCancel",
    "SubscriptionsCreate",
    "SubscriptionsUpdate",
]

Metadata = dict[str, str]
Currency = Annotated[str, Field(pattern=r"^[a-z]{3}$", description="ISO 4217, lower case")]
CustomerId = Annotated[str, Field(pattern=r"^cus_[A-Za-z0-9_]+$", description="cus_... id")]
IntentId = Annotated[str, Field(pattern=r"^pi_[A-Za-z0-9_]+$", description="pi_... id")]
SubscriptionId = Annotated[str, Field(pattern=r"^sub_[A-Za-z0-9_]+$", description="sub_... id")]


class CustomersCreate(CommandParams):
    endpoint = Endpoint("POST", "/v1/customers", body="form")

    email: EmailStr | None = None
    name: str | None = Field(default=None, max_length=256)
    description: str | None = None
    phone: str | None = Field(default=None, max_length=20)
    metadata: Metadata = Field(default_factory=dict)


class CustomersUpdate(CustomersCreate):
    endpoint = Endpoint("POST", "/v1/customers/{customer}", body="form")

    customer: CustomerId


class PaymentIntentsCreate(CommandParams):
    endpoint = Endpoint("POST", "/v1/payment_intents", body="form")

    amount: int = Field(gt=0, description="in the currency's smallest unit")
    currency: Currency
    customer: str | None = None
    payment_method: str | None = None
    payment_method_types: list[str] = Field(default_factory=list)
    capture_method: Literal["automatic", "automatic_async", "manual"] | None = None
    confirm: bool | None = None
    description: str | None = None
    receipt_email: EmailStr | None = None
    metadata: Metadata = Field(default_factory=dict)


class PaymentIntentsConfirm(CommandParams):
    endpoint = Endpoint("POST", "/v1/payment_intents/{payment_intent}/confirm", body="form")

    payment_intent: IntentId
    payment_method: str | None = None
    return_url: str | None = None


class PaymentIntentsCapture(CommandParams):
    endpoint = Endpoint("POST", "/v1/payment_intents/{payment_intent}/capture", body="form")

    payment_intent: IntentId
    amount_to_capture: int | None = Field(default=None, gt=0)
    metadata: Metadata = Field(default_factory=dict)


class RefundsCreate(CommandParams):
    endpoint = Endpoint("POST", "/v1/refunds", body="form")

    payment_intent: str | None = None
    charge: str | None = None
    amount: int | None = Field(default=None, gt=0)
    reason: Literal["duplicate", "fraudulent", "requested_by_customer"] | None = None
    metadata: Metadata = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_target(self) -> Self:
        if (self.payment_intent is None) == (self.charge is None):
            raise ValueError("exactly one of payment_intent or charge is required")
        return self


class SubscriptionItem(CommandParams):
    id: str | None = Field(default=None, description="si_... (update an existing item)")
    price: str | None = None
    quantity: int | None = Field(default=None, ge=0)
    deleted: bool | None = None
    metadata: Metadata = Field(default_factory=dict)


class SubscriptionsCreate(CommandParams):
    endpoint = Endpoint("POST", "/v1/subscriptions", body="form")

    customer: CustomerId
    items: list[SubscriptionItem] = Field(min_length=1, max_length=20)
    default_payment_method: str | None = None
    collection_method: Literal["charge_automatically", "send_invoice"] | None = None
    days_until_due: int | None = Field(default=None, ge=0)
    trial_period_days: int | None = Field(default=None, ge=0)
    cancel_at_period_end: bool | None = None
    metadata: Metadata = Field(default_factory=dict)

    @model_validator(mode="after")
    def _prices(self) -> Self:
        for i, item in enumerate(self.items):
            if item.price is None:
                raise ValueError(f"items[{i}].price is required when creating a subscription")
        return self


class SubscriptionsUpdate(CommandParams):
    endpoint = Endpoint("POST", "/v1/subscriptions/{subscription}", body="form")

    subscription: SubscriptionId
    items: list[SubscriptionItem] | None = Field(default=None, max_length=20)
    default_payment_method: str | None = None
    cancel_at_period_end: bool | None = None
    proration_behavior: Literal["always_invoice", "create_prorations", "none"] | None = None
    metadata: Metadata = Field(default_factory=dict)


class SubscriptionsCancel(CommandParams):
    """``DELETE /v1/subscriptions/{id}``: idempotent by definition (Stripe
    ignores keys on DELETE); options go in the query as Stripe's SDK sends them."""

    endpoint = Endpoint("DELETE", "/v1/subscriptions/{subscription}", body="query")

    subscription: SubscriptionId
    invoice_now: bool | None = None
    prorate: bool | None = None


COMMANDS: dict[str, type[CommandParams]] = {
    "customers.create": CustomersCreate,
    "customers.update": CustomersUpdate,
    "payment_intents.create": PaymentIntentsCreate,
    "payment_intents.confirm": PaymentIntentsConfirm,
    "payment_intents.capture": PaymentIntentsCapture,
    "refunds.create": RefundsCreate,
    "subscriptions.create": SubscriptionsCreate,
    "subscriptions.update": SubscriptionsUpdate,
    "subscriptions.cancel": SubscriptionsCancel,
}

CATALOG = Catalog(
    __package__ or "connectors.stripe", base_urls=lambda s: {"files": str(s.files_base_url)}
)
"""Every operation of Stripe's API description (``make specs``), after
stripe-python's ``StripeClient`` names; the models above take precedence."""
