"""Every Xero API call, through xero-python, one typed function per operation.

Callers pass and receive plain data in Xero's wire shape (PascalCase dicts, dates as "/Date(ms)/"), so
the payload stored beside a sync record is exactly what was sent. The SDK is configured here once: base
URLs from settings, no urllib3 retries (the Celery task owns retries), a timeout, and an
`Idempotency-Key` on every write. Tokens are obtained by the caller and never logged.
"""

import datetime
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import urllib3
from django.conf import settings
from xero_python.accounting import AccountingApi
from xero_python.api_client import ApiClient, serialize
from xero_python.api_client.configuration import Configuration
from xero_python.api_client.deserializer import deserialize
from xero_python.api_client.oauth2 import OAuth2Token
from xero_python.exceptions import ApiException
from xero_python.identity import IdentityApi

from . import errors
from .endpoints import checked

logger = logging.getLogger(__name__)
BATCH_RESULT_OK = ("OK", "WARNING")


@dataclass(frozen=True)
class Credentials:
    """What one call needs: a valid access token and, for the accounting API, the organisation."""

    access_token: str
    tenant_id: str = ""


@dataclass(frozen=True)
class Element:
    """One element of a batch answer: `data` is Xero's record, `errors` its validation messages."""

    data: dict
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def xero_date(value: datetime.date | datetime.datetime) -> str:
    """A date in Xero's wire format."""
    if isinstance(value, datetime.datetime):
        value = value.astimezone(datetime.UTC).date()
    midnight = datetime.datetime.combine(value, datetime.time(), tzinfo=datetime.UTC)
    return f"/Date({int(midnight.timestamp() * 1000)}+0000)/"


def parse_xero_date(value: str | None) -> datetime.date | None:
    """The date of a "/Date(ms[+zone])/" or ISO value, as Xero or xero-python write it."""
    if not value:
        return None
    if value.startswith("/Date("):
        millis = int(value[6:].split(")")[0].split("+")[0].split("-")[0])
        return datetime.datetime.fromtimestamp(millis / 1000, tz=datetime.UTC).date()
    return datetime.date.fromisoformat(value[:10])


def _api_client(access_token: str) -> ApiClient:
    token = {"access_token": access_token, "token_type": "Bearer", "scope": [], "expires_in": None}
    # Configuration() hands out copies of the first instance ever made, ignoring its arguments: set
    # the token holder on the copy.
    configuration = Configuration()
    configuration.oauth2_token = OAuth2Token(settings.XERO_CLIENT_ID, settings.XERO_CLIENT_SECRET)
    client = ApiClient(
        configuration,
        pool_threads=1,
        oauth2_token_getter=lambda: token,
        oauth2_token_saver=lambda new: None,
    )
    # The SDK retries PUTs on a dropped connection (creating duplicates) and sleeps on 429s: no retries.
    client.rest_client.pool_manager = urllib3.PoolManager(num_pools=4, maxsize=4, retries=False)
    return client


def _api_url() -> str:
    return checked(settings.XERO_API_URL, "XERO_API_URL").rstrip("/")


def _accounting(access_token: str) -> AccountingApi:
    return AccountingApi(_api_client(access_token), base_url=_api_url() + "/api.xro/2.0")


def _identity(access_token: str) -> IdentityApi:
    return IdentityApi(_api_client(access_token), base_url=_api_url())


@cache
def _model_finder():
    return AccountingApi(ApiClient()).get_model_finder()


def _model(type_name: str, data: dict):
    return deserialize(type_name, data, _model_finder())


def _call(operation: str, call: Callable[[], Any]) -> Any:
    """Run one SDK call; return its data or raise a sorted XeroError."""
    try:
        return call()
    except ApiException as exc:
        sorted_error = errors.from_sdk(exc)
        logger.info("Xero %s failed: %s", operation, type(sorted_error or exc).__name__)
        if sorted_error is None:
            raise
        raise sorted_error from None
    except (
        urllib3.exceptions.TimeoutError,
        urllib3.exceptions.ProtocolError,
        urllib3.exceptions.NewConnectionError,
        urllib3.exceptions.MaxRetryError,
        ConnectionError,
    ) as exc:
        logger.info("Xero %s failed: %s", operation, type(exc).__name__)
        raise errors.XeroUnavailable(f"Xero did not answer ({type(exc).__name__}); it will be retried.") from None


def _records(data, attribute: str) -> list[dict]:
    return [serialize(item) for item in (getattr(data, attribute, None) or [])]


def _element(item: dict) -> Element:
    messages = [e.get("Message", "") for e in item.get("ValidationErrors") or []]
    if item.get("StatusAttributeString") not in (None, *BATCH_RESULT_OK) and not messages:
        messages = [f"Xero answered {item.get('StatusAttributeString')} for this record."]
    return Element(item, messages)


def _elements(records: list[dict]) -> list[Element]:
    return [_element(item) for item in records]


def _opts() -> dict:
    return {"_request_timeout": (5.0, settings.XERO_HTTP_TIMEOUT)}


# Identity ---------------------------------------------------------------------------------------


