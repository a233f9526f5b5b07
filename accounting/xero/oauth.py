"""Xero's OAuth 2.0 endpoints: the consent URL, the code exchange, refresh and revocation.

oauthlib's WebApplicationClient builds the requests and reads Xero's answers (errors included);
requests sends them, to URLs that `endpoints.checked` allows (requests-oauthlib would need the
process-wide OAUTHLIB_INSECURE_TRANSPORT to reach the sandbox over http). Tokens are returned to the
caller and never logged.
"""

import base64
import dataclasses
import hashlib
import secrets
import time

import jwt
import requests
from django.conf import settings
from oauthlib.common import add_params_to_uri
from oauthlib.oauth2 import OAuth2Error, WebApplicationClient

from .endpoints import checked
from .errors import XeroConnectionRevoked, XeroOAuthError, XeroUnavailable


@dataclasses.dataclass(frozen=True)
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


def authorization_url(state: str, code_challenge: str) -> str:
    """Xero's consent page for this app, with `state` and the PKCE S256 challenge."""
    return add_params_to_uri(
        checked(settings.XERO_AUTHORIZE_URL, "XERO_AUTHORIZE_URL"),
        [
            ("response_type", "code"),
            ("client_id", settings.XERO_CLIENT_ID),
            ("redirect_uri", settings.XERO_REDIRECT_URI),
            ("scope", " ".join(settings.XERO_SCOPES)),
            ("state", state),
            ("code_challenge", code_challenge),
            ("code_challenge_method", "S256"),
        ],
    )


def _token_set(token: dict) -> TokenSet:
    scope = token.get("scope") or []
    scopes = tuple(scope.split() if isinstance(scope, str) else scope)
    expires_at = float(token.get("expires_at") or time.time() + float(token.get("expires_in", 1800)))
    return TokenSet(
        token["access_token"], token.get("refresh_token", ""), expires_at, scopes, token.get("id_token", "")
    )


def _post_to_token_endpoint(body: str) -> TokenSet:
    """Send a prepared token request (client credentials in Basic auth) and read Xero's answer."""
    url = checked(settings.XERO_TOKEN_URL, "XERO_TOKEN_URL")
    try:
        response = requests.post(
            url,
            data=body,
            headers={"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"},
            auth=(settings.XERO_CLIENT_ID, settings.XERO_CLIENT_SECRET),
            timeout=(5, settings.XERO_HTTP_TIMEOUT),
        )
        if response.status_code >= 500:
            raise XeroUnavailable(f"Xero's token service answered {response.status_code}.")
        return _token_set(WebApplicationClient(settings.XERO_CLIENT_ID).parse_request_body_response(response.text))
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


def exchange_code(code: str, code_verifier: str) -> TokenSet:
    """Trade the consent's code for tokens."""
    body = WebApplicationClient(settings.XERO_CLIENT_ID).prepare_request_body(
        code=code, redirect_uri=settings.XERO_REDIRECT_URI, code_verifier=code_verifier, include_client_id=False
    )
    return _post_to_token_endpoint(body)


def refresh(refresh_token: str) -> TokenSet:
    """Spend a (single-use) refresh token for a new pair. Call under the connection's lock."""
    tokens = _post_to_token_endpoint(
        WebApplicationClient(settings.XERO_CLIENT_ID).prepare_refresh_body(refresh_token=refresh_token)
    )
    # An answer without a new refresh token leaves the old one in force (RFC 6749, section 6).
    return tokens if tokens.refresh_token else dataclasses.replace(tokens, refresh_token=refresh_token)


def revoke(refresh_token: str) -> None:
    """Revoke a refresh token (Xero removes that user's connections for the app)."""
    try:
        response = requests.post(
            checked(settings.XERO_REVOCATION_URL, "XERO_REVOCATION_URL"),
            data={"token": refresh_token},
            auth=(settings.XERO_CLIENT_ID, settings.XERO_CLIENT_SECRET),
            timeout=(5, settings.XERO_HTTP_TIMEOUT),
        )
    except requests.RequestException:
        raise XeroUnavailable("Could not reach Xero's revocation service.") from None
    if response.status_code >= 500:
        raise XeroUnavailable(f"Xero's revocation service answered {response.status_code}.")
