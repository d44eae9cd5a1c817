"""The lean request path builds what httpx's own ``build_request`` builds, and
sends it the way ``AsyncClient.send`` does (auth flow included)."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import httpx
import pytest

from core._http_path import HttpPath

CASES: list[tuple[str, str, str, Any, bytes | None, dict[str, str]]] = [
    ("https://api.example.com", "GET", "/v1/customers", None, None, {}),
    ("https://api.example.com/", "POST", "/v1/customers", None, b"a=1", {"Idem": "k"}),
    ("https://api.example.com/base", "PATCH", "/x/y", None, None, {}),
    ("https://api.example.com:8443/base/", "PUT", "/x?y=1", None, b"{}", {}),
    ("http://127.0.0.1:9", "GET", "/list", {"page": "2", "q": "a b"}, None, {}),
    ("http://127.0.0.1:9", "GET", "/list?old=1", [("a", "1"), ("a", "2")], None, {}),
    ("http://127.0.0.1:9", "DELETE", "/c/%C3%A9", None, None, {"user-agent": "mine"}),
    ("http://127.0.0.1:9", "GET", "/über path", None, None, {"Accept": "text/plain"}),
    ("http://127.0.0.1:9", "POST", "/p", None, None, {"Content-Type": "application/json"}),
]


def _client(base: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base, headers={"User-Agent": "Switchboard/test", "X-Default": "1"}, timeout=3.5
    )


@pytest.mark.parametrize(("base", "method", "url", "params", "content", "headers"), CASES)
def test_the_request_is_the_one_httpx_builds(
    base: str, method: str, url: str, params: Any, content: bytes | None, headers: dict[str, str]
) -> None:
    http = _client(base)
    ours = HttpPath(http, httpx.AsyncHTTPTransport(), None, follow_redirects=False).build(
        method, url, params, content, headers
    )
    theirs = http.build_request(method, url, params=params, content=content, headers=headers)
    assert ours.method == theirs.method
    assert str(ours.url) == str(theirs.url)
    assert sorted(ours.headers.multi_items()) == sorted(theirs.headers.multi_items())
    assert ours.content == theirs.content
    assert ours.extensions == theirs.extensions


class _Recorder(httpx.AsyncBaseTransport):
    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.sent: list[str | None] = []  # the Authorization header of each send

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request.headers.get("Authorization"))
        return httpx.Response(self.statuses.pop(0), content=b"{}", request=request)


class _RetryOnce(httpx.Auth):
    """Sends with token "old", and once more with "new" after a 401."""

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = "Bearer old"
        response = yield request
        if response.status_code == 401:
            request.headers["Authorization"] = "Bearer new"
            yield request


async def test_the_auth_flow_drives_the_transport_as_httpx_does() -> None:
    transport = _Recorder([401, 200])
    http = httpx.AsyncClient(base_url="http://127.0.0.1:9", transport=transport)
    path = HttpPath(http, transport, _RetryOnce(), follow_redirects=False)
    response = await path.send(path.build("GET", "/me", None, None, {}))
    assert response.status_code == 200
    assert response.request.headers["Authorization"] == "Bearer new"
    assert transport.sent == ["Bearer old", "Bearer new"]
    await http.aclose()


async def test_a_closed_client_sends_nothing() -> None:
    transport = _Recorder([200])
    http = httpx.AsyncClient(base_url="http://127.0.0.1:9", transport=transport)
    path = HttpPath(http, transport, None, follow_redirects=False)
    await http.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await path.send(path.build("GET", "/me", None, None, {}))
    assert transport.sent == []
