"""aiohttp's connection pool under httpx's API: the HTTP/1.1 transport
under :class:`core.client.ProviderClient` (chosen by measurement:
``bench/http_transport.py``, figures in the README).

httpx stays the API every call goes through (auth flows, redirects,
timeouts per request, the policy layer); only the pool and the wire parser
are aiohttp's. What it keeps of httpx's semantics:

- timeouts: ``connect`` -> aiohttp's ``sock_connect``, ``pool`` -> its
  ``connect`` (which counts the wait for a pooled connection, so it is at
  least ``connect``), ``read`` -> ``sock_read`` (between reads, like httpx);
  ``write`` has no aiohttp counterpart: a request body is bounded by
  ``sock_read`` of the answer and by TCP;
- limits: ``max_connections`` is aiohttp's ``limit`` (one pool per client,
  every host); ``keepalive_expiry`` its ``keepalive_timeout``;
- bytes as they are: no decompression here (httpx decodes), no headers
  added (``Accept``, ``Accept-Encoding``, ``User-Agent`` are httpx's, as is
  ``Host``), no redirects followed, no proxies from the environment;
- errors mapped so the retry rules stay true: only a failure before the
  request could have reached the server (connecting, TLS handshake,
  waiting for a pooled connection) becomes ``ConnectError`` /
  ``ConnectTimeout``; anything after it is a read-side error, i.e. "may
  have been sent" (:func:`core._response_body.network_error`).

HTTP/2 is httpcore's (aiohttp speaks HTTP/1.1 only): a policy with
``http2=True`` gets httpx's default transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import httpx

from core._client_policy import ClientPolicy

__all__ = ["AiohttpTransport", "network_transport"]

_CHUNK = 64 * 1024
_WHOLE = 4 * _CHUNK  # a body of declared length up to this is read in one go


@contextlib.contextmanager
def _mapped(request: httpx.Request) -> Iterator[None]:
    """aiohttp's exceptions as the httpx ones with the same meaning. Only the
    failures aiohttp raises before anything is written (connecting, the TLS
    handshake, waiting for a pooled connection) say "not sent"; every other
    one, a timeout waiting for the answer included, may have been sent."""
    try:
        yield
    except aiohttp.ClientProxyConnectionError as exc:
        raise httpx.ProxyError(str(exc), request=request) from exc
    except aiohttp.ClientConnectorError as exc:  # DNS, refused, TLS handshake, certificate
        raise httpx.ConnectError(str(exc), request=request) from exc
    except aiohttp.ConnectionTimeoutError as exc:  # connecting or waiting for the pool
        raise httpx.ConnectTimeout(str(exc), request=request) from exc
    except (TimeoutError, aiohttp.ServerTimeoutError) as exc:  # sock_read: no answer in time
        raise httpx.ReadTimeout(str(exc) or "read timeout", request=request) from exc
    except aiohttp.ServerDisconnectedError as exc:
        raise httpx.RemoteProtocolError(str(exc) or "server disconnected", request=request) from exc
    except asyncio.IncompleteReadError as exc:  # a declared body cut off
        raise httpx.RemoteProtocolError("body ended early", request=request) from exc
    except aiohttp.ClientPayloadError as exc:  # a body cut off or badly framed
        raise httpx.RemoteProtocolError(str(exc), request=request) from exc
    except aiohttp.ClientResponseError as exc:  # an answer that is not HTTP
        raise httpx.RemoteProtocolError(str(exc), request=request) from exc
    except aiohttp.InvalidURL as exc:
        raise httpx.UnsupportedProtocol(str(exc), request=request) from exc
    except aiohttp.ClientError as exc:  # ClientOSError and the rest, after connecting
        raise httpx.ReadError(str(exc) or type(exc).__name__, request=request) from exc
    except ValueError as exc:  # aiohttp refusing to write the request (a header's bytes)
        raise httpx.LocalProtocolError(str(exc), request=request) from exc


class _Body(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _mapped(self._request):
            size = self._response.content_length
            if size is not None and size <= _WHOLE:  # one read, no iterator
                yield await self._response.content.readexactly(size)
                return
            async for chunk in self._response.content.iter_chunked(_CHUNK):
                yield chunk

    async def aclose(self) -> None:
        self._response.release()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """One aiohttp ``ClientSession`` (made on the first request, in its loop)."""

    def __init__(
        self,
        limits: httpx.Limits,
        *,
        proxy: str | None = None,
        verify: ssl.SSLContext | None = None,
    ) -> None:
        self._limits = limits
        self._proxy = proxy
        self._ssl = verify or httpx.create_ssl_context()
        self._session: aiohttp.ClientSession | None = None

    def _session_now(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._limits.max_connections or 0,
                limit_per_host=0,
                keepalive_timeout=self._limits.keepalive_expiry or 0,
                force_close=self._limits.max_keepalive_connections == 0,
                ssl=self._ssl,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                trust_env=False,
                auto_decompress=False,
                skip_auto_headers=("Accept", "Accept-Encoding", "User-Agent", "Content-Type"),
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._session_now()
        timeout: dict[str, float | None] = request.extensions.get("timeout", {})
        connect, pool = timeout.get("connect"), timeout.get("pool")
        waits = aiohttp.ClientTimeout(
            total=None,
            sock_connect=connect,
            connect=None if pool is None else max(pool, connect or 0) + (connect or 0),
            sock_read=timeout.get("read"),
        )
        data: Any
        try:
            data = request.content or None
        except httpx.RequestNotRead:
            data = request.stream  # an async byte stream: sent chunked
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
        if data is not None and not isinstance(data, bytes):
            headers = [(k, v) for k, v in headers if k.lower() != "transfer-encoding"]
        with _mapped(request):
            response = await session.request(
                request.method,
                str(request.url),
                headers=headers,
                data=data,
                allow_redirects=False,
                timeout=waits,
                proxy=self._proxy,
                server_hostname=request.extensions.get("sni_hostname"),
            )
        version = (
            f"HTTP/{response.version.major}.{response.version.minor}"
            if response.version
            else "HTTP/1.1"
        )
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_Body(response, request),
            request=request,
            extensions={
                "http_version": version.encode(),
                "reason_phrase": (response.reason or "").encode(),
            },
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def network_transport(policy: ClientPolicy) -> httpx.AsyncBaseTransport:
    """The transport under the policy layer: aiohttp's pool for HTTP/1.1
    (``policy.transport == "aiohttp"``, the default), httpcore's for HTTP/2
    or when chosen."""
    limits = httpx.Limits(
        max_connections=policy.limits.max_connections,
        max_keepalive_connections=policy.limits.max_keepalive_connections,
        keepalive_expiry=policy.limits.keepalive_expiry,
    )
    if policy.http2 or policy.transport == "httpcore":
        return httpx.AsyncHTTPTransport(http2=policy.http2, limits=limits, proxy=policy.proxy)
    return AiohttpTransport(limits, proxy=policy.proxy)
