"""Settings models for every scheme: the ``webhook`` part of a connector's section.

Each model validates at construction (a bad value fails naming its setting)
and ``build(clock=...)`` returns the verifier. Secrets are ``SecretStr`` and
lists, so rotation is configuration: ``secrets: [old, new]``; a single
string is accepted as a one-item list. :data:`WebhookSettings` is the tagged
union (on ``type``) for connectors whose scheme is itself a setting.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, SecretStr, TypeAdapter, field_validator

from core.webhooks._private.common import DEFAULT_TOLERANCE, Clock, Verifier
from core.webhooks._private.fields import KeyList, SecretList, Tolerance, nonempty_secrets
from core.webhooks._private.generic import GenericHmacSettings
from core.webhooks._private.hmac_schemes import (
    GitHubVerifier,
    ShopifyVerifier,
    SlackVerifier,
    StripeVerifier,
)
from core.webhooks._private.sendgrid import SendGridVerifier, load_sendgrid_public_key
from core.webhooks._private.standard import StandardWebhooksVerifier, decode_standard_secret
from core.webhooks._private.twilio import TwilioVerifier

__all__ = [
    "GitHubWebhookSettings",
    "SendGridWebhookSettings",
    "ShopifyWebhookSettings",
    "SlackWebhookSettings",
    "StandardWebhooksSettings",
    "StripeWebhookSettings",
    "TwilioWebhookSettings",
    "WebhookSettings",
    "build_verifier",
    "webhook_settings_adapter",
]


def _plain(secrets: list[SecretStr]) -> list[str]:
    return [s.get_secret_value() for s in secrets]


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _SecretsBase(_Base):
    secrets: SecretList
    """Every currently valid signing secret (several while rotating)."""

    @field_validator("secrets")
    @classmethod
    def _nonempty_secrets(cls, value: list[SecretStr]) -> list[SecretStr]:
        return nonempty_secrets(value)


class StripeWebhookSettings(_SecretsBase):
    """Stripe endpoint secrets (``whsec_...``, used as-is) and the tolerance."""

    type: Literal["stripe"] = "stripe"
    tolerance: Tolerance = DEFAULT_TOLERANCE

    def build(self, *, clock: Clock = time.time) -> StripeVerifier:
        """The verifier these settings describe."""
        return StripeVerifier(_plain(self.secrets), tolerance=self.tolerance, clock=clock)


class GitHubWebhookSettings(_SecretsBase):
    """GitHub webhook secrets."""

    type: Literal["github"] = "github"

    def build(self, *, clock: Clock = time.time) -> GitHubVerifier:
        """The verifier these settings describe (GitHub signs no timestamp)."""
        return GitHubVerifier(_plain(self.secrets))


class SlackWebhookSettings(_SecretsBase):
    """Slack app signing secrets and the tolerance."""

    type: Literal["slack"] = "slack"
    tolerance: Tolerance = DEFAULT_TOLERANCE

    def build(self, *, clock: Clock = time.time) -> SlackVerifier:
        """The verifier these settings describe."""
        return SlackVerifier(_plain(self.secrets), tolerance=self.tolerance, clock=clock)


class ShopifyWebhookSettings(_SecretsBase):
    """Shopify app client secrets (webhook signing secrets)."""

    type: Literal["shopify"] = "shopify"

    def build(self, *, clock: Clock = time.time) -> ShopifyVerifier:
        """The verifier these settings describe (Shopify signs no timestamp)."""
        return ShopifyVerifier(_plain(self.secrets))


class StandardWebhooksSettings(_SecretsBase):
    """Standard Webhooks / Svix ``whsec_<base64>`` secrets and the tolerance."""

    type: Literal["standard_webhooks"] = "standard_webhooks"
    tolerance: Tolerance = DEFAULT_TOLERANCE

    @field_validator("secrets")
    @classmethod
    def _decodable(cls, value: list[SecretStr]) -> list[SecretStr]:
        for secret in value:
            decode_standard_secret(secret.get_secret_value())
        return value

    def build(self, *, clock: Clock = time.time) -> StandardWebhooksVerifier:
        """The verifier these settings describe."""
        return StandardWebhooksVerifier(_plain(self.secrets), tolerance=self.tolerance, clock=clock)


class TwilioWebhookSettings(_Base):
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
            TwilioVerifier(["x"], public_url=value)  # raises ValueError on a bad URL
        return value

    def build(self, *, clock: Clock = time.time) -> TwilioVerifier:
        """The verifier these settings describe (Twilio signs no timestamp)."""
        return TwilioVerifier(_plain(self.auth_tokens), public_url=self.public_url)


class SendGridWebhookSettings(_Base):
    """SendGrid Event Webhook verification keys (base64 DER or PEM; not secret)."""

    type: Literal["sendgrid"] = "sendgrid"
    public_keys: KeyList
    tolerance: Tolerance = DEFAULT_TOLERANCE

    @field_validator("public_keys")
    @classmethod
    def _loadable(cls, value: list[str]) -> list[str]:
        for key in value:
            load_sendgrid_public_key(key)
        return value

    def build(self, *, clock: Clock = time.time) -> SendGridVerifier:
        """The verifier these settings describe."""
        return SendGridVerifier(self.public_keys, tolerance=self.tolerance, clock=clock)


WebhookSettings = Annotated[
    StripeWebhookSettings
    | GitHubWebhookSettings
    | SlackWebhookSettings
    | ShopifyWebhookSettings
    | TwilioWebhookSettings
    | SendGridWebhookSettings
    | StandardWebhooksSettings
    | GenericHmacSettings,
    Field(discriminator="type"),
]
"""Any scheme's settings, chosen by ``type`` (``stripe``, ``github``, ``slack``,
``shopify``, ``twilio``, ``sendgrid``, ``standard_webhooks``, ``hmac``)."""

# cast: see core/_auth_settings.py's adapter
webhook_settings_adapter: TypeAdapter[WebhookSettings] = TypeAdapter(cast(Any, WebhookSettings))


def build_verifier(settings: WebhookSettings, *, clock: Clock = time.time) -> Verifier:
    """The verifier for any scheme's settings (same as ``settings.build(clock=clock)``)."""
    return settings.build(clock=clock)
