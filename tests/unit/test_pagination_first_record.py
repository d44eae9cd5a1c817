"""CursorPaginator's ``first_record_field``: paging towards newer objects
of a newest-first list (Stripe ``ending_before`` = the page's first id)."""

from __future__ import annotations

import pytest

from core.errors import PolicyError
from core.pagination import (
    CursorPaginator,
    Fetch,
    PageRequest,
    PageResponse,
    PaginationError,
    paginate,
)

# Oldest first, as a provider stores them; a list answers newest first.
STORED = [{"id": f"obj_{i:02d}"} for i in range(10)]


def ending_before(repeat: list[bool] | None = None) -> Fetch:
    """A newest-first list answering ``ending_before`` like Stripe: the
    ``limit`` objects just newer than the cursor, still newest first. While
    ``repeat[0]`` is set it answers the page whose first object is the
    cursor (the page that handed it out) again."""
    index = {o["id"]: i for i, o in enumerate(STORED)}

    async def fetch(request: PageRequest) -> PageResponse:
        limit = int(request.params["limit"])
        start = index[request.params["ending_before"]] + 1
        if repeat and repeat[0]:
            start -= limit
        chunk = STORED[start : start + limit]
        more = start + limit < len(STORED)
        return PageResponse({"data": chunk[::-1], "has_more": more})

    return fetch


def newer(limit: int) -> CursorPaginator:
    return CursorPaginator(
        cursor_param="ending_before",
        cursor_path=None,
        first_record_field="id",
        has_more_path="has_more",
        limit=limit,
    )


async def test_first_record_cursor_pages_towards_newer_objects() -> None:
    start = PageRequest(params={"limit": 3, "ending_before": "obj_02"})
    pages = [p async for p in paginate(ending_before(), newer(3), start=start)]
    assert [[r["id"] for r in p.records] for p in pages] == [
        ["obj_05", "obj_04", "obj_03"],
        ["obj_08", "obj_07", "obj_06"],
        ["obj_09"],
    ]
    assert [p.request.params["ending_before"] for p in pages] == ["obj_02", "obj_05", "obj_08"]
    assert pages[-1].next is None


async def test_first_record_cursor_handed_back_again_is_an_error() -> None:
    start = PageRequest(params={"limit": 3, "ending_before": "obj_02"})
    repeat = [False]
    seen: list[list[str]] = []

    async def drain() -> None:
        async for page in paginate(ending_before(repeat), newer(3), start=start):
            seen.append([r["id"] for r in page.records])
            repeat[0] = True

    with pytest.raises(PaginationError, match="already fetched"):
        await drain()
    assert seen == [["obj_05", "obj_04", "obj_03"], ["obj_05", "obj_04", "obj_03"]]


def test_exactly_one_cursor_source() -> None:
    for kwargs in (
        {"first_record_field": "id"},  # cursor_path defaults to next_cursor
        {"cursor_path": None, "first_record_field": "id", "last_record_field": "id"},
        {"cursor_path": None},
    ):
        with pytest.raises(PolicyError) as err:
            CursorPaginator(**kwargs)
        assert err.value.setting == "cursor_path"
