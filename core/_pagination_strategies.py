"""The paginator strategies: one small object per scheme (see :mod:`core.pagination`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urljoin

import httpx

from core.errors import BadResponseError, PolicyError

__all__ = [
    "CursorPaginator",
    "GraphQLPaginator",
    "LinkHeaderPaginator",
    "NextUrlPaginator",
    "OffsetPaginator",
    "PageNumberPaginator",
    "PageRequest",
    "PageResponse",
    "PaginationError",
    "Paginator",
    "RecordsPath",
    "dig",
]

RecordsPath = str | Callable[[Any], Any] | None


class PaginationError(BadResponseError):
    """Pagination cannot go on safely: a token came back twice (the provider
    would loop), the page cap was reached, or a page lacks what the strategy
    needs (e.g. ``hasNextPage`` without ``endCursor``). Not retryable."""

    code = "pagination_error"


@dataclass(frozen=True)
class PageRequest:
    """What to fetch next. ``url=None`` means the fetcher's own URL; ``params``
    are query parameters to add; ``variables`` are GraphQL variables."""

    url: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    variables: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PageResponse:
    """One fetched page: parsed JSON ``data``, response ``headers``, and the
    ``url`` it came from (to resolve relative next links)."""

    data: Any
    headers: httpx.Headers | Mapping[str, str] = field(default_factory=dict)
    url: str | None = None


def dig(data: Any, path: str | None) -> Any:
    """``dig(body, "response_metadata.next_cursor")``; None when any step is missing."""
    if path is None or path == "":
        return data
    for part in path.split("."):
        if isinstance(data, Mapping):
            data = data.get(part)
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data


def _check_size(value: int, setting: str) -> int:
    if not isinstance(value, int) or value < 1:
        raise PolicyError(f"{setting}: must be a positive integer", setting=setting)
    return value


class Paginator(ABC):
    """A pagination scheme: where the records are and how to ask for the next page.

    ``records_path`` is a dotted path into the body, ``None`` when the body
    itself is the list, or a callable taking the body.
    """

    def __init__(self, records_path: RecordsPath = "data") -> None:
        self.records_path = records_path

    def first(self) -> PageRequest:
        """The request for the first page."""
        return PageRequest()

    def records(self, response: PageResponse) -> list[Any]:
        path = self.records_path
        found = path(response.data) if callable(path) else dig(response.data, path)
        if found is None:
            return []
        if not isinstance(found, list):
            raise PaginationError(f"records at {path!r} are not a list", retryable=False)
        return found

    @abstractmethod
    def next(
        self, request: PageRequest, response: PageResponse, records: list[Any]
    ) -> PageRequest | None:
        """The next page's request, or None when this was the last page."""

    @abstractmethod
    def token(self, request: PageRequest) -> Hashable:
        """What identifies a page request; the driver refuses to see one twice."""


class PageNumberPaginator(Paginator):
    """``?page=N&per_page=M``. Stops on a short or empty page, at
    ``total_pages_path`` when given, or follows ``next_page_path`` (None = end)."""

    def __init__(
        self,
        *,
        page_param: str = "page",
        size_param: str | None = "per_page",
        size: int = 100,
        start: int = 1,
        records_path: RecordsPath = "data",
        total_pages_path: str | None = None,
        next_page_path: str | None = None,
    ) -> None:
        super().__init__(records_path)
        self.page_param, self.size_param = page_param, size_param
        self.size = _check_size(size, "size")
        self.start = start
        self.total_pages_path, self.next_page_path = total_pages_path, next_page_path

    def _params(self, page: int) -> dict[str, Any]:
        params: dict[str, Any] = {self.page_param: page}
        if self.size_param:
            params[self.size_param] = self.size
        return params

    def first(self) -> PageRequest:
        return PageRequest(params=self._params(self.start))

    def next(
        self, request: PageRequest, response: PageResponse, records: list[Any]
    ) -> PageRequest | None:
        page = int(request.params[self.page_param])
        if self.next_page_path is not None:
            following = dig(response.data, self.next_page_path)
            return (
                None if following is None else replace(request, params=self._params(int(following)))
            )
        if not records or len(records) < self.size:
            return None
        total = dig(response.data, self.total_pages_path) if self.total_pages_path else None
        if total is not None and page >= int(total):
            return None
        return replace(request, params=self._params(page + 1))

    def token(self, request: PageRequest) -> Hashable:
        return request.params.get(self.page_param)


