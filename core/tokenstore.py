"""Where OAuth tokens live between refreshes and restarts, encrypted at rest.

:class:`TokenStore` is the whole interface (async ``get``/``put``/``delete``
by key). Implementations:

- :class:`MemoryTokenStore`: a dict, for tests and single-process use;
- :class:`FileTokenStore`: one JSON file, mode 0600, replaced atomically on
  every write (temp file in the same directory, fsync, ``os.replace``), each
  token Fernet-encrypted;
- ``streams.tokenstore.KafkaTokenStore``: a compacted topic (streams owns
  anything that touches Kafka).

Encryption uses ``cryptography``'s Fernet (AES-128-CBC + HMAC-SHA256,
authenticated). :class:`TokenCipher` takes one or more keys (comma
separated, newest first) so a key can be rotated: the first encrypts, all
decrypt. A value that does not decrypt raises :class:`TokenStoreError`
naming the key, never echoing the ciphertext.

Each ciphertext is bound to its store key and versioned: the sealed
plaintext is ``{"f": "switchboard.token/2", "k": store key, "n": version,
"t": token}``, so the store key and version are covered by Fernet's HMAC
exactly as AEAD associated data would be. A writer of the store can then
neither move a ciphertext to another key (refused: "sealed for another
key") nor forge a version. Fernet stays rather than AESGCM with associated
data because it is the same well-kept primitive with the same guarantee
here, and it keeps every deployed ``encryption_key`` and its rotation
(``MultiFernet``) valid. Versions are wall-clock nanoseconds, raised above
any version the store has seen for the key, so they only grow; a value
older than one already read for its key is a rollback and refused
(within one process for the file store, which keeps no history; over the
whole log for the Kafka store).

Records of the earlier, unbound format (Fernet of the token JSON alone) are
read as version 0 so an upgrade keeps working tokens, and rewritten bound
on the next ``put`` (every refresh); a bound record ever read for the key
outranks them.

Several processes may share one file: writes are atomic, and a refresh
runs under :meth:`TokenStore.refreshing`, which the file store makes an
``fcntl.flock`` on ``<file>.lock`` beside it, so processes refreshing the
same credential at once cause one refresh and all use its token.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, NamedTuple

import orjson
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from core._file_lock import exclusive

__all__ = [
    "LEGACY_VERSION",
    "FileTokenStore",
    "MemoryTokenStore",
    "OAuthToken",
    "Sealed",
    "TokenCipher",
    "TokenKeyMismatch",
    "TokenStore",
    "TokenStoreError",
    "TokenStoreSettings",
    "generate_key",
    "next_version",
]


class TokenStoreError(Exception):
    """A stored token cannot be read or written (wrong key, corrupt file, I/O)."""


class TokenKeyMismatch(TokenStoreError):
    """A stored value decrypts but was sealed for another store key (moved there)."""


class OAuthToken(BaseModel):
    """An OAuth 2.0 token as issued (RFC 6749 section 5.1), with an absolute expiry.

    ``expires_at`` is wall-clock epoch seconds (comparable across processes);
    ``None`` means the server gave no lifetime. ``repr`` never shows secrets.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    access_token: SecretStr
    token_type: str = "Bearer"  # noqa: S105 - a token type, not a secret
    expires_at: float | None = None
    refresh_token: SecretStr | None = None
    scope: str | None = None
    id_token: str | None = Field(default=None, repr=False)

    @classmethod
    def from_response(cls, data: dict[str, Any], *, now: float) -> OAuthToken:
        """Build from a token endpoint's JSON; raises ValueError if it is not one."""
        access = data.get("access_token")
        if not isinstance(access, str) or not access:
            raise ValueError("token response has no access_token")
        expires_in = data.get("expires_in")
        expires_at = None
        if expires_in is not None:
            try:
                expires_at = now + float(expires_in)
            except (TypeError, ValueError):
                raise ValueError("token response has a non-numeric expires_in") from None
        refresh = data.get("refresh_token")
        return cls(
            access_token=SecretStr(access),
            token_type=str(data.get("token_type") or "Bearer"),
            expires_at=expires_at,
            refresh_token=SecretStr(refresh) if isinstance(refresh, str) and refresh else None,
            scope=data.get("scope") if isinstance(data.get("scope"), str) else None,
            id_token=data.get("id_token") if isinstance(data.get("id_token"), str) else None,
        )

    def due(self, now: float, margin: float) -> bool:
        """True when the token expires within ``margin`` seconds of ``now``."""
        return self.expires_at is not None and now >= self.expires_at - margin

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "access_token": self.access_token.get_secret_value(),
                "token_type": self.token_type,
                "expires_at": self.expires_at,
                "refresh_token": (
                    self.refresh_token.get_secret_value() if self.refresh_token else None
                ),
                "scope": self.scope,
                "id_token": self.id_token,
            }
        )

    @classmethod
    def from_json(cls, raw: bytes) -> OAuthToken:
        return cls.model_validate(orjson.loads(raw))


