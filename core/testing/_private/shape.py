"""What the control routes and the runners need from a sandbox, as protocols.

:mod:`core.testing.sandbox` builds on :mod:`.control` and :mod:`.running`;
naming :class:`~core.testing.Sandbox` back from them would close an import
circle. They depend on these shapes instead, which ``Sandbox`` has.
"""

from __future__ import annotations

from typing import Protocol

from core.testing._private.faults import Fault, FaultPlan, ServerTokenBucket
from core.testing._private.records import IdempotencyStore, RecordedRequest, RequestLog

__all__ = ["ControlledSandbox", "ServedSandbox"]


class ControlledSandbox(Protocol):
    """A sandbox as ``/_sandbox/...`` drives it (faults, latency, rate, records)."""

    switches: frozenset[str]

    @property
    def faults(self) -> FaultPlan: ...

    @property
    def log(self) -> RequestLog: ...

    @property
    def idempotency(self) -> IdempotencyStore: ...

    @property
    def latency(self) -> float: ...

    @property
    def rate(self) -> ServerTokenBucket | None: ...

    @property
    def requests(self) -> list[RecordedRequest]: ...

    def add_fault(self, fault: Fault) -> Fault: ...

    def clear_faults(self) -> None: ...

    def set_latency(self, seconds: float) -> None: ...

    def enforce_rate(
        self,
        rate: float,
        burst: float | None = None,
        *,
        announce: bool = True,
        fractional_retry_after: bool = False,
    ) -> ServerTokenBucket: ...

    def clear_rate(self) -> None: ...

    def total_side_effects(self) -> int: ...

    def side_effect_counts(self) -> dict[str, int]: ...

    def reset(self) -> None: ...


class ServedSandbox(Protocol):
    """A sandbox as a runner serves it: bound to ``host``/``port``, started, stopped."""

    host: str
    port: int

    async def start(self) -> str: ...

    async def stop(self) -> None: ...
