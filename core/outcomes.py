"""What a command's run came to: one Result (and one ErrorInfo) builder.

Every Result a command gets -- succeeded, failed at the provider, refused
before a call, expired, outcome unknown -- is made by :func:`command_result`,
so the sink, the test runner and anything else that runs commands answer
alike. :func:`failure_reason` names why a failed command failed; those
names are the dead-letter reasons (:data:`FAILURE_REASONS`) that
``switchboard dlq --reason`` filters on.
"""

from __future__ import annotations

from core import errors as e
from core.apicall import CallResult
from core.envelopes import ErrorInfo, Result, Timings
from core.redaction import redact_text

__all__ = [
    "FAILURE_REASONS",
    "CommandExpired",
    "OutcomeUnknown",
    "command_result",
    "error_info",
    "failure_reason",
]

#: every reason a command is dead-lettered with
FAILURE_REASONS = (
    "invalid_command",
    "fatal_request",
    "retries_exhausted",
    "bad_response",
    "internal_error",
    "outcome_unknown",
)


class CommandExpired(e.SwitchboardError):
    """Past its ``expires_at``: not sent (a failed Result, no DLQ record)."""

    code = "expired"
    default_retryable = False


class OutcomeUnknown(e.SwitchboardError):
    """A ledger command whose worker died during the call: not sent again."""

    code = "outcome_unknown"
    default_retryable = False


def failure_reason(exc: e.SwitchboardError) -> str:
    """The dead-letter reason of a provider call that raised ``exc``."""
    if isinstance(exc, e.InvalidParamsError):  # params no request can be built from
        return "invalid_command"
    if isinstance(exc, e.FatalRequestError):
        return "fatal_request"
    if isinstance(exc, e.BadResponseError) and not exc.retryable:
        return "bad_response"
    if exc.retryable:
        return "retries_exhausted"
    return "fatal_request"


def error_info(exc: BaseException, reason: str) -> ErrorInfo:
    """The Result's ``error`` for ``exc``: its own code, else ``reason``; never a secret."""
    if isinstance(exc, e.SwitchboardError):
        info = exc.to_error_info()
        return info if info.code != "error" else info.model_copy(update={"code": reason})
    return ErrorInfo(code=reason, message=redact_text(str(exc))[:500] or type(exc).__name__)


def command_result(
    command_id: str,
    command_type: str,
    timings: Timings,
    outcome: CallResult | BaseException,
    reason: str | None = None,
    *,
    api_version: str | None = None,
) -> Result:
    """The one Result of a command: ``outcome`` is the provider's answer or
    what stopped the command (``reason`` names it, see :func:`failure_reason`;
    by default the error's own code)."""
    if isinstance(outcome, CallResult):
        return Result(
            command_id=command_id,
            type=command_type,
            status="succeeded",
            attempts=outcome.attempts,
            http_status=outcome.status,
            response=outcome.data,
            timings=timings,
            api_version=api_version,
        )
    code = reason or (outcome.code if isinstance(outcome, e.SwitchboardError) else "error")
    return Result(
        command_id=command_id,
        type=command_type,
        status="failed",
        attempts=getattr(outcome, "attempts", 0) or 0,
        http_status=getattr(outcome, "status", None),
        error=error_info(outcome, code),
        timings=timings,
        api_version=api_version,
    )