def connections_list(access_token: str, *, auth_event_id: str | None = None) -> list[dict]:
    """The organisations this token may use; with `auth_event_id`, only those of that consent."""
    kwargs = {"auth_event_id": auth_event_id} if auth_event_id else {}
    data = _call("connections_list", lambda: _identity(access_token).get_connections(**kwargs, **_opts()))
    return [
        {
            "id": str(c.id),
            "tenant_id": str(c.tenant_id),
            "tenant_name": c.tenant_name,
            "tenant_type": c.tenant_type,
            "auth_event_id": str(c.auth_event_id or ""),
        }
        for c in data or []
    ]


def connection_delete(access_token: str, connection_id: str) -> None:
    _call("connection_delete", lambda: _identity(access_token).delete_connection(connection_id, **_opts()))


# Settings ---------------------------------------------------------------------------------------


def accounts_list(creds: Credentials) -> list[dict]:
    data = _call("accounts_list", lambda: _accounting(creds.access_token).get_accounts(creds.tenant_id, **_opts()))
    return _records(data, "accounts")


def _batch(
    operation: str,
    method: str,
    type_name: str,
    attribute: str,
    creds: Credentials,
    records: list[dict],
    idempotency_key: str,
) -> list[Element]:
    body = _model(type_name, {type_name: records})
    api = _accounting(creds.access_token)
    data = _call(
        operation,
        lambda: getattr(api, method)(
            creds.tenant_id, body, summarize_errors=False, idempotency_key=idempotency_key, **_opts()
        ),
    )
    return _elements(_records(data, attribute))


def contacts_upsert(creds: Credentials, contacts: list[dict], *, idempotency_key: str) -> list[Element]:
    """Create or update contacts (matched by ContactID, else ContactNumber)."""
    return _batch(
        "contacts_upsert", "update_or_create_contacts", "Contacts", "contacts", creds, contacts, idempotency_key
    )


def invoices_create(creds: Credentials, invoices: list[dict], *, idempotency_key: str) -> list[Element]:
    return _batch("invoices_create", "create_invoices", "Invoices", "invoices", creds, invoices, idempotency_key)


def invoices_update(creds: Credentials, invoices: list[dict], *, idempotency_key: str) -> list[Element]:
    """Update invoices by InvoiceID (e.g. {"InvoiceID": ..., "Status": "VOIDED"})."""
    return _batch(
        "invoices_update", "update_or_create_invoices", "Invoices", "invoices", creds, invoices, idempotency_key
    )


def payments_create(creds: Credentials, payments: list[dict], *, idempotency_key: str) -> list[Element]:
    return _batch("payments_create", "create_payments", "Payments", "payments", creds, payments, idempotency_key)


def bank_transactions_create(creds: Credentials, transactions: list[dict], *, idempotency_key: str) -> list[Element]:
    return _batch(
        "bank_transactions_create",
        "create_bank_transactions",
        "BankTransactions",
        "bank_transactions",
        creds,
        transactions,
        idempotency_key,
    )


def overpayment_allocate(
    creds: Credentials, overpayment_id: str, allocations: list[dict], *, idempotency_key: str
) -> list[Element]:
    body = _model("Allocations", {"Allocations": allocations})
    api = _accounting(creds.access_token)
    data = _call(
        "overpayment_allocate",
        lambda: api.create_overpayment_allocations(
            creds.tenant_id, overpayment_id, body, summarize_errors=False, idempotency_key=idempotency_key, **_opts()
        ),
    )
    return _elements(_records(data, "allocations"))


# Look-ups before re-creating after an unclear failure ---------------------------------------------


def invoices_find(creds: Credentials, invoice_numbers: list[str]) -> list[dict]:
    data = _call(
        "invoices_find",
        lambda: _accounting(creds.access_token).get_invoices(
            creds.tenant_id, invoice_numbers=list(invoice_numbers), **_opts()
        ),
    )
    return _records(data, "invoices")


def payments_find(creds: Credentials, references: list[str]) -> list[dict]:
    where = " OR ".join(f'Reference=="{_quote(r)}"' for r in references)
    data = _call(
        "payments_find", lambda: _accounting(creds.access_token).get_payments(creds.tenant_id, where=where, **_opts())
    )
    return _records(data, "payments")


def bank_transactions_find(creds: Credentials, references: list[str]) -> list[dict]:
    where = " OR ".join(f'Reference=="{_quote(r)}"' for r in references)
    data = _call(
        "bank_transactions_find",
        lambda: _accounting(creds.access_token).get_bank_transactions(creds.tenant_id, where=where, **_opts()),
    )
    return _records(data, "bank_transactions")


def overpayments_find(creds: Credentials, contact_id: str) -> list[dict]:
    """A contact's overpayments (Xero keeps no Reference on them, so they are matched by contact)."""
    where = f'Contact.ContactID==Guid("{_quote(contact_id)}")'
    data = _call(
        "overpayments_find",
        lambda: _accounting(creds.access_token).get_overpayments(creds.tenant_id, where=where, **_opts()),
    )
    return _records(data, "overpayments")


def overpayment_get(creds: Credentials, overpayment_id: str) -> dict:
    data = _call(
        "overpayment_get",
        lambda: _accounting(creds.access_token).get_overpayment(creds.tenant_id, overpayment_id, **_opts()),
    )
    return _records(data, "overpayments")[0]


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')
