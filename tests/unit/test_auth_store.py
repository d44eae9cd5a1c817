"""Token storage (file store, encryption at rest) and AuthSettings."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import httpx
import orjson
import pytest
from cryptography.fernet import Fernet
from pydantic import BaseModel, SecretStr, ValidationError

from core.auth import (
    ApiKeyAuth,
    AuthSettings,
    BasicAuth,
    BearerAuth,
    ClientCredentialsAuth,
    FileTokenStore,
    OAuthToken,
    RefreshTokenAuth,
    TokenCipher,
    TokenStoreError,
    TokenStoreSettings,
    auth_settings_adapter,
    build_auth,
    generate_key,
)

ACCESS = "at_super_secret_access_value"
REFRESH = "rt_super_secret_refresh_value"


def token(access: str = ACCESS) -> OAuthToken:
    return OAuthToken(
        access_token=SecretStr(access),
        refresh_token=SecretStr(REFRESH),
        expires_at=1_800_000_000.0,
        scope="read",
    )


async def test_file_store_round_trip_mode_0600_and_ciphertext(tmp_path: Path) -> None:
    path = tmp_path / "state" / "tokens.json"
    store = FileTokenStore(path, TokenCipher(generate_key()))
    assert await store.get("acme") is None
    await store.put("acme", token())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    raw = path.read_bytes()
    assert ACCESS.encode() not in raw
    assert REFRESH.encode() not in raw
    assert b"at_" not in raw
    assert await store.get("acme") == token()
    assert os.listdir(path.parent) == ["tokens.json"]  # no temp files left behind


async def test_file_store_survives_a_new_instance_and_deletes(tmp_path: Path) -> None:
    key = generate_key()
    path = tmp_path / "tokens.json"
    await FileTokenStore(path, TokenCipher(key)).put("a", token("at_a"))
    await FileTokenStore(path, TokenCipher(key)).put("b", token("at_b"))
    reopened = FileTokenStore(path, TokenCipher(key))
    stored = await reopened.get("a")
    assert stored is not None
    assert stored.access_token.get_secret_value() == "at_a"
    await reopened.delete("a")
    await reopened.delete("missing")
    assert await reopened.get("a") is None
    assert await reopened.get("b") is not None


async def test_file_store_keeps_0600_when_the_file_was_wider(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    path.write_bytes(b"{}")
    path.chmod(0o644)
    await FileTokenStore(path, TokenCipher(generate_key())).put("a", token())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_wrong_key_or_corrupt_file_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    await FileTokenStore(path, TokenCipher(generate_key())).put("a", token())
    with pytest.raises(TokenStoreError, match="'a'") as err:
        await FileTokenStore(path, TokenCipher(generate_key())).get("a")
    assert ACCESS not in str(err.value)
    path.write_bytes(b"not json")
    with pytest.raises(TokenStoreError, match="not valid JSON"):
        await FileTokenStore(path, TokenCipher(generate_key())).get("a")


async def test_key_rotation_decrypts_old_tokens(tmp_path: Path) -> None:
    old, new = generate_key(), generate_key()
    path = tmp_path / "tokens.json"
    await FileTokenStore(path, TokenCipher(old)).put("a", token())
    rotated = FileTokenStore(path, TokenCipher(SecretStr(f"{new},{old}")))
    assert await rotated.get("a") == token()
    await rotated.put("a", token())
    with pytest.raises(TokenStoreError):
        await FileTokenStore(path, TokenCipher(old)).get("a")


def test_bad_encryption_key_names_the_setting() -> None:
    with pytest.raises(ValueError, match="encryption_key"):
        TokenCipher("not-a-fernet-key")
    with pytest.raises(ValidationError, match="encryption_key"):
        TokenStoreSettings(encryption_key=SecretStr("nope"))
    settings = TokenStoreSettings(encryption_key=SecretStr(generate_key()))
    assert "encryption_key=SecretStr('**********')" in repr(settings)


def test_token_repr_hides_secrets() -> None:
    assert ACCESS not in repr(token())
    assert REFRESH not in repr(token())


# --- AuthSettings --------------------------------------------------------------------


class ConnectorSection(BaseModel):
    auth: AuthSettings


def test_auth_settings_build_each_scheme() -> None:
    cases: list[tuple[dict[str, object], type[httpx.Auth]]] = [
        ({"type": "bearer", "token": "t"}, BearerAuth),
        ({"type": "basic", "username": "u", "password": "p"}, BasicAuth),
        ({"type": "api_key", "key": "k", "location": "query", "name": "key"}, ApiKeyAuth),
        (
            {
                "type": "oauth2_client_credentials",
                "token_url": "https://auth.example.com/oauth/token",
                "client_id": "c",
                "client_secret": "s",
            },
            ClientCredentialsAuth,
        ),
        (
            {
                "type": "oauth2_refresh_token",
                "token_url": "https://auth.example.com/oauth/token",
                "client_id": "c",
                "refresh_token": "r",
            },
            RefreshTokenAuth,
        ),
    ]
    for data, expected in cases:
        settings = auth_settings_adapter.validate_python(data)
        assert isinstance(build_auth(settings), expected)
        assert isinstance(ConnectorSection(auth=data).auth.build(), expected)


def test_unknown_auth_type_names_type() -> None:
    with pytest.raises(ValidationError) as err:
        ConnectorSection(auth={"type": "kerberos"})
    assert "auth" in str(err.value)
    assert "'type'" in str(err.value)
    assert "kerberos" in str(err.value)


def test_missing_token_url_names_token_url() -> None:
    with pytest.raises(ValidationError) as err:
        ConnectorSection(
            auth={"type": "oauth2_client_credentials", "client_id": "c", "client_secret": "s"}
        )
    (error,) = err.value.errors()
    assert error["loc"] == ("auth", "oauth2_client_credentials", "token_url")
    assert error["type"] == "missing"


def test_secrets_never_in_settings_repr() -> None:
    settings = auth_settings_adapter.validate_python(
        {"type": "oauth2_client_credentials", "token_url": "https://a.example/t",
         "client_id": "c", "client_secret": "very-secret"}
    )  # fmt: skip
    assert "very-secret" not in repr(settings)
    assert "very-secret" not in repr(settings.build())


def test_negative_refresh_margin_is_rejected() -> None:
    with pytest.raises(ValidationError) as err:
        auth_settings_adapter.validate_python(
            {"type": "oauth2_client_credentials", "token_url": "https://a.example/t",
             "client_id": "c", "client_secret": "s", "refresh_margin_s": -5}
        )  # fmt: skip
    assert err.value.errors()[0]["loc"][-1] == "refresh_margin_s"


# --- ciphertexts bound to their key, rollbacks refused ------------------------------


def _file(path: Path) -> dict[str, str]:
    data = orjson.loads(path.read_bytes())
    assert isinstance(data, dict)
    return data


async def test_swapped_ciphertexts_do_not_decrypt_under_the_other_key(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    store = FileTokenStore(path, TokenCipher(generate_key()))
    await store.put("a", token("at_a"))
    await store.put("b", token("at_b"))
    data = _file(path)
    path.write_bytes(orjson.dumps({"a": data["b"], "b": data["a"]}))  # a writer swaps them
    for key in ("a", "b"):
        with pytest.raises(TokenStoreError, match=f"token '{key}' was sealed for another key"):
            await store.get(key)


async def test_a_rolled_back_token_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    store = FileTokenStore(path, TokenCipher(generate_key()))
    await store.put("a", token("at_1"))
    old = path.read_bytes()
    await store.put("a", token("at_2"))
    assert await store.get("a") == token("at_2")
    path.write_bytes(old)  # a writer restores the older ciphertext
    with pytest.raises(TokenStoreError, match="'a' is older than one this store already read"):
        await store.get("a")


async def test_a_token_of_the_old_unbound_format_is_read_then_rewritten(tmp_path: Path) -> None:
    key = generate_key()
    path = tmp_path / "tokens.json"
    legacy = Fernet(key.encode()).encrypt(token().to_json()).decode()  # today's format
    path.write_bytes(orjson.dumps({"a": legacy}))
    store = FileTokenStore(path, TokenCipher(key))
    assert await store.get("a") == token()
    await store.put("a", token("at_new"))
    sealed = orjson.loads(Fernet(key.encode()).decrypt(_file(path)["a"].encode()))
    assert sealed["k"] == "a"
