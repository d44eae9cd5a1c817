"""What a connector declares about itself.

A connector package (``connectors/<name>``) exposes one :class:`Connector`
and registers it under the ``switchboard.connectors`` entry-point group.
Core and streams only ever see this object, never a provider's module.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Generic, Protocol

from pydantic import BaseModel, ConfigDict, model_validator
from typing_extensions import TypeVar

from core.apicall import ApiCall, CallContext, ClientSetup, Endpoint, Idempotency
from core.envelopes import Event
from core.lookup import SentLookup
from core.poll import PollStream
from core.webhooks import Verified, Verifier, WebhookScheme

__all__ = [
    "ApiCall",
    "CallContext",
    "ClientSetup",
    "CommandParams",
    "Connector",
    "ConnectorSettings",
    "Endpoint",
    "EventPayloads",
    "HandshakeReply",
    "MalformedPayload",
    "Normalize",
    "PollStream",
    "SandboxFactory",
    "WebhookSpec",
    "unknown_type_message",
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


class EventPayloads(Protocol):
    """The described payloads of a connector's Events (``core.catalog.EventSchemas``)."""

    @property
    def names(self) -> frozenset[str]: ...

    def uri(self, event_type: str) -> str | None: ...

    def schema(self, name: str) -> dict[str, Any]: ...


@dataclass(frozen=True)
class HandshakeReply:
    """A provider handshake answered without producing anything
    (a URL-verification challenge, a ping)."""

    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain"


class ConnectorSettings(BaseModel):
    """Base of a connector's settings section (``SWITCHBOARD_<NAME>__...``).

    ``follow_base_url`` names the URL settings of the provider's other hosts
    (some operations are served from one of their own): each one not set
    explicitly takes the value of ``base_url`` when that is not its default,
    so a section pointed at a mock or a proxy sends every call there.
    """

    model_config = ConfigDict(extra="forbid", validate_default=True)
    follow_base_url: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="after")
    def _hosts_follow_base_url(self) -> ConnectorSettings:
        if not self.follow_base_url:
            return self
        base = getattr(self, "base_url")  # noqa: B009 (declared by the subclass)
        if str(base) == str(type(self).model_fields["base_url"].default):
            return self
        for name in self.follow_base_url:
            if name not in self.model_fields_set:
                self.__dict__[name] = base  # still not set explicitly (a dump shows the user's)
        return self


S = TypeVar("S", bound=ConnectorSettings, default=Any)
"""A connector's settings type, which its factories (scheme, api, polls) take
(``Any`` where the connector is not known, e.g. from the registry)."""


def _no_handshake(_body: bytes, _headers: Mapping[str, str]) -> HandshakeReply | None:
    return None


@dataclass(frozen=True)
class WebhookSpec(Generic[S]):
    """How a connector receives webhooks.

    - ``scheme(settings)`` gives the signature scheme's settings (a
      :class:`~core.webhooks.WebhookScheme`, e.g. the connector's own
      ``<Name>WebhookSettings``) from the connector's section, or None when
      no secret is configured (the route then answers 404: nothing
      unverified is ever accepted); :meth:`verifier` builds from it;
    - ``normalize(body, headers, received_at, verified)`` turns a verified
      delivery into one or more Events (a batch is many), raising
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

    scheme: Callable[[S], WebhookScheme | None]
    normalize: Normalize
    handshake: Callable[[bytes, Mapping[str, str]], HandshakeReply | None] = _no_handshake
    max_body_bytes: int = MiB
    ack_deadline_s: float = 4.0
    content_encodings: frozenset[str] = frozenset()

    def verifier(self, settings: S) -> Verifier | None:
        """The verifier for this section, or None when it configures no secret."""
        scheme = self.scheme(settings)
        return None if scheme is None else scheme.build()


class CommandParams(BaseModel):
    """Base of a command's ``params`` model: unknown fields are an error.

    A subclass declares the provider call it makes, either with an
    :class:`~core.apicall.Endpoint` in ``endpoint`` or by overriding
    :meth:`api_call` (which must not do I/O and raises FatalRequestError
    for params it cannot express). ``sent_lookup`` finds its call at the
    provider after a crash, where the provider keeps the command id
    (:mod:`core.lookup`; None: it cannot be found).
    """

    model_config = ConfigDict(extra="forbid")
    endpoint: ClassVar[Endpoint | None] = None
    sent_lookup: ClassVar[SentLookup | None] = None

    @classmethod
    def api_version(cls) -> str | None:
        """The API version this command's call pins by itself (None: the connector's)."""
        return None

    @classmethod
    def http_method(cls) -> str | None:
        """The HTTP method the command's call uses, when it is declared
        (None: a call built by ``api_call`` that the sink treats as a write)."""
        return cls.endpoint.method.upper() if cls.endpoint is not None else None

    def api_call(self, ctx: CallContext) -> ApiCall:
        """The request this command makes (without idempotency key: see ClientSetup)."""
        if self.endpoint is None:
            raise NotImplementedError(f"{type(self).__name__} declares no endpoint")
        return self.endpoint.build(self, ctx)


SB = TypeVar("SB", default=Any)
"""A connector's sandbox type (``Any`` where the connector is not known)."""
SB_co = TypeVar("SB_co", covariant=True, default=Any)


