"""Every failure of a Xero call, sorted into a small hierarchy. Anything not listed is re-raised.

Each class says whether its message may be shown to users. No message carries a token.
"""

import json
import math

from xero_python.exceptions import ApiException, HTTPStatusException

OAUTH_ERROR_TEXT = {
    "access_denied": "You cancelled the connection to Xero.",
    "invalid_scope": "Xero refused the permissions Arena asked for (invalid scope).",
    "invalid_client": "Xero did not recognise Arena's app credentials (XERO_CLIENT_ID / XERO_CLIENT_SECRET).",
    "invalid_grant": "Xero no longer accepts Arena's authorisation for this organisation.",
    "unauthorized_client": "This Xero app is not allowed to connect this way.",
    "server_error": "Xero had an error while connecting.",
    "temporarily_unavailable": "Xero is temporarily unavailable.",
}


class XeroError(Exception):
    """Base of every Xero failure. Not shown to users as it is unless a subclass says so."""


class XeroUnavailable(XeroError):
    """Xero could not be reached, timed out, or answered 5xx: retry with backoff. Shown as a reason."""


class XeroRateLimited(XeroError):
    """Wait `retry_after` seconds: Xero answered 429 (`problem` is its X-Rate-Limit-Problem), or, with
    `local`, Arena's own limiter held the call back before it was made. Xero did nothing either way.
    Shown as a reason."""

    PROBLEMS = {
        "minute": "Xero's limit of calls per minute for this organisation",
        "day": "Xero's daily limit of calls for this organisation",
        "concurrent": "Xero's limit of calls at once for this organisation",
        "appminute": "Xero's limit of calls per minute for Arena's app",
        "fair": "this organisation's fair share of Arena's calls to Xero",
    }

    def __init__(self, retry_after: float, problem: str | None, *, local: bool = False):
        self.retry_after = retry_after
        self.problem = (problem or "").lower() or None
        self.local = local
        what = self.PROBLEMS.get(self.problem or "", "Xero's rate limit")
        super().__init__(f"Waiting for {what}; next try in {math.ceil(retry_after)} s.")


class XeroAuthExpired(XeroError):
    """401: the access token expired or was rejected; refresh once and retry. Not shown."""


class XeroConnectionRevoked(XeroError):
    """The refresh token was refused (invalid_grant) or the organisation is no longer connected (403).

    The connection needs the admin to reconnect. Shown to users.
    """


class XeroNotFound(XeroError):
    """404: the record does not exist in Xero. Shown as a reason."""


class XeroValidationError(XeroError):
    """400: Xero refused the data; `messages` are Xero's own words and are shown to users."""

    def __init__(self, messages: list[str]):
        self.messages = [m for m in messages if m] or ["Xero refused the request."]
        super().__init__("; ".join(self.messages))


class XeroOAuthError(XeroError):
    """The identity service refused a request (`code` is the OAuth error). Shown to users."""

    def __init__(self, code: str, description: str = ""):
        self.code = code
        self.description = description
        text = OAUTH_ERROR_TEXT.get(code, f"Xero refused the request ({code}).")
        super().__init__(f"{text} {description}".strip())


def _retry_after(headers) -> float:
    try:
        return max(float((headers or {}).get("Retry-After", 60)), 0.0)
    except (TypeError, ValueError):
        return 60.0


def _validation_messages(body) -> list[str]:
    try:
        data = json.loads(body) if isinstance(body, (str, bytes)) else (body or {})
    except ValueError:
        return [body.decode() if isinstance(body, bytes) else str(body)]
    messages = []
    for element in data.get("Elements") or []:
        messages += [e.get("Message", "") for e in element.get("ValidationErrors") or []]
    return messages or [data.get("Detail") or data.get("Message") or "Xero refused the request."]


def from_http(status: int, body, headers) -> XeroError | None:
    """Sort a non-2xx answer; None for statuses this module doesn't know (the caller re-raises)."""
    if status == 400:
        return XeroValidationError(_validation_messages(body))
    if status == 401:
        return XeroAuthExpired("Xero rejected the access token (401).")
    if status == 403:
        return XeroConnectionRevoked("Xero says Arena is no longer connected to this organisation (403).")
    if status == 404:
        return XeroNotFound("Xero has no such record (404).")
    if status == 429:
        lowered = {k.lower(): v for k, v in (headers or {}).items()}
        return XeroRateLimited(
            _retry_after({"Retry-After": lowered.get("retry-after")}), lowered.get("x-rate-limit-problem")
        )
    if status >= 500:
        return XeroUnavailable(f"Xero answered {status}; it will be retried.")
    return None


def from_sdk(exc: ApiException) -> XeroError | None:
    """Sort an xero-python exception; None when it isn't a Xero answer this module knows."""
    if isinstance(exc, HTTPStatusException) or exc.http_resp is not None:
        status = getattr(exc.http_resp, "status", None)
        if status is None:
            return None
        headers = dict(exc.http_resp.getheaders()) if exc.http_resp is not None else {}
        return from_http(status, exc.body, headers)
    return None