def generate_key() -> str:
    """A new random Fernet key (url-safe base64, 32 bytes) for ``encryption_key``."""
    return Fernet.generate_key().decode()


_FORMAT = "switchboard.token/2"
LEGACY_VERSION = 0  # what a record of the unbound format counts as


class Sealed(NamedTuple):
    """A decrypted stored token and the version it was sealed with."""

    token: OAuthToken
    version: int


def next_version(floor: int) -> int:
    """A version above ``floor``: wall-clock nanoseconds, or ``floor + 1``
    when the clock is behind what was already seen."""
    return max(time.time_ns(), floor + 1)


class TokenCipher:
    """Fernet encryption of tokens, bound to their store key and versioned
    (see the module doc); ``keys`` newest first (comma separated in settings)."""

    def __init__(self, keys: SecretStr | str | list[str]) -> None:
        if isinstance(keys, SecretStr):
            keys = keys.get_secret_value()
        if isinstance(keys, str):
            keys = [k.strip() for k in keys.split(",") if k.strip()]
        if not keys:
            raise ValueError("encryption_key: at least one Fernet key is required")
        try:
            self._fernet = MultiFernet([Fernet(k.encode()) for k in keys])
        except (ValueError, TypeError):
            raise ValueError(
                "encryption_key: not a Fernet key (32 url-safe base64-encoded bytes; "
                "make one with core.tokenstore.generate_key())"
            ) from None

    def encrypt(self, token: OAuthToken, *, key: str, version: int) -> bytes:
        """The ciphertext of ``token`` for store key ``key`` at ``version``."""
        body = orjson.loads(token.to_json())
        return self._fernet.encrypt(orjson.dumps({"f": _FORMAT, "k": key, "n": version, "t": body}))

    def open(self, data: bytes, *, key: str) -> Sealed:
        """Decrypt a value stored under ``key``. Raises :class:`TokenStoreError`
        when it does not decrypt, is not a stored token, or was sealed for
        another key; a value of the unbound format has :data:`LEGACY_VERSION`."""
        try:
            plain = orjson.loads(self._fernet.decrypt(data))
            if not isinstance(plain, dict) or plain.get("f") != _FORMAT:
                return Sealed(OAuthToken.model_validate(plain), LEGACY_VERSION)
            if plain.get("k") != key:
                raise TokenKeyMismatch(
                    f"token {key!r} was sealed for another key: refused "
                    "(a writer of the token store moved it here)"
                )
            version = plain.get("n")
            if not isinstance(version, int) or isinstance(version, bool):
                raise ValueError("version")
            return Sealed(OAuthToken.model_validate(plain.get("t")), version)
        except InvalidToken:
            raise TokenStoreError(
                f"token {key!r} does not decrypt with the configured encryption_key"
            ) from None
        except (ValueError, orjson.JSONDecodeError):
            raise TokenStoreError(f"token {key!r} is not a valid stored token") from None

    def decrypt(self, data: bytes, *, key: str) -> OAuthToken:
        """:meth:`open` without the version."""
        return self.open(data, key=key).token


class TokenStoreSettings(BaseModel):
    """Settings section for token storage (``encryption_key`` is required)."""

    model_config = ConfigDict(extra="forbid")

    encryption_key: SecretStr = Field(
        description="Fernet key(s), comma separated, newest first (generate_key() makes one)"
    )
    path: Path = Field(
        default=Path(".switchboard/tokens.json"), description="file of the file token store"
    )

    @field_validator("encryption_key")
    @classmethod
    def _valid_key(cls, value: SecretStr) -> SecretStr:
        TokenCipher(value)  # raises ValueError naming encryption_key
        return value

    def cipher(self) -> TokenCipher:
        return TokenCipher(self.encryption_key)

    def file_store(self) -> FileTokenStore:
        return FileTokenStore(self.path, self.cipher())


