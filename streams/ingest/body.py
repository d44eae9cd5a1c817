"""A webhook's body: read whole, bounded, within a deadline; decoded only
after its signature was checked.

``request.content.read(n)`` returns what happens to be buffered, not the
body: a delivery arriving in several TCP segments (any large or chunked
one) was cut short and failed verification. :func:`read_body` reads to the
end of the body or to one byte past the limit.

aiohttp's automatic decompression is off (``auto_decompress=False``): the
signature is checked over the bytes as the provider sent them, and nothing
unverified is ever inflated (1 MiB of gzip inflates to 1 GiB). A connector
declares the encodings its provider uses (``WebhookSpec.content_encodings``);
any other is a 415. :func:`decode` inflates a verified body with a bound.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Iterable, Mapping

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError
from multidict import CIMultiDictProxy

__all__ = ["DECODERS", "BodyRefused", "decode", "read_body", "refused_encodings"]

log = logging.getLogger("streams.ingest")

# wbits per encoding name (RFC 9110 8.4.1): gzip framing, zlib framing
DECODERS: Mapping[str, int] = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS}
_DEFLATE = "deflate"  # zlib framing, or raw deflate as some senders do


class BodyRefused(Exception):
    """The body cannot be taken: ``status`` and the metrics ``outcome``."""

    def __init__(self, status: int, outcome: str) -> None:
        super().__init__(outcome)
        self.status = status
        self.outcome = outcome


async def read_body(request: web.BaseRequest, limit: int, timeout_s: float) -> bytes:
    """The whole body; raises :class:`BodyRefused` with 413 past ``limit``,
    408 if it does not arrive within ``timeout_s``, 400 if its framing is
    broken (bad chunked encoding, shorter than its Content-Length)."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise BodyRefused(413, "too_large")
    chunks: list[bytes] = []
    size = 0
    try:
        if request.content.is_eof():  # all of it arrived with the headers: nothing to wait for
            body = await request.content.read()
            if len(body) > limit:
                raise BodyRefused(413, "too_large")
            return body
        async with asyncio.timeout(timeout_s):
            async for chunk in request.content.iter_any():
                size += len(chunk)
                if size > limit:
                    raise BodyRefused(413, "too_large")
                chunks.append(chunk)
    except TimeoutError:
        raise BodyRefused(408, "body_timeout") from None
    except (RequestPayloadError, HttpProcessingError, ConnectionError) as exc:
        log.warning("refused a malformed request body: HTTP 400 (%s)", type(exc).__name__)
        raise BodyRefused(400, "malformed_request") from None
    return b"".join(chunks)


def _codings(headers: CIMultiDictProxy[str]) -> list[str]:
    """The content codings applied, in the order they were applied."""
    found = []
    for value in headers.getall("Content-Encoding", ()):
        for item in value.split(","):
            coding = item.strip().lower()
            if coding and coding != "identity":
                found.append(coding)
    return found


def refused_encodings(headers: CIMultiDictProxy[str], allowed: Iterable[str]) -> bool:
    """True if the body is encoded in a way the connector does not declare."""
    return not set(_codings(headers)) <= set(allowed)


def decode(body: bytes, headers: CIMultiDictProxy[str], limit: int) -> bytes:
    """``body`` with its content codings undone; raises :class:`BodyRefused`
    with 413 once the decoded bytes pass ``limit`` (decoding stops there),
    400 if a coding does not decode."""
    for coding in reversed(_codings(headers)):
        body = _inflate(body, coding, limit)
    return body


def _inflate(data: bytes, coding: str, limit: int) -> bytes:
    wbits = [zlib.MAX_WBITS, -zlib.MAX_WBITS] if coding == _DEFLATE else [DECODERS[coding]]
    for bits in wbits:
        inflater = zlib.decompressobj(bits)
        try:
            out = inflater.decompress(data, limit + 1)
        except zlib.error:
            continue
        if len(out) > limit or inflater.unconsumed_tail:
            raise BodyRefused(413, "too_large")
        if inflater.eof and not inflater.unused_data:
            return out
    raise BodyRefused(400, "undecodable")
