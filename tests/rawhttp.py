"""A raw-socket HTTP/1.1 client for tests that need control over the bytes
and their timing: split, slow and chunked writes, malformed requests, held
connections. httpx always sends a well-formed request in one go, so it
cannot reproduce what a slow or hostile client does."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["Reply", "chunked", "exchange", "read_reply", "request_head"]


@dataclass
class Reply:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def request_head(
    method: str,
    path: str,
    headers: Mapping[str, str] | Sequence[tuple[str, str]] = (),
    *,
    content_length: int | None = None,
) -> bytes:
    """The request line and headers (``Host`` added), ending in the blank line."""
    items = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{k}: {v}" for k, v in items]
    if content_length is not None:
        lines.append(f"Content-Length: {content_length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def chunked(body: bytes, size: int) -> list[bytes]:
    """``body`` in chunked transfer encoding, one list item per chunk."""
    parts = [
        b"%x\r\n" % len(body[i : i + size]) + body[i : i + size] + b"\r\n"
        for i in range(0, len(body), size)
    ]
    return [*parts, b"0\r\n\r\n"]


async def read_reply(reader: asyncio.StreamReader) -> Reply:
    """One response (status, headers, body by Content-Length or to EOF)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    else:
        body = await reader.read()
    return Reply(status, headers, body)


async def exchange(
    port: int, parts: Sequence[bytes], *, gap_s: float = 0.0, timeout: float = 60.0
) -> Reply:
    """Send ``parts`` as separate writes (``gap_s`` apart: the slow client
    being simulated) and read the response. A server that closes without
    answering raises ``asyncio.IncompleteReadError``."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        async with asyncio.timeout(timeout):
            for i, part in enumerate(parts):
                if i and gap_s:
                    await asyncio.sleep(gap_s)  # allowed: the stimulus, a client writing slowly
                writer.write(part)
                await writer.drain()
            return await read_reply(reader)
    finally:
        writer.close()
