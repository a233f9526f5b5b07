"""The identity service's rules: consent, authorisation codes, JWT access tokens, refresh-token
rotation with a grace period, revocation and connections.

Access tokens are HS256 JWTs signed with a sandbox-local key (real Xero signs RS256; clients should
not verify them, only read claims such as ``authentication_event_id``). Refresh tokens are opaque.
A rotated refresh token used again within ``refresh_grace_seconds`` returns exactly the response
its first use returned (same access and refresh token), so a retried refresh never forks the chain.
"""
import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone

import jwt

from .config import ClientApp
from .errors import unauthorized
from .models import AuthCode, Connection, RefreshToken
from .seed import USER_EMAIL, USER_FAMILY_NAME, USER_GIVEN_NAME, USER_ID, USER_SUB
from .wire import new_id

ISSUER = "https://identity.xero.com"
AUDIENCE = "https://identity.xero.com/resources"

KNOWN_SCOPES = {
    "openid", "profile", "email", "offline_access",
    "accounting.transactions", "accounting.transactions.read",
    "accounting.invoices", "accounting.invoices.read",
    "accounting.payments", "accounting.payments.read",
    "accounting.banktransactions", "accounting.banktransactions.read",
    "accounting.contacts", "accounting.contacts.read",
    "accounting.settings", "accounting.settings.read",
    "accounting.reports.read", "accounting.journals.read",
    "accounting.attachments", "accounting.attachments.read",
    "accounting.budgets.read", "files", "files.read", "assets", "assets.read",
    "projects", "projects.read", "payroll.employees", "payroll.payruns", "payroll.settings",
}

# What the consent page says each scope grants, in the order the page lists them.
SCOPE_PHRASES = (
    ("View your name and email", {"openid", "profile", "email"}),
    ("View and manage your contacts", {"accounting.contacts"}),
    ("View your contacts", {"accounting.contacts.read"}),
    ("View and manage your business transactions", {
        "accounting.transactions", "accounting.invoices", "accounting.payments", "accounting.banktransactions",
    }),
    ("View your business transactions", {
        "accounting.transactions.read", "accounting.invoices.read", "accounting.payments.read",
        "accounting.banktransactions.read",
    }),
    ("View and manage your organisation settings", {"accounting.settings"}),
    ("View your organisation settings", {"accounting.settings.read"}),
    ("View your reports", {"accounting.reports.read"}),
    ("View your general ledger", {"accounting.journals.read"}),
    ("View and manage your attachments", {"accounting.attachments", "accounting.attachments.read"}),
    ("Keep access to your data when you're not using the app", {"offline_access"}),
)


class OAuthError(Exception):
    """An RFC 6749 error: ``error`` code, HTTP status, optional description."""

    def __init__(self, error: str, status: int = 400, description: str | None = None):
        super().__init__(error)
        self.error = error
        self.status = status
        self.description = description

    def body(self) -> dict:
        body = {"error": self.error}
        if self.description:
            body["error_description"] = self.description
        return body


class AuthorizePageError(Exception):
    """A problem the authorise page shows instead of redirecting (bad client or redirect URI)."""


class AuthorizeRedirectError(Exception):
    """A problem reported back to the app's redirect URI (``?error=...&state=...``)."""

    def __init__(self, error: str, description: str):
        super().__init__(error)
        self.error = error
        self.description = description


@dataclass
class AuthorizeRequest:
    client: ClientApp
    redirect_uri: str
    scopes: list[str]
    state: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    nonce: str | None

    def hidden_fields(self) -> dict:
        fields = {
            "client_id": self.client.client_id,
            "redirect_uri": self.redirect_uri,
            "response_type": "code",
            "scope": " ".join(self.scopes),
            "state": self.state,
            "code_challenge": self.code_challenge,
            "code_challenge_method": self.code_challenge_method,
            "nonce": self.nonce,
        }
        return {key: value for key, value in fields.items() if value is not None}


def describe_scopes(scopes) -> list[str]:
    chosen = set(scopes)
    phrases = [phrase for phrase, group in SCOPE_PHRASES if chosen & group]
    if "View and manage your business transactions" in phrases:
        phrases = [p for p in phrases if p != "View your business transactions"]
    return phrases


