"""read_body on a body already whole when the handler starts (no wait, no timer)."""

from __future__ import annotations

import asyncio
from unittest import mock

import pytest
from aiohttp import streams
from aiohttp.test_utils import make_mocked_request

from streams.ingest.body import BodyRefused, read_body


def buffered(body: bytes, *, eof: bool = True) -> streams.StreamReader:
    payload = streams.StreamReader(
        mock.Mock(_reading_paused=False), 2**16, loop=asyncio.get_running_loop()
    )
    payload.feed_data(body)
    if eof:
        payload.feed_eof()
    return payload


async def test_a_whole_chunked_body_over_the_cap_is_413() -> None:
    # chunked: no Content-Length to refuse early, and all of it already buffered
    headers = {"Transfer-Encoding": "chunked"}
    request = make_mocked_request("POST", "/", headers=headers, payload=buffered(b"x" * 101))
    with pytest.raises(BodyRefused) as refused:
        await read_body(request, limit=100, timeout_s=5)
    assert refused.value.status == 413


async def test_a_whole_body_at_the_cap_is_read() -> None:
    request = make_mocked_request("POST", "/", payload=buffered(b"x" * 100))
    assert await read_body(request, limit=100, timeout_s=5) == b"x" * 100


async def test_a_body_still_arriving_times_out_as_408() -> None:
    request = make_mocked_request("POST", "/", payload=buffered(b"x" * 10, eof=False))
    with pytest.raises(BodyRefused) as refused:
        await read_body(request, limit=100, timeout_s=0.05)
    assert refused.value.status == 408
