"""Finding, after the fact, a call that may have reached its provider.

A command for a provider without idempotency keys gets a ``started``
marker before its call (see ``streams.sink``). When its worker dies during
the call, the next owner finds the marker without a Result: the provider
may or may not have acted. Where the provider keeps something the call
carried -- the command id in a hidden marker of the text it created, in
message metadata -- the command's params model declares a
:data:`SentLookup` in its ``sent_lookup`` class attribute, and the sink
asks it before answering ``outcome_unknown``:

- a :class:`~core.apicall.CallResult` (what the call would have answered,
  the resource found): the command succeeded, answered from the lookup;
- ``None``: not found. Provider lists are eventually consistent, so this
  does not prove the call was never made: the command stays
  ``outcome_unknown`` (never sent a second time);
- a :mod:`core.errors` error: the lookup itself failed; the same.

A lookup only reads (``ctx.send`` is the connector's client, with its
budget, retries and breaker) and must be bounded (a few pages).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from core.apicall import ApiCall, CallResult

__all__ = ["LookupContext", "SentLookup"]


@dataclass(frozen=True)
class LookupContext:
    """What a lookup may use: the command id the call carried, a time the
    call was certainly not sent before (clock skew allowed for), a way to
    send read calls, and the connector's settings section."""

    command_id: str
    since: datetime
    send: Callable[[ApiCall], Awaitable[CallResult]]
    settings: Any = None


class SentLookup(Protocol):
    """``lookup(params, ctx)``: the call of ``params`` found at the provider, or None."""

    async def __call__(self, params: Any, ctx: LookupContext, /) -> CallResult | None: ...