class TokenStore(ABC):
    """Async key -> :class:`OAuthToken` storage. Keys are short names such as
    ``"<connector>:default"``; a missing key reads as ``None``."""

    @abstractmethod
    async def get(self, key: str) -> OAuthToken | None: ...

    @abstractmethod
    async def put(self, key: str, token: OAuthToken) -> None: ...

    @abstractmethod
    async def delete(self, key: str) -> None: ...

    def refreshing(self, key: str) -> contextlib.AbstractAsyncContextManager[None]:
        """Held while a token for ``key`` is re-read, refreshed and stored, so
        holders elsewhere (other processes) wait and then read the new token.
        The default excludes nothing (one process: the auth's own lock is enough)."""
        return contextlib.nullcontext()


class MemoryTokenStore(TokenStore):
    """In-process store (no encryption: nothing is at rest). ``writes`` counts puts."""

    def __init__(self) -> None:
        self._tokens: dict[str, OAuthToken] = {}
        self.writes = 0

    async def get(self, key: str) -> OAuthToken | None:
        return self._tokens.get(key)

    async def put(self, key: str, token: OAuthToken) -> None:
        self._tokens[key] = token
        self.writes += 1

    async def delete(self, key: str) -> None:
        self._tokens.pop(key, None)


class FileTokenStore(TokenStore):
    """Tokens in one JSON file ``{key: fernet-ciphertext}``, mode 0600.

    ``get`` raises :class:`TokenStoreError` for a value older than one this
    instance already read or wrote for the key (a restored older file); a
    new process cannot tell, as the file keeps no history.

    Every write goes to a temp file (created 0600) in the same directory,
    is fsynced and then renamed over the old file, so a crash leaves either
    the old or the new content, never a torn file. Missing parent
    directories are created with mode 0700.
    """

    def __init__(self, path: Path | str, cipher: TokenCipher) -> None:
        self.path = Path(path)
        self._cipher = cipher
        self._lock = asyncio.Lock()
        self._versions: dict[str, int] = {}  # the newest version read or written per key

    async def get(self, key: str) -> OAuthToken | None:
        raw = (await asyncio.to_thread(self._read)).get(key)
        if raw is None:
            return None
        token, version = self._cipher.open(raw.encode(), key=key)
        if version < self._versions.get(key, LEGACY_VERSION):
            raise TokenStoreError(
                f"token {key!r} is older than one this store already read: refused "
                "(the token file was rolled back)"
            )
        self._versions[key] = version
        return token

    async def put(self, key: str, token: OAuthToken) -> None:
        async with self._lock:
            version = next_version(self._versions.get(key, LEGACY_VERSION))
            sealed = self._cipher.encrypt(token, key=key, version=version).decode()
            await asyncio.to_thread(self._update, key, sealed)
            self._versions[key] = version

    async def delete(self, key: str) -> None:
        async with self._lock:
            await asyncio.to_thread(self._update, key, None)

    def refreshing(self, key: str) -> contextlib.AbstractAsyncContextManager[None]:
        """An exclusive ``flock`` on ``<file>.lock`` (one for the whole file)."""
        return exclusive(self.path.with_name(self.path.name + ".lock"))

    def _read(self) -> dict[str, str]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise TokenStoreError(f"cannot read token file {self.path}: {exc.strerror}") from None
        try:
            data = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            raise TokenStoreError(f"token file {self.path} is not valid JSON") from None
        if not isinstance(data, dict):
            raise TokenStoreError(f"token file {self.path} is not a JSON object")
        return {str(k): str(v) for k, v in data.items()}

    def _update(self, key: str, sealed: str | None) -> None:
        data = self._read()
        if sealed is None:
            if key not in data:
                return
            del data[key]
        else:
            data[key] = sealed
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tokens-", dir=self.path.parent)  # mode 0600
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(orjson.dumps(data, option=orjson.OPT_SORT_KEYS))
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        _fsync_dir(self.path.parent)


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
