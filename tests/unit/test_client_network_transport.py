"""Which connection pool a policy gets (the measured choice: README, bench/http_transport.py)."""

from __future__ import annotations

import httpx

from core._aiohttp_transport import AiohttpTransport, network_transport
from core.client import ClientPolicy


def policy(**kw: object) -> ClientPolicy:
    return ClientPolicy(connector="t", base_url="https://api.example.com", **kw)


def test_http11_gets_aiohttps_pool_with_the_policys_limits() -> None:
    chosen = network_transport(policy(limits={"max_connections": 7, "keepalive_expiry": 3}))
    assert isinstance(chosen, AiohttpTransport)
    assert chosen._limits.max_connections == 7
    assert chosen._limits.keepalive_expiry == 3


def test_http2_or_an_explicit_choice_gets_httpcores_pool() -> None:
    assert isinstance(network_transport(policy(http2=True)), httpx.AsyncHTTPTransport)
    assert isinstance(network_transport(policy(transport="httpcore")), httpx.AsyncHTTPTransport)


def test_the_default_pool_is_sized_for_a_slow_provider() -> None:
    assert policy().limits.max_connections == 64
