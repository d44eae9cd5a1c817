"""GraphQL over the provider client against a sandbox GraphQL endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

import core.graphql
from core import errors as e
from core.client import ClientPolicy, ProviderClient
from core.graphql import GraphQLClient
from core.observability import Metrics
from core.ratelimit import BudgetRegistry, RatePolicy
from core.retry import RetryPolicy
from core.testing import Sandbox
from tests.fakeclock import FakeClock


class GraphQLSandbox(Sandbox):
    """Answers /graphql with the next queued body (or a default success),
    each with Shopify-style cost extensions. No idempotency-key replay: the
    test checks what the client retries, not what the server stores."""

    idempotent_methods: frozenset[str] = frozenset()

    def __init__(self) -> None:
        super().__init__()
        self.answers: list[Any] = []
        self.available = 1000.0
        self.documents: list[dict[str, Any]] = []

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/graphql", self._graphql)

    def cost(self, requested: float = 10) -> dict[str, Any]:
        return {
            "cost": {
                "requestedQueryCost": requested,
                "actualQueryCost": requested,
                "throttleStatus": {
                    "maximumAvailable": 1000.0,
                    "currentlyAvailable": self.available,
                    "restoreRate": 50.0,
                },
            }
        }

    async def _graphql(self, request: web.Request) -> web.Response:
        self.documents.append(orjson.loads(await request.read()))
        answer = self.answers.pop(0) if self.answers else {"data": {"shop": {"name": "demo"}}}
        if isinstance(answer, bytes):
            return web.Response(body=answer, content_type="text/plain")
        if isinstance(answer, dict) and "extensions" not in answer:
            answer = {**answer, "extensions": self.cost()}
        return web.Response(body=orjson.dumps(answer), content_type="application/json")


@pytest.fixture
async def sandbox() -> AsyncIterator[GraphQLSandbox]:
    async with GraphQLSandbox() as sb:
        yield sb


@pytest.fixture
async def gql(sandbox: GraphQLSandbox) -> AsyncIterator[Callable[..., GraphQLClient]]:
    clients: list[ProviderClient] = []

    def make(**kwargs: Any) -> GraphQLClient:
        clock = FakeClock()
        client = ProviderClient(
            ClientPolicy(
                connector="shopify",
                base_url=sandbox.url,
                retry=RetryPolicy(backoff=False, attempts=3),
                rate=RatePolicy(rate=1000),
            ),
            budgets=BudgetRegistry(clock=clock, sleep=clock.sleep),  # waits take no time
            metrics=Metrics(CollectorRegistry()),
            sleep=clock.sleep,
        )
        clients.append(client)
        return GraphQLClient(client, **kwargs)

    yield make
    for client in clients:
        await client.aclose()


def test_public_surface() -> None:
    assert set(core.graphql.__all__) == {"GraphQLClient", "GraphQLClients", "GraphQLResult"}


async def test_query_and_variables(
    sandbox: GraphQLSandbox, gql: Callable[..., GraphQLClient]
) -> None:
    result = await gql().execute(
        "query Shop($id: ID!) { shop { name } }", {"id": "1"}, operation_name="Shop"
    )
    assert result.data == {"shop": {"name": "demo"}}
    assert not result.partial
    assert sandbox.documents[0]["variables"] == {"id": "1"}
    assert sandbox.documents[0]["operationName"] == "Shop"


async def test_partial_data_is_reported(
    sandbox: GraphQLSandbox, gql: Callable[..., GraphQLClient], caplog: pytest.LogCaptureFixture
) -> None:
    sandbox.answers.append(
        {
            "data": {"shop": {"name": "demo", "orders": None}},
            "errors": [{"message": "orders: denied"}],
        }
    )
    result = await gql().execute("{ shop { name orders { id } } }")
    assert result.partial
    assert result.data["shop"]["name"] == "demo"
    assert result.errors[0]["message"] == "orders: denied"
    assert any(getattr(r, "event", "") == "graphql.partial" for r in caplog.records)
    with pytest.raises(e.GraphQLError) as info:
        result.raise_for_errors()
    assert info.value.data == result.data


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("UNAUTHENTICATED", e.FatalConfigError),
        ("ACCESS_DENIED", e.FatalConfigError),
        ("BAD_USER_INPUT", e.GraphQLError),
        (None, e.GraphQLError),
    ],
)
async def test_errors_without_data_map_into_the_tree(
    sandbox: GraphQLSandbox,
    gql: Callable[..., GraphQLClient],
    code: str | None,
    cls: type[e.SwitchboardError],
) -> None:
    error: dict[str, Any] = {"message": "nope"}
    if code:
        error["extensions"] = {"code": code}
    sandbox.answers.append({"data": None, "errors": [error]})
    with pytest.raises(cls) as info:
        await gql().execute("{ shop { name } }")
    assert info.value.provider_code == code
    assert info.value.attempts == 1
    assert isinstance(info.value, e.FatalRequestError | e.FatalConfigError)


async def test_internal_error_is_retried(
    sandbox: GraphQLSandbox, gql: Callable[..., GraphQLClient]
) -> None:
    sandbox.answers.append(
        {"errors": [{"message": "x", "extensions": {"code": "INTERNAL_SERVER_ERROR"}}]}
    )
    result = await gql().execute("{ shop { name } }")
    assert result.data is not None
    assert len(sandbox.documents) == 2


async def test_throttled_query_waits_for_cost_and_retries(
    sandbox: GraphQLSandbox, gql: Callable[..., GraphQLClient]
) -> None:
    client = gql(default_cost=10)
    sandbox.available = 5
    throttled = {
        "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
        "extensions": sandbox.cost(requested=100),
    }
    sandbox.answers.append(throttled)
    result = await client.execute("{ orders(first: 50) { id } }")
    assert result.data is not None
    assert len(sandbox.documents) == 2
    budget = client.client.budget
    assert budget is not None
    # The points bucket now mirrors the sandbox: 5 available, 50/s restore, 1000 at most.
    assert await budget.acquire_points(55) == pytest.approx(1.0)  # 50 missing at 50/s
    assert await budget.acquire_points(5000) == pytest.approx(20.0)  # empty to full: 1000


async def test_mutation_without_key_is_not_retried_with_key_it_is(
    sandbox: GraphQLSandbox, gql: Callable[..., GraphQLClient]
) -> None:
    err = {"errors": [{"message": "x", "extensions": {"code": "INTERNAL_SERVER_ERROR"}}]}
    client = gql()
    sandbox.answers.append(dict(err))
    with pytest.raises(e.ServerError):
        await client.execute("mutation { orderClose(id: 1) { id } }")
    assert len(sandbox.documents) == 1
    sandbox.answers.append(dict(err))
    result = await client.execute("mutation { orderClose(id: 1) { id } }", idempotency_key="cmd-9")
    assert result.data is not None
    assert len(sandbox.documents) == 3


@pytest.mark.parametrize("body", [b"<html>oops</html>", [1, 2], {"unexpected": True}])
async def test_bad_bodies_are_errors_not_crashes(
    sandbox: GraphQLSandbox, gql: Callable[..., GraphQLClient], body: Any
) -> None:
    sandbox.answers.append(body)
    with pytest.raises(e.InvalidBodyError):
        await gql().execute("{ shop { name } }")


def test_invalid_default_cost() -> None:
    with pytest.raises(e.PolicyError) as info:
        GraphQLClient(None, default_cost=0)  # type: ignore[arg-type]
    assert info.value.setting == "default_cost"
