"""Authentication for provider calls: every scheme is an :class:`httpx.Auth`.

==============================  ==================================================
scheme                          class (settings ``type``)
==============================  ==================================================
bearer token                    :class:`BearerAuth` (``bearer``)
HTTP Basic                      :class:`BasicAuth` (``basic``)
API key, header or query        :class:`ApiKeyAuth` (``api_key``)
OAuth2 client credentials       :class:`ClientCredentialsAuth` (``oauth2_client_credentials``)
OAuth2 refresh token            :class:`RefreshTokenAuth` (``oauth2_refresh_token``)
authorization code + PKCE       :class:`AuthorizationCodeFlow` (interactive, once)
device authorization            :class:`DeviceFlow` (interactive, once)
OpenID Connect id_token         :class:`OIDCProvider` (discovery, JWKS, verification)
==============================  ==================================================

OAuth2 schemes refresh ahead of expiry under an ``asyncio.Lock`` (one
refresh however many requests wait), retry a 401 exactly once after a
refresh, and persist every token (including a rotated refresh token)
through a :class:`TokenStore`, encrypted at rest. Invalid settings raise
:class:`~core.errors.PolicyError` (or a pydantic error) naming the setting.
Errors: :class:`AuthError` (the server refused credentials or grant) and
:class:`AuthFlowError` (an interactive flow failed: state, nonce, expiry)
belong to the tree in :mod:`core.errors`.
"""

from core._auth_flows import (
    AuthorizationCodeFlow,
    AuthorizationRequest,
    DeviceCode,
    DeviceFlow,
    PKCEPair,
    pkce_challenge,
)
from core._auth_oauth import (
    AuthError,
    AuthFlowError,
    ClientCredentialsAuth,
    OAuth2Auth,
    RefreshTokenAuth,
    TokenEndpoint,
)
from core._auth_oidc import OIDCMetadata, OIDCProvider
from core._auth_settings import (
    ApiKeySettings,
    AuthSettings,
    BasicSettings,
    BearerSettings,
    ClientCredentialsSettings,
    RefreshTokenSettings,
    auth_settings_adapter,
    build_auth,
)
from core._auth_static import ApiKeyAuth, BasicAuth, BearerAuth
from core.tokenstore import (
    FileTokenStore,
    MemoryTokenStore,
    OAuthToken,
    TokenCipher,
    TokenStore,
    TokenStoreError,
    TokenStoreSettings,
    generate_key,
)

__all__ = [
    "ApiKeyAuth",
    "ApiKeySettings",
    "AuthError",
    "AuthFlowError",
    "AuthSettings",
    "AuthorizationCodeFlow",
    "AuthorizationRequest",
    "BasicAuth",
    "BasicSettings",
    "BearerAuth",
    "BearerSettings",
    "ClientCredentialsAuth",
    "ClientCredentialsSettings",
    "DeviceCode",
    "DeviceFlow",
    "FileTokenStore",
    "MemoryTokenStore",
    "OAuth2Auth",
    "OAuthToken",
    "OIDCMetadata",
    "OIDCProvider",
    "PKCEPair",
    "RefreshTokenAuth",
    "RefreshTokenSettings",
    "TokenCipher",
    "TokenEndpoint",
    "TokenStore",
    "TokenStoreError",
    "TokenStoreSettings",
    "auth_settings_adapter",
    "build_auth",
    "generate_key",
    "pkce_challenge",
]
