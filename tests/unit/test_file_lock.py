"""The file token store's lock across processes (``core._file_lock``)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from core._file_lock import exclusive
from core.tokenstore import FileTokenStore, TokenCipher, generate_key


async def test_a_second_holder_waits_and_a_cancelled_waiter_leaves_no_lock(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tokens.json.lock"
    order: list[str] = []
    async with exclusive(path):
        waiter = asyncio.create_task(_hold(path, order, "second"))
        cancelled = asyncio.create_task(_hold(path, order, "cancelled"))
        await asyncio.sleep(0)  # allowed: a yield so both tasks start waiting (no time passes)
        cancelled.cancel()
        order.append("first")
    await waiter
    async with exclusive(path):  # the cancelled waiter released what it got
        order.append("third")
    assert order == ["first", "second", "third"]
    assert cancelled.cancelled()


async def _hold(path: Path, order: list[str], name: str) -> None:
    async with exclusive(path):
        order.append(name)


def test_the_file_store_locks_a_file_beside_it(tmp_path: Path) -> None:
    store = FileTokenStore(tmp_path / "sub" / "tokens.json", TokenCipher(generate_key()))

    async def go() -> None:
        async with store.refreshing("k"):
            assert (tmp_path / "sub" / "tokens.json.lock").is_file()

    asyncio.run(go())