class OffsetPaginator(Paginator):
    """``?offset=N&limit=M``; the next offset is this one plus the records
    received. Stops on a short/empty page, ``has_more_path`` false, or at
    ``total_path``."""

    def __init__(
        self,
        *,
        offset_param: str = "offset",
        limit_param: str = "limit",
        limit: int = 100,
        records_path: RecordsPath = "data",
        total_path: str | None = None,
        has_more_path: str | None = None,
    ) -> None:
        super().__init__(records_path)
        self.offset_param, self.limit_param = offset_param, limit_param
        self.limit = _check_size(limit, "limit")
        self.total_path, self.has_more_path = total_path, has_more_path

    def first(self) -> PageRequest:
        return PageRequest(params={self.offset_param: 0, self.limit_param: self.limit})

    def next(
        self, request: PageRequest, response: PageResponse, records: list[Any]
    ) -> PageRequest | None:
        offset = int(request.params[self.offset_param]) + len(records)
        if self.has_more_path is not None:
            if not dig(response.data, self.has_more_path):
                return None
        elif not records or len(records) < self.limit:
            return None
        total = dig(response.data, self.total_path) if self.total_path else None
        if total is not None and offset >= int(total):
            return None
        return replace(request, params={**request.params, self.offset_param: offset})

    def token(self, request: PageRequest) -> Hashable:
        return request.params.get(self.offset_param)


class CursorPaginator(Paginator):
    """A cursor from the body sent back as ``cursor_param``.

    The cursor is read at ``cursor_path`` (e.g.
    ``response_metadata.next_cursor``), or taken from the last record's
    ``last_record_field`` (e.g. ``starting_after`` = last object's
    ``id``), or from the first record's ``first_record_field`` (paging
    towards newer objects, e.g. ``ending_before`` = first object's ``id``,
    where each page still comes newest-first). Set exactly one of the
    three. Empty/None cursor, an empty page or ``has_more_path`` false
    ends the pagination.
    """

    def __init__(
        self,
        *,
        cursor_param: str = "cursor",
        cursor_path: str | None = "next_cursor",
        last_record_field: str | None = None,
        has_more_path: str | None = None,
        limit_param: str | None = "limit",
        limit: int = 100,
        records_path: RecordsPath = "data",
        first_record_field: str | None = None,
    ) -> None:
        super().__init__(records_path)
        sources = (cursor_path, last_record_field, first_record_field)
        if sum(source is not None for source in sources) != 1:
            raise PolicyError(
                "cursor_path: set exactly one of cursor_path, last_record_field "
                "and first_record_field",
                setting="cursor_path",
            )
        self.cursor_param, self.cursor_path = cursor_param, cursor_path
        self.last_record_field, self.has_more_path = last_record_field, has_more_path
        self.first_record_field = first_record_field
        self.limit_param, self.limit = limit_param, _check_size(limit, "limit")

    def first(self) -> PageRequest:
        return PageRequest(params={self.limit_param: self.limit} if self.limit_param else {})

    def next(
        self, request: PageRequest, response: PageResponse, records: list[Any]
    ) -> PageRequest | None:
        if self.has_more_path is not None and not dig(response.data, self.has_more_path):
            return None
        if self.last_record_field is not None:
            cursor = dig(records[-1], self.last_record_field) if records else None
        elif self.first_record_field is not None:
            cursor = dig(records[0], self.first_record_field) if records else None
        else:
            cursor = dig(response.data, self.cursor_path)
        if cursor is None or cursor == "" or not records:
            return None
        return replace(request, params={**request.params, self.cursor_param: str(cursor)})

    def token(self, request: PageRequest) -> Hashable:
        return request.params.get(self.cursor_param)


