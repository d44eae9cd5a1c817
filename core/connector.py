"""What a connector declares about itself.

A connector package (``connectors/<name>``) exposes one :class:`Connector`
and registers it under the ``switchboard.connectors`` entry-point group.
Core and streams only ever see this object, never a provider's module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict

from core.apicall import ApiCall, CallContext, ClientSetup, Endpoint
from core.envelopes import Event
from core.poll import PollStream
from core.webhooks import Verified, Verifier

__all__ = [
    "ApiCall",
    "CallContext",
    "ClientSetup",
    "CommandParams",
    "Connector",
    "ConnectorSettings",
    "Endpoint",
    "HandshakeReply",
    "MalformedPayload",
    "Normalize",
    "PollStream",
    "Verifier",
    "WebhookSpec",
]

MiB = 1024 * 1024


class MalformedPayload(ValueError):
    """A verified delivery whose body cannot be normalized (answered 400)."""


class Normalize(Protocol):
    """``normalize(body, headers, received_at, verified)`` of a :class:`WebhookSpec`.

    ``verified`` is what the route's verifier returned; the event id comes
    from it (never from an unsigned header), and a connector whose provider
    signs no id sets the Event's ``bodydigest`` from ``verified.digest``.
    ``None`` (callers outside the ingest server) means "read the headers".
    """

    def __call__(
        self,
        body: bytes,
        headers: Mapping[str, str],
        received_at: datetime,
        verified: Verified | None = None,
        /,
    ) -> Sequence[Event]: ...


@dataclass(frozen=True)
class HandshakeReply:
    """A provider handshake answered without producing anything
    (Slack ``url_verification``, GitHub ``ping``)."""

    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain"


@dataclass(frozen=True)
class WebhookSpec:
    """How a connector receives webhooks.

    - ``verifier(settings)`` builds the verifier from the connector's
      settings section, or returns None when no secret is configured (the
      route then answers 404: nothing unverified is ever accepted);
    - ``normalize(body, headers, received_at, verified)`` turns a verified
      delivery into one or more Events (a SendGrid batch is many), raising
      :class:`MalformedPayload` for a body it cannot read (see
      :class:`Normalize`);
    - ``handshake(body, headers)`` answers provider handshakes, after
      verification, before normalization;
    - ``max_body_bytes`` (413 above it) and ``ack_deadline_s``: how long the
      ingest server waits for Kafka before answering 503, kept below the
      provider's own timeout;
    - ``content_encodings``: the ``Content-Encoding`` s the provider sends
      besides identity (``gzip``, ``deflate``); any other is answered 415.
      The signature is checked over the bytes as received, and only a
      verified body is decoded (bounded by ``max_body_bytes``, 413 above it,
      400 if it does not decode).
    """

    verifier: Callable[[Any], Verifier | None]
    normalize: Normalize
    handshake: Callable[[bytes, Mapping[str, str]], HandshakeReply | None] = (
        lambda _body, _headers: None
    )
    max_body_bytes: int = MiB
    ack_deadline_s: float = 4.0
    content_encodings: frozenset[str] = frozenset()


class ConnectorSettings(BaseModel):
    """Base of a connector's settings section (``SWITCHBOARD_<NAME>__...``)."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


class CommandParams(BaseModel):
    """Base of a command's ``params`` model: unknown fields are an error.

    A subclass declares the provider call it makes, either with an
    :class:`~core.apicall.Endpoint` in ``endpoint`` or by overriding
    :meth:`api_call` (which must not do I/O and raises FatalRequestError
    for params it cannot express).
    """

    model_config = ConfigDict(extra="forbid")
    endpoint: ClassVar[Endpoint | None] = None

    def api_call(self, ctx: CallContext) -> ApiCall:
        """The request this command makes (without idempotency key: see ClientSetup)."""
        if self.endpoint is None:
            raise NotImplementedError(f"{type(self).__name__} declares no endpoint")
        return self.endpoint.build(self, ctx)


@dataclass(frozen=True)
class Connector:
    """A provider integration as the rest of Switchboard sees it.

    ``commands`` maps the command name without the connector prefix
    (``customers.create``) to the model validating its ``params``;
    ``sandbox`` makes the connector's local fake provider (a
    ``core.testing.Sandbox``), served by ``switchboard sandbox <name>``;
    ``api(settings)`` gives the :class:`~core.apicall.ClientSetup` its
    commands run with, raising :class:`~core.errors.PolicyError` naming a
    missing setting (called when a sink starts, never at import).

    ``polls(settings)`` lists the :class:`~core.poll.PollStream` s the
    configured section can poll (none when e.g. no repository is set); each
    runs through ``api(settings).client(low_priority=...)``.

    Running a command (what the sink does)::

        setup = connector.api(section)          # once per connector
        client = setup.client()                 # shared by all its commands
        params = connector.commands[name].model_validate(command.params)
        result = await run_command(setup, client, params,
                                   CallContext(command.id, section))
    """

    name: str
    settings: type[ConnectorSettings] = ConnectorSettings
    commands: Mapping[str, type[CommandParams]] = field(default_factory=dict)
    webhook: WebhookSpec | None = None
    sandbox: Callable[[], Any] | None = None
    description: str = ""
    api: Callable[[Any], ClientSetup] | None = None
    polls: Callable[[Any], Sequence[PollStream]] | None = None

    def command_types(self) -> list[str]:
        return sorted(f"{self.name}.{cmd}" for cmd in self.commands)