def parse_authorize(config, params) -> AuthorizeRequest:
    """Validate the authorise parameters: page errors first, then errors sent to the redirect URI."""
    client = config.client(params.get("client_id"))
    if client is None:
        raise AuthorizePageError("Unknown client or client not enabled (invalid client_id).")
    redirect_uri = params.get("redirect_uri")
    if not redirect_uri or redirect_uri not in client.redirect_uris:
        raise AuthorizePageError(f"Invalid redirect_uri: {redirect_uri!r} is not registered for {client.name}.")
    request = AuthorizeRequest(
        client=client,
        redirect_uri=redirect_uri,
        scopes=(params.get("scope") or "").split(),
        state=params.get("state"),
        code_challenge=params.get("code_challenge") or None,
        code_challenge_method=params.get("code_challenge_method") or None,
        nonce=params.get("nonce") or None,
    )
    if params.get("response_type") != "code":
        raise AuthorizeRedirectError("unsupported_response_type", "response_type must be code")
    unknown = [s for s in request.scopes if s not in KNOWN_SCOPES]
    if not request.scopes or unknown:
        raise AuthorizeRedirectError("invalid_scope", f"unknown scope(s): {' '.join(unknown) or '(none requested)'}")
    if request.code_challenge:
        request.code_challenge_method = request.code_challenge_method or "plain"
        if request.code_challenge_method not in ("S256", "plain"):
            raise AuthorizeRedirectError("invalid_request", "code_challenge_method must be S256 or plain")
    elif request.code_challenge_method:
        raise AuthorizeRedirectError("invalid_request", "code_challenge_method given without code_challenge")
    return request


def grant_consent(sandbox, request: AuthorizeRequest, tenant_ids: list[str]) -> str:
    """Record the user's consent: connections per organisation, granted scopes; returns the code."""
    identity, now = sandbox.identity, sandbox.clock.now()
    auth_event_id = new_id()
    for tenant_id in tenant_ids:
        _connect(identity, tenant_id, request.client.client_id, auth_event_id, now)
    grant_key = _grant_key(request.client.client_id)
    granted = identity.grants.get(grant_key, [])
    identity.grants[grant_key] = request.scopes + [s for s in granted if s not in request.scopes]
    code = secrets.token_urlsafe(32)
    identity.codes[code] = AuthCode(
        code=code, client_id=request.client.client_id, redirect_uri=request.redirect_uri,
        scopes=identity.grants[grant_key], user_id=USER_ID, auth_event_id=auth_event_id,
        expires_at=sandbox.clock.timestamp() + sandbox.config.auth_code_ttl,
        code_challenge=request.code_challenge, code_challenge_method=request.code_challenge_method,
        nonce=request.nonce,
    )
    return code


def _connect(identity, tenant_id, client_id, auth_event_id, now) -> None:
    existing = next(
        (c for c in identity.connections.values()
         if c.tenant_id == tenant_id and c.client_id == client_id and c.user_id == USER_ID),
        None,
    )
    if existing:
        existing.auth_event_id = auth_event_id
        existing.updated_utc = now
        return
    connection = Connection(
        connection_id=new_id(), tenant_id=tenant_id, client_id=client_id, user_id=USER_ID,
        auth_event_id=auth_event_id, created_utc=now, updated_utc=now,
    )
    identity.connections[connection.connection_id] = connection


def _grant_key(client_id: str) -> str:
    return f"{USER_ID}|{client_id}"


def authenticate_client(config, form, authorization_header: str | None) -> ClientApp:
    """HTTP Basic or client_id/client_secret in the form body (client_secret_post)."""
    client_id, secret = form.get("client_id"), form.get("client_secret")
    if authorization_header and authorization_header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(authorization_header[6:]).decode()
            client_id, secret = decoded.split(":", 1)
        except (ValueError, UnicodeDecodeError):
            raise OAuthError("invalid_client", 401) from None
    client = config.client(client_id)
    if client is None or secret is None or not hmac.compare_digest(client.client_secret, secret):
        raise OAuthError("invalid_client", 401)
    return client


def exchange_code(sandbox, client: ClientApp, form) -> dict:
    identity, now = sandbox.identity, sandbox.clock.timestamp()
    code = identity.codes.get(form.get("code") or "")
    if code is None or code.client_id != client.client_id:
        raise OAuthError("invalid_grant", description="unknown authorisation code")
    if code.used:
        raise OAuthError("invalid_grant", description="authorisation code already used")
    if now > code.expires_at:
        raise OAuthError("invalid_grant", description="authorisation code expired")
    if form.get("redirect_uri") != code.redirect_uri:
        raise OAuthError("invalid_grant", description="redirect_uri does not match the authorise request")
    if code.code_challenge and not _pkce_matches(code, form.get("code_verifier")):
        raise OAuthError("invalid_grant", description="PKCE code_verifier does not match code_challenge")
    code.used = True
    return _issue(sandbox, client, code.scopes, code.auth_event_id, nonce=code.nonce)


def _pkce_matches(code: AuthCode, verifier: str | None) -> bool:
    if not verifier:
        return False
    if code.code_challenge_method == "S256":
        digest = hashlib.sha256(verifier.encode()).digest()
        expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    else:
        expected = verifier
    return hmac.compare_digest(expected, code.code_challenge)


