"""Xero's OAuth 2.0 endpoints, through requests-oauthlib: the consent URL, the code exchange, refresh
and revocation. Tokens are returned to the caller and never logged."""

import base64
import hashlib
import os
import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import jwt
import requests
from django.conf import settings
from oauthlib.oauth2 import OAuth2Error
from requests_oauthlib import OAuth2Session

from .errors import XeroConnectionRevoked, XeroOAuthError, XeroUnavailable


@dataclass(frozen=True)
class TokenSet:
    access_token: str
    refresh_token: str
    expires_at: float
    scopes: tuple[str, ...]
    id_token: str = ""

    @property
    def user_email(self) -> str:
        """Who consented in Xero (the id token's email, with the openid/profile/email scopes)."""
        if not self.id_token:
            return ""
        return jwt.decode(self.id_token, options={"verify_signature": False}).get("email", "")

    @property
    def auth_event_id(self) -> str | None:
        """The consent this token came from (Xero's `authentication_event_id` claim)."""
        claims = jwt.decode(self.access_token, options={"verify_signature": False})
        return claims.get("authentication_event_id")

    @property
    def xero_user_id(self) -> str | None:
        claims = jwt.decode(self.access_token, options={"verify_signature": False})
        return claims.get("xero_userid") or claims.get("sub")


def new_pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge) for one consent."""
    verifier = secrets.token_urlsafe(64)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


LOOPBACK = {"127.0.0.1", "localhost", "::1", "sandbox"}


def _allow_plain_http_to_the_sandbox() -> None:
    """oauthlib insists on https; the Xero sandbox on this machine (or the compose network) speaks http."""
    hosts = {
        urlsplit(url).hostname
        for url in (settings.XERO_AUTHORIZE_URL, settings.XERO_TOKEN_URL)
        if url.startswith("http://")
    }
    if hosts and hosts <= LOOPBACK:
        os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"


def _session(**kwargs) -> OAuth2Session:
    _allow_plain_http_to_the_sandbox()
    return OAuth2Session(settings.XERO_CLIENT_ID, redirect_uri=settings.XERO_REDIRECT_URI, **kwargs)


def authorization_url(state: str, code_challenge: str) -> str:
    url, _ = _session(scope=settings.XERO_SCOPES, state=state).authorization_url(
        settings.XERO_AUTHORIZE_URL, code_challenge=code_challenge, code_challenge_method="S256"
    )
    return url


def _token_set(token: dict) -> TokenSet:
    scope = token.get("scope") or []
    scopes = tuple(scope.split() if isinstance(scope, str) else scope)
    expires_at = float(token.get("expires_at") or time.time() + float(token.get("expires_in", 1800)))
    return TokenSet(
        token["access_token"], token.get("refresh_token", ""), expires_at, scopes, token.get("id_token", "")
    )


def _call_token_endpoint(call) -> TokenSet:
    try:
        return _token_set(call())
    except OAuth2Error as exc:
        if exc.error == "invalid_grant":
            raise XeroConnectionRevoked(XeroOAuthError("invalid_grant").args[0]) from None
        raise XeroOAuthError(exc.error or "server_error", exc.description or "") from None
    except requests.Timeout:
        raise XeroUnavailable("Xero's token service did not answer in time.") from None
    except requests.ConnectionError:
        raise XeroUnavailable("Could not reach Xero's token service.") from None
    except ValueError:
        raise XeroUnavailable("Xero's token service answered with something that is not a token.") from None


def _check_status(response: requests.Response) -> requests.Response:
    if response.status_code >= 500:
        raise XeroUnavailable(f"Xero's token service answered {response.status_code}.")
    return response


def exchange_code(code: str, code_verifier: str) -> TokenSet:
    """Trade the consent's code for tokens."""
    session = _session()
    session.register_compliance_hook("access_token_response", _check_status)
    return _call_token_endpoint(
        lambda: session.fetch_token(
            settings.XERO_TOKEN_URL,
            code=code,
            code_verifier=code_verifier,
            include_client_id=False,
            auth=(settings.XERO_CLIENT_ID, settings.XERO_CLIENT_SECRET),
            timeout=(5, settings.XERO_HTTP_TIMEOUT),
        )
    )


def refresh(refresh_token: str) -> TokenSet:
    """Spend a (single-use) refresh token for a new pair. Call under the connection's lock."""
    session = _session()
    session.register_compliance_hook("refresh_token_response", _check_status)
    return _call_token_endpoint(
        lambda: session.refresh_token(
            settings.XERO_TOKEN_URL,
            refresh_token=refresh_token,
            auth=(settings.XERO_CLIENT_ID, settings.XERO_CLIENT_SECRET),
            timeout=(5, settings.XERO_HTTP_TIMEOUT),
        )
    )


def revoke(refresh_token: str) -> None:
    """Revoke a refresh token (Xero removes that user's connections for the app)."""
    try:
        response = requests.post(
            settings.XERO_REVOCATION_URL,
            data={"token": refresh_token},
            auth=(settings.XERO_CLIENT_ID, settings.XERO_CLIENT_SECRET),
            timeout=(5, settings.XERO_HTTP_TIMEOUT),
        )
    except requests.RequestException:
        raise XeroUnavailable("Could not reach Xero's revocation service.") from None
    if response.status_code >= 500:
        raise XeroUnavailable(f"Xero's revocation service answered {response.status_code}.")
