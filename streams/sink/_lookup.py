"""Before a command is answered ``outcome_unknown``: looking it up at the provider.

The new owner of a commands partition finds a ``started`` marker without a
Result: the worker that made the call died during it. Where the command's
params declare a :data:`~core.lookup.SentLookup` (the provider keeps the
command id the call carried: see :mod:`core.lookup`), :func:`look_up`
asks it first:

- found: the command is answered *succeeded* with what was found, as if
  the call had answered, with ``attempts`` 0 (no call was made for this
  Result: every answered call has at least one attempt), and nothing is
  dead-lettered;
- not found, the lookup failing, or no lookup: ``outcome_unknown`` as
  before (dead-lettered, never sent again). A provider's lists are
  eventually consistent, so "not found" is no proof the call was never
  made, and calling a second time could act twice.

Each outcome is counted in ``switchboard_sink_lookups_total``.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime

from core.apicall import ApiCall, CallResult
from core.connector import CommandParams
from core.executor import CommandExecutor
from core.lookup import LookupContext
from core.outcomes import OutcomeUnknown
from core.redaction import redact_text

from ._metrics import LOOKUPS, log

__all__ = ["CLOCK_SKEW_S", "look_up"]

#: the provider's clock may be behind ours: look this far before the marker
CLOCK_SKEW_S = 300.0

_UNKNOWN = (
    "the worker running this command stopped during the call; the provider "
    "may or may not have acted, so it is not sent again (replay it to send it)"
)


async def look_up(
    executor: CommandExecutor, params: CommandParams, command_id: str, started: float | None
) -> CallResult | OutcomeUnknown:
    """The call of ``command_id`` (marked started at ``started``, epoch s)
    found at the provider, else the :class:`OutcomeUnknown` to answer."""
    name = executor.connector.name
    find = type(params).sent_lookup
    if find is None:
        LOOKUPS.labels(name, "unsupported").inc()
        return OutcomeUnknown(_UNKNOWN)
    since = datetime.fromtimestamp((started or time.time()) - CLOCK_SKEW_S, UTC)

    async def send(call: ApiCall) -> CallResult:
        return await executor.send(call, command_id)

    ctx = LookupContext(command_id, since, send, executor.section)
    try:
        found = await find(params, ctx)
    except Exception as exc:  # a failed lookup answers unknown, as without one
        LOOKUPS.labels(name, "error").inc()
        detail = redact_text(str(exc))[:200] or type(exc).__name__
        log.warning("sink %s: looking %s up failed (%s)", name, command_id, detail)
        return OutcomeUnknown(f"{_UNKNOWN}; looking it up at the provider failed: {detail}")
    if found is None:
        LOOKUPS.labels(name, "not_found").inc()
        return OutcomeUnknown(f"{_UNKNOWN}; not found at the provider (whose lists may lag)")
    LOOKUPS.labels(name, "found").inc()
    log.info("sink %s: %s was started before a crash and found at the provider", name, command_id)
    return replace(found, attempts=0)
