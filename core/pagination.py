"""Pagination: strategy objects driven by ``async for page in paginate(fetch, paginator)``.

=====================================  ==========================================
scheme                                 strategy
=====================================  ==========================================
``?page=N``                            :class:`PageNumberPaginator`
``?offset=N&limit=M``                  :class:`OffsetPaginator`
cursor in the body / last record id    :class:`CursorPaginator`
``Link: <...>; rel="next"``            :class:`LinkHeaderPaginator`
next URL in the body                   :class:`NextUrlPaginator`
GraphQL ``pageInfo``                   :class:`GraphQLPaginator`
=====================================  ==========================================

The driver knows nothing about HTTP: it calls ``fetch(PageRequest) ->
PageResponse``. Adapters make a fetch from a :class:`core.client.ProviderClient`
(:func:`client_fetcher`; errors, retries and budgets stay the client's), from a
GraphQL executor (:func:`graphql_fetcher`), or from a bare
``httpx.AsyncClient`` (:func:`httpx_fetcher`, for tests and tools).

Guarantees of :func:`paginate`: pages come in order, each with its records and
the request for the page after it (``page.next``, None on the last page, so a
poller can persist it as its cursor); a page token seen before (a provider
bug that would loop forever), more than ``max_pages`` pages, or a next URL on
another origin (it would receive our credentials) raise
:class:`PaginationError` after the last good page was yielded; it never
loops and never sleeps.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
import orjson

from core._pagination_strategies import (
    CursorPaginator,
    GraphQLPaginator,
    LinkHeaderPaginator,
    NextUrlPaginator,
    OffsetPaginator,
    PageNumberPaginator,
    PageRequest,
    PageResponse,
    PaginationError,
    Paginator,
    RecordsPath,
    dig,
)
from core.errors import InvalidBodyError, PolicyError

__all__ = [
    "CursorPaginator",
    "Fetch",
    "GraphQLPaginator",
    "LinkHeaderPaginator",
    "NextUrlPaginator",
    "OffsetPaginator",
    "Page",
    "PageNumberPaginator",
    "PageRequest",
    "PageResponse",
    "PaginationError",
    "Paginator",
    "RecordsPath",
    "check_origin",
    "client_fetcher",
    "dig",
    "graphql_fetcher",
    "httpx_fetcher",
    "paginate",
    "paginate_records",
]

Fetch = Callable[[PageRequest], Awaitable[PageResponse]]
DEFAULT_MAX_PAGES = 10_000


@dataclass(frozen=True)
class Page:
    """One page: its 1-based ``number``, ``records``, the raw ``response``, the
    ``request`` that fetched it and the ``next`` request (None if last)."""

    number: int
    records: list[Any]
    response: PageResponse
    request: PageRequest
    next: PageRequest | None


async def paginate(
    fetch: Fetch,
    paginator: Paginator,
    *,
    start: PageRequest | None = None,
    max_pages: int = DEFAULT_MAX_PAGES,
) -> AsyncIterator[Page]:
    """Yield every page; ``start`` resumes from a saved ``page.next``."""
    if not isinstance(max_pages, int) or max_pages < 1:
        raise PolicyError("max_pages: must be a positive integer", setting="max_pages")
    request = start or paginator.first()
    seen: set[Hashable] = {paginator.token(request)}
    number = 0
    while True:
        number += 1
        response = await fetch(request)
        records = paginator.records(response)
        following = paginator.next(request, response, records)
        yield Page(number, records, response, request, following)
        if following is None:
            return
        _same_origin(following, response)
        token = paginator.token(following)
        if token in seen:
            raise PaginationError(
                f"page {number} pointed back at a page already fetched (token {token!r}); "
                "stopping instead of looping",
                retryable=False,
            )
        if number >= max_pages:
            raise PaginationError(f"more than max_pages={max_pages} pages", retryable=False)
        seen.add(token)
        request = following


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, parts.hostname or "", parts.port or _DEFAULT_PORTS.get(scheme)


def check_origin(url: str, reference: str, *, what: str = "next page URL", fix: str = "") -> None:
    """Raise a non-retryable :class:`PaginationError` unless ``url`` has the
    origin (scheme, host, port) of ``reference``: the one check of every URL
    a credential is about to follow (next links, stored poll cursors).
    ``fix`` is appended to the message (what a person should do)."""
    if _origin(url) != _origin(reference):
        ref = urlsplit(reference)
        raise PaginationError(
            f"{what} points to another origin than {ref.scheme}://{ref.netloc}; "
            f"refusing to send credentials there{fix}",
            url=url,
            retryable=False,
        )


def _same_origin(following: PageRequest, response: PageResponse) -> None:
    # A next link elsewhere would carry our credentials to another host.
    if following.url is None or response.url is None:
        return
    check_origin(following.url, response.url)


async def paginate_records(
    fetch: Fetch,
    paginator: Paginator,
    *,
    start: PageRequest | None = None,
    max_pages: int = DEFAULT_MAX_PAGES,
) -> AsyncIterator[Any]:
    """The records of :func:`paginate`, one by one."""
    async for page in paginate(fetch, paginator, start=start, max_pages=max_pages):
        for record in page.records:
            yield record


class _Response(Protocol):
    @property
    def data(self) -> Any: ...
    @property
    def headers(self) -> httpx.Headers: ...
    @property
    def raw(self) -> httpx.Response: ...


class _Requester(Protocol):
    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any: ...


def client_fetcher(
    client: _Requester,
    url: str,
    *,
    method: str = "GET",
    params: Mapping[str, Any] | None = None,
    json: Any = None,
    headers: Mapping[str, str] | None = None,
) -> Fetch:
    """A fetch over :meth:`core.client.ProviderClient.request` (or anything shaped
    like it): ``params`` on the first request, the paginator's params merged
    in; a next URL (Link / next_page_uri) replaces ``url`` and ``params``."""
    base = dict(params or {})

    async def fetch(request: PageRequest) -> PageResponse:
        target = request.url or url
        query = {**base, **request.params} if request.url is None else dict(request.params)
        response: _Response = await client.request(
            method, target, params=query or None, json=json, headers=headers
        )
        return PageResponse(response.data, response.headers, str(response.raw.url))

    return fetch


class _GraphQLResultLike(Protocol):
    @property
    def data(self) -> Any: ...
    def raise_for_errors(self) -> None: ...


def graphql_fetcher(
    execute: Callable[[str, dict[str, Any]], Awaitable[_GraphQLResultLike]],
    document: str,
    variables: Mapping[str, Any] | None = None,
    *,
    allow_partial: bool = False,
) -> Fetch:
    """A fetch running ``document`` through ``execute(document, variables)``
    (e.g. :meth:`core.graphql.GraphQLClient.execute`) with the paginator's
    variables merged into ``variables``; the paginator sees the ``data``
    object. A page that came with ``errors`` raises (the executor's
    ``raise_for_errors``) unless ``allow_partial``: a silently short page
    would lose records."""
    base = dict(variables or {})

    async def fetch(request: PageRequest) -> PageResponse:
        result = await execute(document, {**base, **request.variables})
        if not allow_partial or result.data is None:
            result.raise_for_errors()
        return PageResponse(result.data)

    return fetch


def httpx_fetcher(
    client: httpx.AsyncClient,
    url: str,
    *,
    params: Mapping[str, Any] | None = None,
    graphql: str | None = None,
) -> Fetch:
    """A fetch over a bare ``httpx.AsyncClient`` (tests, tools): GET ``url``,
    or with ``graphql`` POST ``{"query", "variables"}`` and hand the
    paginator the ``data`` object. Non-2xx raises ``httpx.HTTPStatusError``;
    a body that is not JSON raises :class:`~core.errors.InvalidBodyError`."""
    base = dict(params or {})

    async def fetch(request: PageRequest) -> PageResponse:
        if graphql is not None:
            body = {"query": graphql, "variables": {**base, **request.variables}}
            response = await client.post(request.url or url, json=body)
        elif request.url is None:
            response = await client.get(url, params={**base, **request.params})
        else:
            response = await client.get(request.url, params=dict(request.params) or None)
        response.raise_for_status()
        try:
            data = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise InvalidBodyError(
                "page is not JSON", status=response.status_code, url=str(response.url)
            ) from None
        if graphql is not None:
            if not isinstance(data, dict):
                raise InvalidBodyError("GraphQL response is not an object")
            data = data.get("data")
        return PageResponse(data, response.headers, str(response.url))

    return fetch
