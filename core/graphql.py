"""GraphQL over the provider client (same auth, budget, breaker, retries).

Contracts of :meth:`GraphQLClient.execute`:

- returns a :class:`GraphQLResult`; when the response has ``errors`` *and*
  usable ``data`` the result is *partial* (``result.partial``), the errors
  are logged and kept on the result, and ``raise_for_errors()`` turns them
  into a :class:`~core.errors.GraphQLError` for callers that want that;
- ``errors`` without ``data`` raise, mapped into the tree by
  ``extensions.code``: ``THROTTLED`` -> RateLimitedError (retried after the
  cost-based wait), ``UNAUTHENTICATED``/``FORBIDDEN``/``ACCESS_DENIED`` ->
  FatalConfigError, ``INTERNAL_SERVER_ERROR`` -> ServerError (retried),
  anything else -> GraphQLError (a FatalRequestError: dead-letter);
- a body that is not a JSON object raises InvalidBodyError;
- queries are retried like GETs; a mutation only with an ``idempotency_key``;
- a cost-based API's ``extensions.cost`` feeds the client's budget: each call
  first waits for the points it cost last time (``default_cost`` the first
  time), and ``throttleStatus`` resets the points bucket to what the
  provider reports.

A command executor keeps one :class:`GraphQLClients` beside its
:class:`~core.client.ProviderClient`: the costs it learnt live as long as
that client, and no module-level cache outlives or leaks them.

Cursor pagination (``pageInfo {hasNextPage endCursor}``) is a paginator
strategy in :mod:`core.pagination`; it calls :meth:`execute`.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from core import errors as e
from core.client import ProviderClient, ProviderResponse
from core.observability import log_event
from core.redaction import redact_text

__all__ = ["GraphQLClient", "GraphQLClients", "GraphQLResult"]

log = logging.getLogger("switchboard.graphql")

_CONFIG_CODES = frozenset({"UNAUTHENTICATED", "FORBIDDEN", "ACCESS_DENIED", "UNAUTHORIZED"})
_RETRY_CODES = frozenset({"INTERNAL_SERVER_ERROR", "SERVICE_UNAVAILABLE", "TIMEOUT"})


@dataclass(frozen=True)
class GraphQLResult:
    data: Any
    errors: list[dict[str, Any]] = field(default_factory=list)
    extensions: dict[str, Any] = field(default_factory=dict)
    response: ProviderResponse | None = None

    @property
    def partial(self) -> bool:
        """True when data came back together with errors."""
        return bool(self.errors) and self.data is not None

    def raise_for_errors(self) -> None:
        if self.errors:
            raise e.GraphQLError(
                _summary(self.errors), errors=self.errors, data=self.data, status=200
            )


def _clean_errors(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        return [] if raw is None else [{"message": "malformed errors field"}]
    out: list[dict[str, Any]] = []
    for item in raw[:50]:
        if isinstance(item, dict):
            err = dict(item)
            if "message" in err:
                err["message"] = redact_text(str(err["message"]))
            out.append(err)
        else:
            out.append({"message": redact_text(str(item))})
    return out


def _code(error: dict[str, Any]) -> str | None:
    ext = error.get("extensions")
    code = ext.get("code") if isinstance(ext, dict) else None
    return str(code) if code is not None else None


def _summary(errors: list[dict[str, Any]]) -> str:
    first = errors[0].get("message", "GraphQL error") if errors else "GraphQL error"
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{first}{more}"


class GraphQLClient:
    """Runs GraphQL documents at ``path`` of a :class:`ProviderClient`."""

    def __init__(
        self, client: ProviderClient, path: str = "/graphql", *, default_cost: float = 1.0
    ) -> None:
        if not default_cost > 0:
            raise e.PolicyError("default_cost: must be > 0", setting="default_cost")
        self.client = client
        self.path = path
        self.default_cost = default_cost
        self._costs: dict[str, float] = {}

    async def execute(
        self,
        document: str,
        variables: dict[str, Any] | None = None,
        *,
        operation_name: str | None = None,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> GraphQLResult:
        """Run a query or mutation; see the module docstring for what is raised."""
        key = hashlib.sha256(document.encode()).hexdigest()[:16]
        mutation = document.lstrip().startswith("mutation")
        budget = self.client.budget
        if budget is not None:
            await budget.acquire_points(self._costs.get(key, self.default_cost))
        payload: dict[str, Any] = {"query": document}
        if variables is not None:
            payload["variables"] = variables
        if operation_name is not None:
            payload["operationName"] = operation_name

        def check(resp: ProviderResponse) -> None:
            self._check(resp, key)

        resp = await self.client.request(
            "POST",
            self.path,
            json=payload,
            headers=headers,
            idempotency_key=idempotency_key,
            idempotent=(not mutation) or idempotency_key is not None,
            validate=check,
        )
        body = resp.data
        result = GraphQLResult(
            data=body.get("data"),
            errors=_clean_errors(body.get("errors")),
            extensions=body.get("extensions") or {},
            response=resp,
        )
        if result.partial:
            log_event(
                log,
                logging.WARNING,
                "graphql.partial",
                connector=self.client.connector,
                errors=len(result.errors),
                first=_summary(result.errors),
            )
        return result

    def _check(self, resp: ProviderResponse, key: str) -> None:
        """Runs inside the retry loop: raising a retryable error retries."""
        body = resp.data
        if not isinstance(body, dict) or not ("data" in body or "errors" in body):
            raise e.InvalidBodyError(
                "GraphQL response is not an object with data or errors",
                status=resp.status,
                request_id=resp.request_id,
            )
        extensions = body.get("extensions")
        throttle_wait = self._observe_cost(extensions, key)
        errors = _clean_errors(body.get("errors"))
        if not errors:
            return
        codes = {_code(err) for err in errors}
        common: dict[str, Any] = {
            "status": resp.status,
            "request_id": resp.request_id,
            "provider_message": _summary(errors),
        }
        if "THROTTLED" in codes:
            retry_at = datetime.now(UTC) + timedelta(
                seconds=1.0 if throttle_wait is None else throttle_wait
            )
            raise e.RateLimitedError(
                "GraphQL query throttled", retry_at=retry_at, provider_code="THROTTLED", **common
            )
        if body.get("data") is not None:
            return  # partial data: reported by execute()
        code = next((c for c in codes if c), None)
        if codes & _CONFIG_CODES:
            raise e.FatalConfigError("GraphQL access denied", provider_code=code, **common)
        if codes & _RETRY_CODES:
            raise e.ServerError("GraphQL server error", provider_code=code, **common)
        raise e.GraphQLError(
            "GraphQL request failed", errors=errors, data=None, provider_code=code, **common
        )

    def _observe_cost(self, extensions: Any, key: str) -> float | None:
        """Feed the budget; returns the seconds until the last query's cost is back."""
        if not isinstance(extensions, dict):
            return None
        cost = extensions.get("cost")
        if not isinstance(cost, dict):
            return None
        budget = self.client.budget
        if budget is not None:
            budget.observe_graphql_cost(extensions)
        try:
            requested = float(cost["requestedQueryCost"])
            if math.isfinite(requested) and requested > 0:
                self._costs[key] = requested
            status = cost["throttleStatus"]
            missing = requested - float(status["currentlyAvailable"])
            return max(0.0, missing / float(status["restoreRate"]))
        except (KeyError, TypeError, ValueError, ZeroDivisionError):
            return None


class GraphQLClients:
    """The GraphQL clients over one :class:`ProviderClient`, one per (path,
    default cost), each remembering the cost of the documents it ran.

    Held by whoever holds the ProviderClient, so the learnt costs live and
    die with it.
    """

    def __init__(self, client: ProviderClient) -> None:
        self.client = client
        self._by_path: dict[tuple[str, float], GraphQLClient] = {}

    def at(self, path: str, default_cost: float) -> GraphQLClient:
        """The GraphQL client for documents sent to ``path``."""
        gql = self._by_path.get((path, default_cost))
        if gql is None:
            gql = GraphQLClient(self.client, path, default_cost=default_cost)
            self._by_path[(path, default_cost)] = gql
        return gql
