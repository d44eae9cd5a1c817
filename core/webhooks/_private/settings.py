"""Per-scheme settings: what a connector's webhook scheme is configured with.

Each model validates at construction (a bad value fails naming its setting)
and ``build(clock=...)`` returns the verifier. Secrets are ``SecretStr`` and
lists, so rotation is configuration: ``secrets: [old, new]``; a single
string is accepted as a one-item list.

Core's own schemes (:class:`StandardWebhooksSettings`, and
:class:`~core.webhooks.GenericHmacSettings`) are complete; a provider's
scheme lives in its connector and subclasses one of the bases here
(:class:`SecretsSettings`, :class:`TimestampedSecretsSettings`,
:class:`PublicKeysSettings`), adding its ``type`` tag and ``build()``.
:data:`WebhookSettings` is the tagged union (on ``type``) of core's schemes.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal, Protocol, Self, cast

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    TypeAdapter,
    field_validator,
    model_validator,
)
from pydantic_settings import NoDecode

from core.webhooks._private.common import DEFAULT_TOLERANCE, Clock, Verifier
from core.webhooks._private.ecdsa import load_p256_public_key
from core.webhooks._private.fields import (
    KeyList,
    SecretList,
    Tolerance,
    as_list,
    nonempty_secrets,
)
from core.webhooks._private.generic import GenericHmacSettings
from core.webhooks._private.standard import (
    StandardWebhooksVerifier,
    decode_standard_public_key,
    decode_standard_secret,
)

__all__ = [
    "PublicKeysSettings",
    "SchemeSettings",
    "SecretsSettings",
    "StandardWebhooksSettings",
    "TimestampedSecretsSettings",
    "WebhookScheme",
    "WebhookSettings",
    "build_verifier",
    "webhook_settings_adapter",
]


class WebhookScheme(Protocol):
    """Any scheme's settings: they build the verifier they describe."""

    def build(self, *, clock: Clock = ...) -> Verifier: ...


class SchemeSettings(BaseModel):
    """Base of every scheme's settings: frozen, unknown fields are an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SecretsSettings(SchemeSettings):
    """A scheme keyed by shared secrets (HMAC)."""

    secrets: SecretList
    """Every currently valid signing secret (several while rotating)."""

    @field_validator("secrets")
    @classmethod
    def _nonempty_secrets(cls, value: list[SecretStr]) -> list[SecretStr]:
        return nonempty_secrets(value)

    def secret_values(self) -> list[str]:
        """The secrets in plain text, for the verifier only."""
        return [s.get_secret_value() for s in self.secrets]


class TimestampedSecretsSettings(SecretsSettings):
    """A scheme keyed by shared secrets that signs a timestamp, and its tolerance."""

    tolerance: Tolerance = DEFAULT_TOLERANCE


class PublicKeysSettings(SchemeSettings):
    """A scheme signed with ECDSA P-256: the verification keys (not secret) and tolerance."""

    public_keys: KeyList
    tolerance: Tolerance = DEFAULT_TOLERANCE

    @field_validator("public_keys")
    @classmethod
    def _loadable(cls, value: list[str]) -> list[str]:
        for key in value:
            load_p256_public_key(key)
        return value


class StandardWebhooksSettings(SchemeSettings):
    """Standard Webhooks / Svix: ``v1`` ``whsec_<base64>`` secrets, ``v1a``
    ``whpk_<base64>`` ed25519 public keys (at least one of either), the tolerance.

    A key of the wrong kind (a ``whpk_``/``whsk_`` key in ``secrets``, a
    ``whsec_`` secret in ``public_keys``) fails naming the setting it belongs in.
    """

    type: Literal["standard_webhooks"] = "standard_webhooks"
    secrets: Annotated[list[SecretStr], NoDecode, BeforeValidator(as_list)] = Field(
        default_factory=list
    )
    """Every currently valid ``v1`` signing secret (several while rotating)."""
    public_keys: Annotated[list[str], NoDecode, BeforeValidator(as_list)] = Field(
        default_factory=list
    )
    """Every currently valid ``v1a`` public key (not secret; several while rotating)."""
    tolerance: Tolerance = DEFAULT_TOLERANCE

    @field_validator("secrets")
    @classmethod
    def _decodable(cls, value: list[SecretStr]) -> list[SecretStr]:
        for secret in nonempty_secrets(value):
            decode_standard_secret(secret.get_secret_value())
        return value

    @field_validator("public_keys")
    @classmethod
    def _loadable(cls, value: list[str]) -> list[str]:
        for key in value:
            decode_standard_public_key(key)
        return value

    @model_validator(mode="after")
    def _some_key(self) -> Self:
        if not self.secrets and not self.public_keys:
            raise ValueError("secrets: give a whsec_ secret (v1) or public_keys a whpk_ key (v1a)")
        return self

    def secret_values(self) -> list[str]:
        """The secrets in plain text, for the verifier only."""
        return [s.get_secret_value() for s in self.secrets]

    def build(self, *, clock: Clock = time.time) -> StandardWebhooksVerifier:
        """The verifier these settings describe."""
        return StandardWebhooksVerifier(
            self.secret_values(),
            public_keys=self.public_keys,
            tolerance=self.tolerance,
            clock=clock,
        )


WebhookSettings = Annotated[
    StandardWebhooksSettings | GenericHmacSettings,
    Field(discriminator="type"),
]
"""Core's schemes' settings, chosen by ``type`` (``standard_webhooks``, ``hmac``)."""

# cast: see core/_auth_settings.py's adapter
webhook_settings_adapter: TypeAdapter[WebhookSettings] = TypeAdapter(cast(Any, WebhookSettings))


def build_verifier(settings: WebhookScheme, *, clock: Clock = time.time) -> Verifier:
    """The verifier for any scheme's settings (same as ``settings.build(clock=clock)``)."""
    return settings.build(clock=clock)
