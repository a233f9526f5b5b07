"""Errors the sandbox raises and the Xero-shaped bodies they become."""
from .wire import new_id


class ValidationFailed(Exception):
    """One element of a request is invalid; ``messages`` are Xero's ValidationErrors[].Message."""

    def __init__(self, *messages: str):
        super().__init__("; ".join(messages))
        self.messages = list(messages)


class XeroError(Exception):
    """An HTTP error response with a Xero-shaped JSON body."""

    def __init__(self, status: int, body: dict, headers: dict | None = None):
        super().__init__(f"{status} {body}")
        self.status = status
        self.body = body
        self.headers = headers or {}


def problem(status: int, title: str, detail: str, **extensions) -> dict:
    """The body Xero's gateway sends for 401/403/404/429/5xx."""
    return {
        "Type": None, "Title": title, "Status": status, "Detail": detail,
        "Instance": new_id(), "Extensions": extensions,
    }


def unauthorized(detail: str = "AuthenticationUnsuccessful", reason: str | None = None) -> XeroError:
    extensions = {"sandboxReason": reason} if reason else {}
    headers = {"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{reason or detail}"'}
    return XeroError(401, problem(401, "Unauthorized", detail, **extensions), headers)


def forbidden(reason: str) -> XeroError:
    return XeroError(403, problem(403, "Forbidden", "AuthorizationUnsuccessful", sandboxReason=reason))


def not_found(what: str = "The resource you're looking for cannot be found") -> XeroError:
    return XeroError(404, problem(404, "NotFound", what))


def bad_request(message: str, number: int = 10, type_: str = "ValidationException") -> XeroError:
    """A 400 without elements (malformed query, bad where clause, idempotency misuse...)."""
    return XeroError(400, {"ErrorNumber": number, "Type": type_, "Message": message})


def validation_exception(elements: list[dict]) -> XeroError:
    return XeroError(
        400,
        {
            "ErrorNumber": 10, "Type": "ValidationException", "Message": "A validation exception occurred",
            "Elements": elements,
        },
    )