def _absolute(url: str, response: PageResponse) -> str:
    return urljoin(response.url, url) if response.url else url


class LinkHeaderPaginator(Paginator):
    """RFC 8288 ``Link: <url>; rel="next"``. The body
    is the list by default (``records_path=None``)."""

    def __init__(self, *, rel: str = "next", records_path: RecordsPath = None) -> None:
        super().__init__(records_path)
        self.rel = rel

    def next(
        self, request: PageRequest, response: PageResponse, records: list[Any]
    ) -> PageRequest | None:
        header = response.headers.get("Link") or response.headers.get("link")
        if not header:
            return None
        for link in _parse_links(header):
            if self.rel in link.get("rel", "").split():
                return PageRequest(url=_absolute(link["url"], response))
        return None

    def token(self, request: PageRequest) -> Hashable:
        return request.url


def _parse_links(header: str) -> list[dict[str, str]]:
    fake = httpx.Response(200, headers={"Link": header})
    return list(fake.links.values())


class NextUrlPaginator(Paginator):
    """The next page's URL in the body (e.g. ``next_page_uri``), absolute or
    relative to the page it came in."""

    def __init__(
        self, *, next_path: str = "next_page_uri", records_path: RecordsPath = "data"
    ) -> None:
        super().__init__(records_path)
        self.next_path = next_path

    def next(
        self, request: PageRequest, response: PageResponse, records: list[Any]
    ) -> PageRequest | None:
        following = dig(response.data, self.next_path)
        if not following:
            return None
        if not isinstance(following, str):
            raise PaginationError(f"{self.next_path!r} is not a URL", retryable=False)
        return PageRequest(url=_absolute(following, response))

    def token(self, request: PageRequest) -> Hashable:
        return request.url


class GraphQLPaginator(Paginator):
    """Relay connections: ``pageInfo {hasNextPage endCursor}``.

    ``connection_path`` points at the connection inside the GraphQL ``data``
    object (a fetcher hands the paginator ``data``, not the envelope);
    records are its ``nodes`` (or ``edges[].node``). The cursor goes into
    the ``cursor_variable`` and the page size into ``size_variable``.
    """

    def __init__(
        self,
        connection_path: str,
        *,
        cursor_variable: str = "after",
        size_variable: str | None = "first",
        size: int = 50,
    ) -> None:
        super().__init__(self._nodes)
        self.connection_path = connection_path
        self.cursor_variable, self.size_variable = cursor_variable, size_variable
        self.size = _check_size(size, "size")

    def _nodes(self, data: Any) -> Any:
        connection = dig(data, self.connection_path)
        if not isinstance(connection, Mapping):
            raise PaginationError(f"no connection at {self.connection_path!r}", retryable=False)
        if "nodes" in connection:
            return connection["nodes"]
        edges = connection.get("edges") or []
        return [edge.get("node") for edge in edges if isinstance(edge, Mapping)]

    def first(self) -> PageRequest:
        return PageRequest(variables={self.size_variable: self.size} if self.size_variable else {})

    def next(
        self, request: PageRequest, response: PageResponse, records: list[Any]
    ) -> PageRequest | None:
        info = dig(response.data, f"{self.connection_path}.pageInfo")
        if not isinstance(info, Mapping) or not info.get("hasNextPage"):
            return None
        cursor = info.get("endCursor")
        if not cursor:
            raise PaginationError("hasNextPage is true but endCursor is missing", retryable=False)
        return replace(request, variables={**request.variables, self.cursor_variable: cursor})

    def token(self, request: PageRequest) -> Hashable:
        return request.variables.get(self.cursor_variable)