def refresh(sandbox, client: ClientApp, form) -> dict:
    identity, now = sandbox.identity, sandbox.clock.timestamp()
    record = identity.refresh_tokens.get(form.get("refresh_token") or "")
    if record is None or record.client_id != client.client_id or record.status == "revoked":
        raise OAuthError("invalid_grant")
    if now > record.expires_at:
        raise OAuthError("invalid_grant", description="refresh token expired")
    if not user_connections(identity, client.client_id):
        record.status = "revoked"
        raise OAuthError("invalid_grant", description="all connections for this refresh token were removed")
    if record.status == "rotated":
        if now - record.rotated_at <= sandbox.config.refresh_grace_seconds:
            return record.successor_response
        raise OAuthError("invalid_grant", description="refresh token was already used and its grace period ended")
    scopes = identity.grants.get(_grant_key(client.client_id), record.scopes)
    response = _issue(sandbox, client, scopes, record.auth_event_id)
    record.status, record.rotated_at, record.successor_response = "rotated", now, response
    return response


def revoke(sandbox, client: ClientApp, token: str | None) -> None:
    """Revoke a refresh token: it and the user's connections for the app are gone (RFC 7009: always 200)."""
    identity = sandbox.identity
    record = identity.refresh_tokens.get(token or "")
    if record is None or record.client_id != client.client_id:
        return
    for other in identity.refresh_tokens.values():
        if other.client_id == client.client_id and other.user_id == record.user_id:
            other.status = "revoked"
    for connection in user_connections(identity, client.client_id):
        del identity.connections[connection.connection_id]
    identity.grants.pop(_grant_key(client.client_id), None)


def user_connections(identity, client_id: str) -> list[Connection]:
    return [c for c in identity.connections.values() if c.client_id == client_id and c.user_id == USER_ID]


def _issue(sandbox, client: ClientApp, scopes: list[str], auth_event_id: str, nonce: str | None = None) -> dict:
    now = int(sandbox.clock.timestamp())
    ttl = sandbox.config.access_token_ttl
    claims = {
        "nbf": now, "exp": now + ttl, "iat": now, "iss": ISSUER, "aud": AUDIENCE,
        "client_id": client.client_id, "sub": USER_SUB, "auth_time": now, "xero_userid": USER_ID,
        "global_session_id": auth_event_id.replace("-", ""), "sid": auth_event_id.replace("-", ""),
        "jti": secrets.token_hex(16), "authentication_event_id": auth_event_id, "scope": list(scopes),
        "amr": ["pwd"],
    }
    response = {
        "access_token": jwt.encode(claims, sandbox.signing_key, algorithm="HS256"),
        "expires_in": ttl,
        "token_type": "Bearer",
        "scope": " ".join(scopes),
    }
    if "openid" in scopes:
        response["id_token"] = _id_token(sandbox, client, now, auth_event_id, nonce)
    if "offline_access" in scopes:
        token = secrets.token_urlsafe(48)
        sandbox.identity.refresh_tokens[token] = RefreshToken(
            token=token, client_id=client.client_id, user_id=USER_ID, scopes=list(scopes),
            auth_event_id=auth_event_id, issued_at=now, expires_at=now + sandbox.config.refresh_token_ttl,
        )
        response["refresh_token"] = token
    return response


def _id_token(sandbox, client, now, auth_event_id, nonce) -> str:
    claims = {
        "nbf": now, "exp": now + 300, "iat": now, "iss": ISSUER, "aud": client.client_id, "sub": USER_SUB,
        "auth_time": now, "xero_userid": USER_ID, "global_session_id": auth_event_id.replace("-", ""),
        "sid": auth_event_id.replace("-", ""), "preferred_username": USER_EMAIL, "email": USER_EMAIL,
        "given_name": USER_GIVEN_NAME, "family_name": USER_FAMILY_NAME,
        "name": f"{USER_GIVEN_NAME} {USER_FAMILY_NAME}", "amr": ["pwd"],
    }
    if nonce:
        claims["nonce"] = nonce
    return jwt.encode(claims, sandbox.signing_key, algorithm="HS256")


def verify_access_token(sandbox, authorization_header: str | None) -> dict:
    """Claims of a valid Bearer token, judged by the sandbox clock; raises a 401 XeroError."""
    if not authorization_header or not authorization_header.startswith("Bearer "):
        raise unauthorized(reason="missing Bearer token")
    try:
        claims = jwt.decode(
            authorization_header[7:].strip(), sandbox.signing_key, algorithms=["HS256"], audience=AUDIENCE,
            options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
        )
    except jwt.PyJWTError as error:
        raise unauthorized(reason=f"invalid token: {error}") from None
    if sandbox.clock.timestamp() >= claims["exp"]:
        expired = datetime.fromtimestamp(claims["exp"], tz=timezone.utc).strftime("%m/%d/%Y %H:%M:%S")
        raise unauthorized(detail=f"TokenExpired: token expired at {expired}", reason="access token expired")
    if sandbox.config.client(claims.get("client_id")) is None:
        raise unauthorized(reason="unknown client")
    return claims
