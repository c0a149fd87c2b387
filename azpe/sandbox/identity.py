"""The fake Entra ID side: cloud metadata, the OpenID document and the token endpoint for
``az login --service-principal``, and the check of the bearer token on ARM calls.

Tokens are HMAC-signed with a fixed key, so they stay valid across emulator restarts (az
keeps them in its MSAL cache) and need no server-side store.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs

from .shapes import Reply, arm_error
from .state import DEFAULT_TENANT_ID

TENANT_ID = DEFAULT_TENANT_ID
APP_ID = "a2f6c3d4-5e6f-4a1b-9c8d-0e1f2a3b4c5d"
APP_SECRET = "azpe-sandbox-secret"
OBJECT_ID = "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f"
TOKEN_LIFETIME = 86399
_KEY = b"azpe-sandbox-token-key"


def cloud_metadata(base: str) -> dict[str, Any]:
    """The one cloud object that ``az cloud register`` reads from ``/metadata/endpoints``."""
    root = base + "/"
    return {
        "name": "AzpeSandbox",
        "portal": base,
        "authentication": {
            "loginEndpoint": root,
            "audiences": [root],
            "tenant": "common",
            "identityProvider": "AAD",
        },
        "media": root,
        "graphAudience": root,
        "graph": root,
        "batch": root,
        "resourceManager": root,
        "microsoftGraphResourceId": root,
        "appInsightsResourceId": root,
        "appInsightsTelemetryChannelResourceId": root,
        "logAnalyticsResourceId": root,
        "ossrdbmsResourceId": root,
        "sqlManagement": root,
        "vmImageAliasDoc": f"{base}/vmImageAliases.json",
        "suffixes": {
            "acrLoginServer": "azurecr.io",
            "sqlServerHostname": "database.windows.net",
            "keyVaultDns": "vault.azure.net",
            "storage": "core.windows.net",
        },
    }


def openid_configuration(base: str, tenant: str) -> Reply:
    if tenant.lower() != TENANT_ID:
        return _aad_error(
            400,
            "invalid_tenant",
            90002,
            f"Tenant '{tenant}' not found. Check to make sure you "
            "have the correct tenant ID and are signing into the correct cloud.",
            base,
        )
    auth = f"{base}/{tenant}"
    return Reply(
        200,
        {
            "token_endpoint": f"{auth}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "jwks_uri": f"{auth}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{auth}/v2.0",
            "request_uri_parameter_supported": False,
            "authorization_endpoint": f"{auth}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{auth}/oauth2/v2.0/devicecode",
            "end_session_endpoint": f"{auth}/oauth2/v2.0/logout",
            "tenant_region_scope": "EU",
            "cloud_instance_name": "azpe.sandbox",
        },
    )


def token(base: str, tenant: str, form_body: bytes) -> Reply:
    """``POST /{tenant}/oauth2/v2.0/token``: the client-credentials grant only."""
    form = {k: v[0] for k, v in parse_qs(form_body.decode("utf-8", "replace")).items()}
    if tenant.lower() != TENANT_ID:
        return _aad_error(400, "invalid_request", 90002, f"Tenant '{tenant}' not found.", base)
    if form.get("grant_type") != "client_credentials":
        return _aad_error(
            400,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type.",
            base,
        )
    client_id = form.get("client_id", "")
    if client_id != APP_ID:
        return _aad_error(
            400,
            "unauthorized_client",
            700016,
            f"Application with identifier '{client_id}' was not found in the directory '{tenant}'.",
            base,
        )
    if not hmac.compare_digest(form.get("client_secret", ""), APP_SECRET):
        return _aad_error(
            401,
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret "
            "being sent in the request is the client secret value, not the client secret ID, "
            f"for a secret added to app '{APP_ID}'.",
            base,
        )
    scope = form.get("scope", "")
    audience = scope.split(" ")[0].removesuffix(".default").rstrip("/") or base
    return Reply(
        200,
        {
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME,
            "ext_expires_in": TOKEN_LIFETIME,
            "access_token": issue_token(tenant, audience),
        },
    )


def issue_token(tenant: str, audience: str) -> str:
    now = int(time.time())
    header = {"typ": "JWT", "alg": "HS256"}
    claims = {
        "aud": audience,
        "iss": f"https://sts.azpe.sandbox/{tenant}/",
        "iat": now,
        "nbf": now,
        "exp": now + TOKEN_LIFETIME,
        "appid": APP_ID,
        "oid": OBJECT_ID,
        "sub": OBJECT_ID,
        "tid": tenant,
        "idtyp": "app",
        "ver": "1.0",
    }
    signing_input = f"{_b64(json.dumps(header))}.{_b64(json.dumps(claims))}"
    return f"{signing_input}.{_sign(signing_input)}"


def check_bearer(authorization: str | None) -> Reply | None:
    """None if the request carries a valid token, else ARM's 401 answer."""
    if not authorization:
        return arm_error(
            401,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
        )
    scheme, _, tok = authorization.partition(" ")
    parts = tok.split(".")
    if scheme.lower() != "bearer" or len(parts) != 3:
        return arm_error(
            401,
            "AuthenticationFailedInvalidHeader",
            "Authentication failed. The 'Authorization' header is provided in an invalid format.",
        )
    if not hmac.compare_digest(parts[2], _sign(f"{parts[0]}.{parts[1]}")):
        return arm_error(401, "InvalidAuthenticationToken", "The access token is invalid.")
    claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    if int(claims.get("exp", 0)) < time.time():
        return arm_error(
            401,
            "ExpiredAuthenticationToken",
            "The access token expiry UTC time is earlier than current UTC time.",
        )
    return None


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


def _sign(signing_input: str) -> str:
    digest = hmac.new(_KEY, signing_input.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _aad_error(status: int, error: str, aadsts: int, text: str, base: str) -> Reply:
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
    trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
    return Reply(
        status,
        {
            "error": error,
            "error_description": f"AADSTS{aadsts}: {text} Trace ID: {trace} "
            f"Correlation ID: {correlation} Timestamp: {now}",
            "error_codes": [aadsts],
            "timestamp": now,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": f"{base}/error?code={aadsts}",
        },
    )
