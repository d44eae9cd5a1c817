"""The policy a connector picks for its :class:`~core.client.ProviderClient`
(re-exported from :mod:`core.client`). Validated at construction: a wrong
value raises :class:`~core.errors.PolicyError` naming the dotted setting."""

from __future__ import annotations

import importlib.util
from typing import Literal

import httpx
from pydantic import Field, InstanceOf, field_validator

from core._policy import PolicyModel
from core.breaker import BreakerPolicy
from core.classify import ErrorMapping
from core.ratelimit import RatePolicy
from core.retry import RetryPolicy

__all__ = ["ClientPolicy", "ConnectionLimits", "Timeouts"]


class Timeouts(PolicyModel):
    connect: float = Field(default=5.0, gt=0)
    read: float = Field(default=30.0, gt=0)
    write: float = Field(default=30.0, gt=0)
    pool: float = Field(default=5.0, gt=0)


class ConnectionLimits(PolicyModel):
    """The connection pool, and at most ``max_connections`` requests in flight
    per client (more wait in the client's own FIFO gate, cheaply).

    64 by default: on aiohttp's pool (the default transport) 10, 64 and 256
    connections serve about the same requests/s on the bench machine
    (bench/http_transport.py), so the pool is sized for a slow provider
    (needed concurrency ~= rate x latency). httpcore 1.0's pool
    (``transport="httpcore"``, and HTTP/2) scans every connection for every
    connection on each request (O(n^2)): give it 10.
    """

    max_connections: int = Field(default=64, ge=1)
    max_keepalive_connections: int = Field(default=64, ge=0)
    keepalive_expiry: float = Field(default=30.0, ge=0)


class ClientPolicy(PolicyModel):
    """Everything a connector chooses about how its calls are made.

    Validated at construction: a wrong value raises PolicyError naming the
    setting (``rate.rate``, ``base_url``...). ``rate=None`` or
    ``breaker=None`` switch that layer off.
    """

    connector: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    base_url: str = Field(min_length=1)
    timeouts: Timeouts = Field(default_factory=Timeouts)
    limits: ConnectionLimits = Field(default_factory=ConnectionLimits)
    http2: bool = False
    # the connection pool under httpx: aiohttp's (HTTP/1.1; measured in
    # bench/http_transport.py) or httpcore's (HTTP/2, and always with http2=True)
    transport: Literal["aiohttp", "httpcore"] = "aiohttp"
    proxy: str | None = None
    max_response_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    follow_redirects: bool = False
    max_redirects: int = Field(default=5, ge=0)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    rate: RatePolicy | None = None
    breaker: BreakerPolicy | None = Field(default_factory=BreakerPolicy)
    errors: InstanceOf[ErrorMapping] = Field(default_factory=ErrorMapping)
    idempotency_header: str = Field(default="Idempotency-Key", min_length=1)
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("http2")
    @classmethod
    def _check_http2(cls, value: bool) -> bool:
        if value and importlib.util.find_spec("h2") is None:
            raise ValueError("needs the h2 package: pip install 'switchboard[http2]'")
        return value

    @field_validator("base_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        url = httpx.URL(value)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError("must be an absolute http(s) URL")
        return value
