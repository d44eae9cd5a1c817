"""A separate process refreshing one credential held in a shared file token store.

``python -m tests.integration.token_refresher STORE KEY TOKEN_URL ME_URL``
with the Fernet key in ``SWITCHBOARD_TEST_TOKEN_KEY``: prints ``ready``, waits
for a line on stdin (the test's start signal, so several processes go
together), makes one authorized request (which refreshes the stored,
expired token) and prints the HTTP status and the access token it used.
"""

from __future__ import annotations

import asyncio
import os
import sys

import httpx

from core.auth import RefreshTokenAuth
from core.tokenstore import FileTokenStore, TokenCipher


async def main(store_path: str, key: str, token_url: str, me_url: str) -> None:
    store = FileTokenStore(store_path, TokenCipher(os.environ["SWITCHBOARD_TEST_TOKEN_KEY"]))
    auth = RefreshTokenAuth(
        token_url, "sandbox-client", "sandbox-secret", store=store, store_key=key
    )
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    async with httpx.AsyncClient(auth=auth) as client:
        response = await client.get(me_url)
    await auth.aclose()
    assert auth.token is not None
    print(response.status_code, auth.token.access_token.get_secret_value(), flush=True)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