class SandboxFactory(Protocol[SB_co]):
    """Makes a connector's local fake provider (not started: ``async with`` it)."""

    def __call__(self, **kwargs: Any) -> SB_co: ...


_BASE_SETTINGS: Any = ConnectorSettings  # the default of ``Connector.settings``, whatever S is


def _no_polls(_settings: Any) -> Sequence[PollStream]:
    return ()


@dataclass(frozen=True)
class Connector(Generic[S, SB]):
    """A provider integration as the rest of Switchboard sees it.

    Generic over its settings type ``S`` and its sandbox type ``SB``:
    ``settings`` is the section's model, every factory below takes that
    section, and ``sandbox`` makes an ``SB``, so a connector's
    ``Connector[AcmeSettings, AcmeSandbox]`` is checked end to end.

    ``commands`` maps the command name without the connector prefix
    (``customers.create``) to the model validating its ``params``;
    ``sandbox`` makes the connector's local fake provider (a
    ``core.testing.Sandbox``), served by ``switchboard sandbox <name>``
    (:meth:`new_sandbox` when the caller knows there is one);
    ``api(settings)`` gives the :class:`~core.apicall.ClientSetup` its
    commands run with, raising :class:`~core.errors.PolicyError` naming a
    missing setting (called when a sink starts, never at import).

    ``polls(settings)`` lists the :class:`~core.poll.PollStream` s the
    configured section can poll (none when e.g. no repository is set, or
    the connector polls nothing); each runs through
    ``api(settings).client(low_priority=...)``. ``events`` are the
    described payloads of its Events (their ``dataschema``), if any.

    Running a command (what the sink does)::

        setup = connector.api(section)          # once per connector
        client = setup.client()                 # shared by all its commands
        params = connector.commands[name].model_validate(command.params)
        result = await run_command(setup, client, params,
                                   CallContext(command.id, section))
    """

    name: str
    settings: type[S] = _BASE_SETTINGS
    commands: Mapping[str, type[CommandParams]] = field(default_factory=dict)
    webhook: WebhookSpec[S] | None = None
    sandbox: SandboxFactory[SB] | None = None
    description: str = ""
    api: Callable[[S], ClientSetup] | None = None
    polls: Callable[[S], Sequence[PollStream]] = _no_polls
    events: EventPayloads | None = None
    idempotency: Idempotency = "ledger"

    def command_types(self) -> list[str]:
        return sorted(f"{self.name}.{cmd}" for cmd in self.commands)

    def new_sandbox(self, **kwargs: Any) -> SB:
        """The connector's sandbox; LookupError when it has none."""
        if self.sandbox is None:
            raise LookupError(f"connector {self.name!r} has no sandbox")
        return self.sandbox(**kwargs)


def unknown_type_message(command_type: str, known: Iterable[str]) -> str:
    """One line for an unknown ``command_type``: the closest known types and
    where the whole list is."""
    names = sorted(known)
    near = difflib.get_close_matches(command_type, names, n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(near)}? " if near else ""
    connector = command_type.partition(".")[0]
    scoped = [n for n in names if n.startswith(f"{connector}.")]
    where = f"switchboard commands list {connector}" if scoped else "switchboard commands list"
    count = len(scoped or names)
    return f"unknown command type {command_type!r}; {hint}`{where}` lists the {count} known types"
