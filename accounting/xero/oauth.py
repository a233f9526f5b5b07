"""Xero's OAuth 2.0 endpoints: the consent URL, the code exchange, refresh and revocation.

requests-oauthlib's OAuth2Session builds the requests and reads Xero's answers (errors included), with
PKCE (S256) from oauthlib's client. Every URL is first checked by `endpoints.checked` (https, or plain http
to a host in XERO_ALLOW_HTTP_HOSTS only; for those the settings set oauthlib's process-wide
OAUTHLIB_INSECURE_TRANSPORT). Tokens are returned to the caller and never logged.
"""

import dataclasses
import time

import jwt
import requests
from django.conf import settings
from oauthlib.oauth2 import OAuth2Error, WebApplicationClient
from requests.auth import HTTPBasicAuth
from requests_oauthlib import OAuth2Session

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
    """(code_verifier, S256 code_challenge) for one consent; the verifier waits in the admin's session."""
    client = WebApplicationClient(settings.XERO_CLIENT_ID)
    verifier = client.create_code_verifier(64)
    return verifier, client.create_code_challenge(verifier, "S256")


def _session(**kwargs) -> OAuth2Session:
    session = OAuth2Session(settings.XERO_CLIENT_ID, redirect_uri=settings.XERO_REDIRECT_URI, **kwargs)
    # Xero's token service down: an answer to wait for, not a refusal (oauthlib would read it as one).
    for hook in ("access_token_response", "refresh_token_response"):
        session.register_compliance_hook(hook, _unavailable_if_server_error)
    return session


def _unavailable_if_server_error(response: requests.Response) -> requests.Response:
    if response.status_code >= 500:
        raise XeroUnavailable(f"Xero's token service answered {response.status_code}.")
    return response


def authorization_url(state: str, code_challenge: str) -> str:
    """Xero's consent page for this app, with `state` and the PKCE S256 challenge."""
    url, _ = _session(scope=settings.XERO_SCOPES).authorization_url(
        checked(settings.XERO_AUTHORIZE_URL, "XERO_AUTHORIZE_URL"),
        state=state,
        code_challenge=code_challenge,
        code_challenge_method="S256",
    )
    return url


def _token_set(token: dict) -> TokenSet:
    scope = token.get("scope") or []
    scopes = tuple(scope.split() if isinstance(scope, str) else scope)
    expires_at = float(token.get("expires_at") or time.time() + float(token.get("expires_in", 1800)))
    return TokenSet(
        token["access_token"], token.get("refresh_token", ""), expires_at, scopes, token.get("id_token", "")
    )


def _token_request(fetch) -> TokenSet:
    """Run a token request (`fetch()`, returning the token dict) and sort its failures."""
    try:
        return _token_set(fetch())
    except OAuth2Error as exc:
        if exc.error == "invalid_grant":
            raise XeroConnectionRevoked(XeroOAuthError("invalid_grant").args[0]) from None
        raise XeroOAuthError(exc.error or "server_error", exc.description or "") from None
    except requests.Timeout:
        raise XeroUnavailable("Xero's token service did not answer in time.") from None
    except requests.ConnectionError:
        raise XeroUnavailable("Could not reach Xero's token service.") from None
    except (ValueError, KeyError):
        raise XeroUnavailable("Xero's token service answered with something that is not a token.") from None


def _client_auth() -> HTTPBasicAuth:
    return HTTPBasicAuth(settings.XERO_CLIENT_ID, settings.XERO_CLIENT_SECRET)


def _timeout() -> tuple[float, float]:
    return (5, settings.XERO_HTTP_TIMEOUT)


def exchange_code(code: str, code_verifier: str) -> TokenSet:
    """Trade the consent's code for tokens (client credentials in Basic auth, the PKCE verifier)."""
    url = checked(settings.XERO_TOKEN_URL, "XERO_TOKEN_URL")
    return _token_request(
        lambda: _session().fetch_token(
            url, code=code, code_verifier=code_verifier, auth=_client_auth(), timeout=_timeout()
        )
    )


def refresh(refresh_token: str) -> TokenSet:
    """Spend a (single-use) refresh token for a new pair. Call under the connection's lock.

    An answer without a new refresh token leaves the old one in force (RFC 6749, section 6;
    OAuth2Session keeps it)."""
    url = checked(settings.XERO_TOKEN_URL, "XERO_TOKEN_URL")
    return _token_request(
        lambda: _session().refresh_token(url, refresh_token=refresh_token, auth=_client_auth(), timeout=_timeout())
    )


def revoke(refresh_token: str) -> None:
    """Revoke a refresh token (Xero removes that user's connections for the app)."""
    url = checked(settings.XERO_REVOCATION_URL, "XERO_REVOCATION_URL")
    try:
        response = _session().post(url, data={"token": refresh_token}, auth=_client_auth(), timeout=_timeout())
    except requests.RequestException:
        raise XeroUnavailable("Could not reach Xero's revocation service.") from None
    if response.status_code >= 500:
        raise XeroUnavailable(f"Xero's revocation service answered {response.status_code}.")
