"""Every paginator over the sandbox's real HTTP routes, and the driver's safety stops."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

import core.pagination
from core.client import ClientPolicy, ProviderClient
from core.errors import GraphQLError, PolicyError
from core.graphql import GraphQLClient
from core.pagination import (
    CursorPaginator,
    Fetch,
    GraphQLPaginator,
    LinkHeaderPaginator,
    NextUrlPaginator,
    OffsetPaginator,
    Page,
    PageNumberPaginator,
    PageRequest,
    PageResponse,
    PaginationError,
    Paginator,
    client_fetcher,
    graphql_fetcher,
    httpx_fetcher,
    paginate,
    paginate_records,
)
from core.testing import DemoSandbox

ALL_IDS = list(range(1, 96))  # the demo dataset "items" holds 95 records
QUERY = "query($first: Int, $after: String) { items(first: $first, after: $after) { nodes { id } pageInfo { hasNextPage endCursor } } }"  # noqa: E501


@pytest.fixture
async def sandbox() -> AsyncIterator[DemoSandbox]:
    async with DemoSandbox() as sb:
        yield sb


@pytest.fixture
async def http(sandbox: DemoSandbox) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sandbox.url, timeout=5) as client:
        yield client


def schemes(http: httpx.AsyncClient) -> dict[str, tuple[Fetch, Paginator]]:
    base = "/datasets/items"
    return {
        "page": (
            httpx_fetcher(http, f"{base}/page"),
            PageNumberPaginator(size=10, total_pages_path="total_pages"),
        ),
        "page-next-field": (
            httpx_fetcher(http, f"{base}/page"),
            PageNumberPaginator(size=10, next_page_path="next_page"),
        ),
        "offset": (
            httpx_fetcher(http, f"{base}/offset"),
            OffsetPaginator(limit=10, has_more_path="has_more"),
        ),
        "cursor": (httpx_fetcher(http, f"{base}/cursor"), CursorPaginator(limit=10)),
        "link": (
            httpx_fetcher(http, f"{base}/link", params={"per_page": 10}),
            LinkHeaderPaginator(),
        ),
        "next-url": (
            httpx_fetcher(http, f"{base}/next-url", params={"PageSize": 10}),
            NextUrlPaginator(),
        ),
        "graphql": (
            httpx_fetcher(http, f"{base}/graphql", graphql=QUERY),
            GraphQLPaginator("items", size=10),
        ),
    }


async def collect(fetch: Fetch, paginator: Paginator, **kwargs: Any) -> list[Page]:
    return [page async for page in paginate(fetch, paginator, **kwargs)]


def test_public_surface() -> None:
    assert sorted(core.pagination.__all__) == sorted(
        [
            "CursorPaginator", "Fetch", "GraphQLPaginator", "LinkHeaderPaginator",
            "NextUrlPaginator", "OffsetPaginator", "Page", "PageNumberPaginator", "PageRequest",
            "PageResponse", "PaginationError", "Paginator", "RecordsPath", "check_origin",
            "client_fetcher", "dig", "graphql_fetcher", "httpx_fetcher", "paginate",
            "paginate_records",
        ]
    )  # fmt: skip
    assert all(hasattr(core.pagination, name) for name in core.pagination.__all__)
    assert issubclass(PaginationError, core.errors.BadResponseError)


@pytest.mark.parametrize(
    "scheme", ["page", "page-next-field", "offset", "cursor", "link", "next-url", "graphql"]
)
async def test_each_scheme_reads_every_record_once(
    sandbox: DemoSandbox, http: httpx.AsyncClient, scheme: str
) -> None:
    fetch, paginator = schemes(http)[scheme]
    pages = await collect(fetch, paginator)
    assert [r["id"] for p in pages for r in p.records] == ALL_IDS
    assert [p.number for p in pages] == list(range(1, 11))
    assert pages[-1].next is None
    assert all(p.next is not None for p in pages[:-1])
    assert len(sandbox.requests) == 10  # no extra request after the last page


@pytest.mark.parametrize(
    ("scheme", "good_pages"),
    # the page-number scheme sends page=1 explicitly, so the sandbox repeats at once
    [("page-next-field", 1), ("cursor", 2), ("link", 2), ("next-url", 2), ("graphql", 2)],
)
async def test_repeated_token_is_an_error_not_a_loop(
    sandbox: DemoSandbox, http: httpx.AsyncClient, scheme: str, good_pages: int
) -> None:
    sandbox.repeat_cursor = True
    fetch, paginator = schemes(http)[scheme]
    pages: list[Page] = []
    with pytest.raises(PaginationError, match="already fetched"):
        await drain(paginate(fetch, paginator), pages)
    assert len(pages) == good_pages  # the good pages were delivered before the stop
    assert len(sandbox.requests) == good_pages


async def drain(pages: AsyncIterator[Page], into: list[Page]) -> None:
    async for page in pages:
        into.append(page)


async def test_page_cap_stops_with_an_error(sandbox: DemoSandbox, http: httpx.AsyncClient) -> None:
    fetch, paginator = schemes(http)["cursor"]
    with pytest.raises(PaginationError, match="max_pages=3"):
        await collect(fetch, paginator, max_pages=3)
    assert len(sandbox.requests) == 3
    exactly = await collect(fetch, CursorPaginator(limit=50), max_pages=2)
    assert len(exactly) == 2  # two pages are allowed when there are exactly two
    with pytest.raises(PolicyError):
        await collect(fetch, paginator, max_pages=0)


async def test_resume_from_a_saved_next_request(http: httpx.AsyncClient) -> None:
    fetch, paginator = schemes(http)["cursor"]
    first = await anext(paginate(fetch, paginator))
    assert first.next is not None
    rest = [r["id"] async for r in paginate_records(fetch, paginator, start=first.next)]
    assert rest == ALL_IDS[10:]


async def test_with_the_provider_client(sandbox: DemoSandbox) -> None:
    policy = ClientPolicy(connector="demo", base_url=sandbox.url)
    async with ProviderClient(policy) as client:
        link = client_fetcher(client, "/datasets/items/link", params={"per_page": 20})
        ids = [r["id"] async for r in paginate_records(link, LinkHeaderPaginator())]
        cursor = client_fetcher(client, "/datasets/items/cursor")
        more = [r["id"] async for r in paginate_records(cursor, CursorPaginator(limit=30))]
    assert ids == more == ALL_IDS
    assert sandbox.requests_to("/datasets/items/link")[1].query_param("page") == "2"


async def test_with_the_graphql_client(sandbox: DemoSandbox) -> None:
    policy = ClientPolicy(connector="demo", base_url=sandbox.url)
    async with ProviderClient(policy) as client:
        gql = GraphQLClient(client, "/datasets/items/graphql")
        fetch = graphql_fetcher(gql.execute, QUERY)
        pages = [p async for p in paginate(fetch, GraphQLPaginator("items", size=40))]
    assert [r["id"] for p in pages for r in p.records] == ALL_IDS
    assert [r.json()["variables"].get("after") is None for r in sandbox.requests] == [
        True,
        False,
        False,
    ]


async def test_graphql_page_with_errors_is_not_silently_short() -> None:
    class Result:
        def __init__(self, data: Any, errors: list[Any]) -> None:
            self.data, self.errors = data, errors

        def raise_for_errors(self) -> None:
            if self.errors:
                raise GraphQLError("partial", errors=self.errors, data=self.data)

    async def execute(document: str, variables: dict[str, Any]) -> Result:
        connection = {"nodes": [1], "pageInfo": {"hasNextPage": False}}
        return Result({"items": connection}, [{"message": "one node failed"}])

    with pytest.raises(GraphQLError):
        await collect(graphql_fetcher(execute, QUERY), GraphQLPaginator("items"))
    lenient = graphql_fetcher(execute, QUERY, allow_partial=True)
    assert [p.records for p in await collect(lenient, GraphQLPaginator("items"))] == [[1]]


# --- the driver on hand-made pages (boundary fakes, no HTTP needed) -------------------


def static_fetch(pages: dict[Any, PageResponse], key: str) -> Fetch:
    async def fetch(request: PageRequest) -> PageResponse:
        return pages[request.url if key == "url" else request.params.get(key)]

    return fetch


async def test_next_link_to_another_origin_is_refused() -> None:
    first = PageResponse(
        [{"id": 1}],
        {"Link": '<https://evil.example/steal?page=2>; rel="next"'},
        "https://api.example/items",
    )
    fetch = static_fetch({None: first}, "url")
    with pytest.raises(PaginationError, match="another origin"):
        await collect(fetch, LinkHeaderPaginator())


async def test_cycle_over_several_pages_is_caught() -> None:
    pages = {
        None: PageResponse({"data": [1], "next": "b"}),
        "b": PageResponse({"data": [2], "next": "c"}),
        "c": PageResponse({"data": [3], "next": "b"}),
    }
    paginator = CursorPaginator(cursor_path="next", limit_param=None)
    with pytest.raises(PaginationError):
        await collect(static_fetch(pages, "cursor"), paginator)


async def test_last_record_cursor_and_has_more() -> None:
    data = [{"id": f"obj_{i}"} for i in range(7)]

    async def fetch(request: PageRequest) -> PageResponse:
        after = request.params.get("starting_after")
        start = 0 if after is None else [d["id"] for d in data].index(after) + 1
        chunk = data[start : start + 3]
        return PageResponse({"data": chunk, "has_more": start + 3 < len(data)})

    paginator = CursorPaginator(
        cursor_param="starting_after",
        cursor_path=None,
        last_record_field="id",
        has_more_path="has_more",
        limit=3,
    )
    assert [r async for r in paginate_records(fetch, paginator)] == data


async def test_malformed_pages_raise_pagination_errors() -> None:
    not_a_list = static_fetch({None: PageResponse({"data": {"id": 1}})}, "cursor")
    with pytest.raises(PaginationError, match="not a list"):
        await collect(not_a_list, CursorPaginator())
    no_cursor = static_fetch(
        {None: PageResponse({"items": {"nodes": [1], "pageInfo": {"hasNextPage": True}}})},
        "after",
    )
    with pytest.raises(PaginationError, match="endCursor"):
        await collect(no_cursor, GraphQLPaginator("items"))
    edges = static_fetch(
        {None: PageResponse({"items": {"edges": [{"node": 1}, {"node": 2}], "pageInfo": {}}})},
        "after",
    )
    assert [p.records for p in await collect(edges, GraphQLPaginator("items"))] == [[1, 2]]


def test_invalid_paginator_settings_name_the_setting() -> None:
    with pytest.raises(PolicyError) as err:
        OffsetPaginator(limit=0)
    assert err.value.setting == "limit"
    with pytest.raises(PolicyError) as err:
        CursorPaginator(cursor_path="next", last_record_field="id")
    assert err.value.setting == "cursor_path"
