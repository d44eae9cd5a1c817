"""The lean path of one request through httpx, for :class:`core.client.ProviderClient`.

``AsyncClient.build_request`` and ``AsyncClient.send`` do per request what
this client never needs (a second URL parse of a relative path, cookie
persistence, event hooks, an INFO log line per request through the
``httpx`` logger): together about half of a request's CPU on a pooled
loopback call. :class:`HttpPath` makes the same ``httpx.Request`` (base URL
joined as httpx joins it, the client's headers under the call's, the
client's timeouts) and drives the auth flow over the policy transport as
httpx does. Following redirects, and a URL that is not a path from the base,
stay httpx's own.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import httpx

__all__ = ["HttpPath"]

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})  # httpx sends Content-Length: 0


class HttpPath:
    def __init__(
        self,
        http: httpx.AsyncClient,
        transport: httpx.AsyncBaseTransport,
        auth: httpx.Auth | None,
        *,
        follow_redirects: bool,
    ) -> None:
        self._http = http
        self._transport = transport
        self._auth = auth
        self._follow = follow_redirects
        base = http.base_url
        # httpx ends the base's path with "/" (str() leaves out a bare "/")
        self._base = str(base.copy_with(query=None, fragment=None)).rstrip("/") + "/"
        if not base.is_absolute_url:
            self._base = ""
        self._timeout = http.timeout.as_dict()
        self._defaults = [(k.lower(), v) for k, v in http.headers.items()]
        self._host = base.netloc.decode("ascii")

    def build(
        self,
        method: str,
        url: str,
        params: Any,
        content: bytes | None,
        headers: dict[str, str],
    ) -> httpx.Request:
        """What ``AsyncClient.build_request`` makes, at a third of its cost:
        the URL of a path without a query is parsed once per client and path,
        and the headers are put together once (httpx merges them three times)."""
        lower = {k.lower() for k in headers}
        if url[:1] != "/" or not self._base or not lower.isdisjoint(("host", "content-length")):
            return self._http.build_request(
                method, url, params=params, content=content, headers=headers
            )
        target = self._base + url[1:]
        merged = [(k, v) for k, v in self._defaults if k not in lower]
        merged.append(("host", self._host))
        if content is not None:
            merged.append(("content-length", str(len(content))))
        elif method in _BODY_METHODS:
            merged.append(("content-length", "0"))
        merged.extend(headers.items())
        request = httpx.Request(
            method,
            _parsed(target) if params is None else httpx.URL(target, params=params),
            headers=merged,
            stream=httpx.ByteStream(content or b""),
            extensions={"timeout": self._timeout},
        )
        request.read()  # the body is bytes: known length, re-sendable
        return request

    async def send(self, request: httpx.Request) -> httpx.Response:
        """``AsyncClient.send(request, stream=True)``, as httpx runs the auth
        flow: each request it yields goes to the transport; a response it
        answers with is read and closed before the next request."""
        if self._follow:
            return await self._http.send(request, stream=True)
        if self._http.is_closed:
            raise RuntimeError("the client is closed")
        if self._auth is None:
            return await self._single(request)
        flow = self._auth.async_auth_flow(request)
        try:
            request = await flow.__anext__()
            while True:
                response = await self._single(request)
                try:
                    try:
                        next_request = await flow.asend(response)
                    except StopAsyncIteration:
                        return response
                    await response.aread()
                    request = next_request
                except BaseException:
                    await response.aclose()
                    raise
        finally:
            await flow.aclose()

    async def _single(self, request: httpx.Request) -> httpx.Response:
        response = await self._transport.handle_async_request(request)
        response.request = request
        return response


@lru_cache(maxsize=1024)
def _parsed(url: str) -> httpx.URL:
    # Parsing is most of a Request's cost, and a client calls few distinct
    # URLs; an httpx.URL is never changed in place (copy_with makes another).
    return httpx.URL(url)
