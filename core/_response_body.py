"""Reading a provider's answer off the wire for :class:`core.client.ProviderClient`:
the body within ``policy.max_response_bytes`` (refused before the rest is read),
and every httpx fault on the way mapped into :mod:`core.errors`, so the client
never lets an httpx exception out."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from core import errors as e
from core.classify import ErrorMapping
from core.redaction import redact_url


def network_error(exc: httpx.HTTPError, request: httpx.Request) -> e.SwitchboardError:
    """Map an httpx exception into the tree (config and request faults are not
    network faults: retrying them cannot help)."""
    where = f"{request.method} {redact_url(request.url)}"
    if isinstance(exc, httpx.TooManyRedirects | httpx.UnsupportedProtocol):
        return e.FatalConfigError(f"{type(exc).__name__} on {where}", method=request.method)
    if isinstance(exc, httpx.LocalProtocolError):
        return e.FatalRequestError(f"invalid request ({type(exc).__name__}) on {where}")
    sent = not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
    return e.NetworkError(
        f"{type(exc).__name__} on {request.method} {redact_url(request.url)}",
        sent=sent,
        method=request.method,
        url=redact_url(request.url),
    )


async def read_body(response: httpx.Response, limit: int, errors: ErrorMapping) -> bytes:
    """The whole body of a streamed ``response``, at most ``limit`` bytes: a
    declared or counted size over it raises OversizedResponseError without
    reading on, a cut-off body TruncatedResponseError. ``errors`` finds the
    provider's request id for the error."""
    req = response.request
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _oversized(response, limit, errors)
    chunks: list[bytes] = []
    size = 0
    encoded = response.headers.get("content-encoding", "identity") != "identity"
    # An unencoded body is read off the transport's stream as it comes:
    # httpx's decoder and re-chunking would only copy it.
    stream = response.aiter_bytes() if encoded else _raw(response)
    try:
        async for chunk in stream:
            size += len(chunk)
            if size > limit:
                raise _oversized(response, limit, errors)
            chunks.append(chunk)
    except httpx.RemoteProtocolError:
        raise e.TruncatedResponseError(
            f"{req.method} {redact_url(req.url)}: body ended early",
            status=response.status_code,
            request_id=errors.request_id(response),
        ) from None
    except httpx.DecodingError:
        raise e.InvalidBodyError(
            f"{req.method} {redact_url(req.url)}: body cannot be decoded",
            status=response.status_code,
        ) from None
    except httpx.HTTPError as exc:
        raise network_error(exc, req) from None
    return b"".join(chunks)


async def _raw(response: httpx.Response) -> AsyncIterator[bytes]:
    if response.is_stream_consumed:  # read already (an auth flow's retry)
        yield response.content
        return
    response.is_stream_consumed = True
    async for chunk in response.stream:  # type: ignore[union-attr]
        yield chunk


def _oversized(
    response: httpx.Response, limit: int, errors: ErrorMapping
) -> e.OversizedResponseError:
    req = response.request
    return e.OversizedResponseError(
        f"{req.method} {redact_url(req.url)}: body over {limit} bytes",
        status=response.status_code,
        request_id=errors.request_id(response),
    )
