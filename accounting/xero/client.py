"""Every Xero API call, through xero-python, one typed function per operation.

Callers pass and receive plain data in Xero's wire shape (PascalCase dicts, dates as "/Date(ms)/"), so
the payload stored beside a sync record is exactly what was sent. The SDK is configured here once: base
URLs from settings, no urllib3 retries (the Celery task owns retries), a timeout, and an
`Idempotency-Key` on every write. Tokens are obtained by the caller and never logged.

Why one long module: it is the one place that owns every remote call (STYLE), configured once; one short
function per Xero operation reads better side by side than spread over files.
"""

import datetime
import json
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

from . import errors, limits
from .endpoints import checked

logger = logging.getLogger(__name__)
BATCH_RESULT_OK = ("OK", "WARNING")
XERO_PAGE_SIZE = 100  # what Xero returns per page unless asked otherwise


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


def xero_date(value: datetime.date | datetime.datetime, tz: datetime.tzinfo | None = None) -> str:
    """A date in Xero's wire format. A moment (datetime) becomes its calendar date in `tz`, the
    whitelabel's time zone: a payment at 08:00 in Sydney on 1 July is dated 1 July, not 30 June."""
    if isinstance(value, datetime.datetime):
        if tz is None:
            raise ValueError("A moment needs the time zone whose calendar date Xero should get.")
        value = value.astimezone(tz).date()
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


@cache
def _pool() -> urllib3.PoolManager:
    # One pool per process, shared by threads. The SDK retries PUTs on a dropped connection (creating
    # duplicates) and sleeps on 429s: no retries here; the sync engine owns retries.
    return urllib3.PoolManager(num_pools=8, maxsize=8, retries=False)


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
    client.rest_client.pool_manager = _pool()
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


def _headers(response) -> dict:
    try:
        return dict(response.getheaders()) if response is not None else {}
    except AttributeError:
        return {}


def _call(operation: str, call: Callable[[], Any], *, api=None, tenant_id: str = "") -> Any:
    """Run one SDK call; return its data or raise a sorted XeroError.

    With `tenant_id` (every accounting call) the call first takes a permit from the shared rate
    limiter and afterwards tells it what Xero says is left.
    """
    permit = limits.acquire(tenant_id) if tenant_id else None
    headers: dict = {}
    try:
        result = call()
        headers = _headers(getattr(getattr(api, "api_client", None), "last_response", None))
        return result
    except ApiException as exc:
        headers = _headers(exc.http_resp)
        sorted_error = errors.from_sdk(exc)
        logger.info("Xero %s failed: %s", operation, type(sorted_error or exc).__name__)
        if isinstance(sorted_error, errors.XeroRateLimited) and tenant_id:
            limits.refused(tenant_id, retry_after=sorted_error.retry_after, problem=sorted_error.problem)
        if sorted_error is None:
            raise
        raise sorted_error from None
    except (
        urllib3.exceptions.TimeoutError,
        urllib3.exceptions.ProtocolError,
        urllib3.exceptions.NewConnectionError,
        urllib3.exceptions.MaxRetryError,
        urllib3.exceptions.SSLError,
        ConnectionError,
    ) as exc:
        logger.info("Xero %s failed: %s", operation, type(exc).__name__)
        raise errors.XeroUnavailable(f"Xero did not answer ({type(exc).__name__}); it will be retried.") from None
    finally:
        if permit is not None:
            limits.release(permit, headers)


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


def _read(operation: str, creds: Credentials, method: str, attribute: str, **kwargs) -> list[dict]:
    api = _accounting(creds.access_token)
    data = _call(
        operation,
        lambda: getattr(api, method)(creds.tenant_id, **kwargs, **_opts()),
        api=api,
        tenant_id=creds.tenant_id,
    )
    return _records(data, attribute)


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
    return _read("accounts_list", creds, "get_accounts", "accounts")


def tax_rates_list(creds: Credentials) -> list[dict]:
    return _read("tax_rates_list", creds, "get_tax_rates", "tax_rates")


def tracking_categories_list(creds: Credentials) -> list[dict]:
    """The organisation's tracking categories with their options, archived ones included (Status says)."""
    return _read(
        "tracking_categories_list", creds, "get_tracking_categories", "tracking_categories", include_archived=True
    )


def currencies_list(creds: Credentials) -> list[dict]:
    return _read("currencies_list", creds, "get_currencies", "currencies")


def organisation_get(creds: Credentials) -> dict:
    rows = _read("organisation_get", creds, "get_organisations", "organisations")
    return rows[0] if rows else {}


def _write_opts() -> dict:
    """A write's options: its timeout, and its answer left undecoded for `_answer`."""
    return {**_opts(), "_preload_content": False}


def _body(response) -> bytes:
    """A write's answer, read whole (inside `_call`: a connection dropped mid-answer is Xero not answering)."""
    try:
        return response.data
    finally:
        response.release_conn()


def _answer(body: bytes, attribute: str) -> list[dict]:
    """The records of a write's answer as Xero wrote them, decoded from JSON once. xero-python would build a
    model of every record (its `_preload_content`) that `_records` then turned back into the same dicts: about 9 ms
    of a 50-record call's 48 (bench/RESULTS.md). The key is the SDK attribute's: bank_transactions, BankTransactions."""
    try:
        answer = json.loads(body) if body else {}
    except ValueError:
        answer = None
    if not isinstance(answer, dict):  # not Xero's JSON (a proxy's page?): the write may have happened
        raise errors.XeroUnavailable("Xero's answer could not be read; it will be retried.")
    return answer.get("".join(part.title() for part in attribute.split("_"))) or []


def _write(operation: str, creds: Credentials, call: Callable[[AccountingApi], Any], attribute: str) -> list[Element]:
    """`call` passes `_write_opts()`: the answer comes back undecoded."""
    api = _accounting(creds.access_token)
    body = _call(operation, lambda: _body(call(api)), api=api, tenant_id=creds.tenant_id)
    return _elements(_answer(body, attribute))


def _batch(
    operation: str,
    method: str,
    type_name: str,
    attribute: str,
    creds: Credentials,
    records: list[dict],
    idempotency_key: str,
    **options,
) -> list[Element]:
    body = _model(type_name, {type_name: records})
    return _write(
        operation,
        creds,
        lambda api: getattr(api, method)(
            creds.tenant_id, body, summarize_errors=False, idempotency_key=idempotency_key, **options, **_write_opts()
        ),
        attribute,
    )


# Unit prices of invoice and credit note lines have up to four decimal places: without unitdp=4 Xero would
# round them to two (the line amounts would then differ from Arena's).
UNIT_PRICES = {"unitdp": 4}


def contacts_upsert(creds: Credentials, contacts: list[dict], *, idempotency_key: str) -> list[Element]:
    """Create or update contacts (matched by ContactID, else ContactNumber)."""
    return _batch(
        "contacts_upsert", "update_or_create_contacts", "Contacts", "contacts", creds, contacts, idempotency_key
    )


def invoices_create(creds: Credentials, invoices: list[dict], *, idempotency_key: str) -> list[Element]:
    return _batch(
        "invoices_create", "create_invoices", "Invoices", "invoices", creds, invoices, idempotency_key, **UNIT_PRICES
    )


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


def _allocate(
    operation: str, method: str, creds: Credentials, credit_id: str, allocations: list[dict], idempotency_key: str
) -> list[Element]:
    body = _model("Allocations", {"Allocations": allocations})
    return _write(
        operation,
        creds,
        lambda api: getattr(api, method)(
            creds.tenant_id, credit_id, body, summarize_errors=False, idempotency_key=idempotency_key, **_write_opts()
        ),
        "allocations",
    )


def overpayment_allocate(
    creds: Credentials, overpayment_id: str, allocations: list[dict], *, idempotency_key: str
) -> list[Element]:
    """Apply one overpayment to invoices: one call per overpayment, any number of invoices."""
    return _allocate(
        "overpayment_allocate", "create_overpayment_allocations", creds, overpayment_id, allocations, idempotency_key
    )


def credit_notes_create(creds: Credentials, credit_notes: list[dict], *, idempotency_key: str) -> list[Element]:
    return _batch(
        "credit_notes_create",
        "create_credit_notes",
        "CreditNotes",
        "credit_notes",
        creds,
        credit_notes,
        idempotency_key,
        **UNIT_PRICES,
    )


def prepayment_allocate(
    creds: Credentials, prepayment_id: str, allocations: list[dict], *, idempotency_key: str
) -> list[Element]:
    """Apply one prepayment (credit a person entered in Xero as money received in advance) to invoices."""
    return _allocate(
        "prepayment_allocate", "create_prepayment_allocations", creds, prepayment_id, allocations, idempotency_key
    )


def credit_note_allocate(
    creds: Credentials, credit_note_id: str, allocations: list[dict], *, idempotency_key: str
) -> list[Element]:
    """Apply one credit note to invoices: one call per credit note, any number of invoices."""
    return _allocate(
        "credit_note_allocate", "create_credit_note_allocation", creds, credit_note_id, allocations, idempotency_key
    )


def payment_delete(creds: Credentials, payment_id: str, *, idempotency_key: str) -> list[Element]:
    """Delete one payment (Xero can't edit payments): the invoice is owed again, or a refunded credit is back."""
    body = _model("PaymentDelete", {"Status": "DELETED"})
    return _write(
        "payment_delete",
        creds,
        lambda api: api.delete_payment(
            creds.tenant_id, payment_id, body, idempotency_key=idempotency_key, **_write_opts()
        ),
        "payments",
    )


def bank_transaction_delete(creds: Credentials, transaction: dict, *, idempotency_key: str) -> list[Element]:
    """Delete one bank transaction (a receipt, or the RECEIVE-OVERPAYMENT behind a credit). Xero's schema
    wants the transaction's Type, lines and bank account even to delete it: `transaction` carries them."""
    body = _model("BankTransactions", {"BankTransactions": [{**transaction, "Status": "DELETED"}]})
    return _write(
        "bank_transaction_delete",
        creds,
        lambda api: api.update_bank_transaction(
            creds.tenant_id, transaction["BankTransactionID"], body, idempotency_key=idempotency_key, **_write_opts()
        ),
        "bank_transactions",
    )


# Look-ups before re-creating after an unclear failure ---------------------------------------------


def invoices_find(creds: Credentials, invoice_numbers: list[str]) -> list[dict]:
    return _read("invoices_find", creds, "get_invoices", "invoices", invoice_numbers=list(invoice_numbers))


def payments_find(creds: Credentials, references: list[str]) -> list[dict]:
    where = " OR ".join(f'Reference=="{_quote(r)}"' for r in references)
    return _read("payments_find", creds, "get_payments", "payments", where=where)


def bank_transactions_find(creds: Credentials, references: list[str]) -> list[dict]:
    where = " OR ".join(f'Reference=="{_quote(r)}"' for r in references)
    return _read("bank_transactions_find", creds, "get_bank_transactions", "bank_transactions", where=where)


def bank_transaction_of_overpayment(creds: Credentials, overpayment_id: str) -> dict | None:
    """The RECEIVE-OVERPAYMENT bank transaction behind an overpayment (its OverpaymentID names it)."""
    where = f'OverpaymentID==Guid("{_quote(overpayment_id)}")'
    rows = _read("bank_transaction_of_overpayment", creds, "get_bank_transactions", "bank_transactions", where=where)
    return rows[0] if rows else None


def overpayments_find(creds: Credentials, contact_ids: list[str]) -> list[dict]:
    """The contacts' overpayments with their line items, which Xero lists only page by page (it keeps
    no Reference on overpayments, so their line is how they are recognised)."""
    where = " OR ".join(f'Contact.ContactID==Guid("{_quote(c)}")' for c in contact_ids)
    found, page = [], 1
    while True:
        rows = _read("overpayments_find", creds, "get_overpayments", "overpayments", where=where, page=page)
        found += rows
        if len(rows) < XERO_PAGE_SIZE:
            return found
        page += 1


def overpayment_get(creds: Credentials, overpayment_id: str) -> dict:
    rows = _read("overpayment_get", creds, "get_overpayment", "overpayments", overpayment_id=overpayment_id)
    return rows[0]


def prepayment_get(creds: Credentials, prepayment_id: str) -> dict:
    rows = _read("prepayment_get", creds, "get_prepayment", "prepayments", prepayment_id=prepayment_id)
    return rows[0]


def prepayments_find(creds: Credentials, prepayment_ids: list[str]) -> list[dict]:
    """The prepayments named, read in one call (Xero's prepayments take no IDs parameter: a `where`)."""
    where = " OR ".join(f'PrepaymentID==Guid("{_quote(p)}")' for p in prepayment_ids)
    return _read("prepayments_find", creds, "get_prepayments", "prepayments", where=where)


def credit_notes_find(creds: Credentials, numbers: list[str]) -> list[dict]:
    where = " OR ".join(f'CreditNoteNumber=="{_quote(n)}"' for n in numbers)
    return _read("credit_notes_find", creds, "get_credit_notes", "credit_notes", where=where)


def credit_note_get(creds: Credentials, credit_note_id: str) -> dict:
    return _read("credit_note_get", creds, "get_credit_note", "credit_notes", credit_note_id=credit_note_id)[0]


def payment_get(creds: Credentials, payment_id: str) -> dict:
    return _read("payment_get", creds, "get_payment", "payments", payment_id=payment_id)[0]


def bank_transaction_get(creds: Credentials, bank_transaction_id: str) -> dict:
    return _read(
        "bank_transaction_get",
        creds,
        "get_bank_transaction",
        "bank_transactions",
        bank_transaction_id=bank_transaction_id,
    )[0]


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


# Reading Xero's books back (the reconcile and webhooks) --------------------------------------------
# One page per call: the caller loops, so each page is its own call through the rate limiter (and its own
# 401-refresh in accounting.connection.xero_call). A page shorter than `page_size` is the last one.


def _modified(modified_since: datetime.datetime | None) -> dict:
    """Xero's If-Modified-Since: records whose UpdatedDateUTC is at or after this moment (UTC)."""
    if modified_since is None:
        return {}
    return {"if_modified_since": modified_since.astimezone(datetime.UTC).replace(microsecond=0)}


def contacts_page(
    creds: Credentials, *, page: int, modified_since: datetime.datetime | None = None, page_size: int = XERO_PAGE_SIZE
) -> list[dict]:
    """One page of the organisation's contacts, archived ones included (a person may have archived one)."""
    return _read(
        "contacts_page",
        creds,
        "get_contacts",
        "contacts",
        page=page,
        page_size=page_size,
        include_archived=True,
        **_modified(modified_since),
    )


def invoices_page(
    creds: Credentials, *, page: int, modified_since: datetime.datetime | None = None, page_size: int = XERO_PAGE_SIZE
) -> list[dict]:
    """One page of sales invoices (ACCREC) of every status, with their payments."""
    return _read(
        "invoices_page",
        creds,
        "get_invoices",
        "invoices",
        where='Type=="ACCREC"',
        page=page,
        page_size=page_size,
        **_modified(modified_since),
    )


def payments_page(
    creds: Credentials, *, page: int, modified_since: datetime.datetime | None = None, page_size: int = XERO_PAGE_SIZE
) -> list[dict]:
    """One page of payments, deleted ones included (Xero lists them with Status DELETED)."""
    return _read(
        "payments_page", creds, "get_payments", "payments", page=page, page_size=page_size, **_modified(modified_since)
    )


@dataclass(frozen=True)
class Page:
    """One page of a listing, and how many pages Xero says there are (None when it doesn't say)."""

    rows: list[dict]
    page_count: int | None


def payments_changed(
    creds: Credentials, *, page: int, modified_since: datetime.datetime | None = None, page_size: int = XERO_PAGE_SIZE
) -> Page:
    """One page of payments changed from `modified_since` on, oldest change first (deleted ones included), so
    that a reader can keep how far it got: what a person entered or deleted in Xero. Xero's `pagination` says
    how many pages there are: the reader stops at the last without asking for an empty one."""
    api = _accounting(creds.access_token)
    data = _call(
        "payments_changed",
        lambda: api.get_payments(
            creds.tenant_id,
            order="UpdatedDateUTC ASC",
            page=page,
            page_size=page_size,
            **_modified(modified_since),
            **_opts(),
        ),
        api=api,
        tenant_id=creds.tenant_id,
    )
    pagination = getattr(data, "pagination", None)
    page_count = getattr(pagination, "page_count", None) if pagination is not None else None
    return Page(_records(data, "payments"), page_count if isinstance(page_count, int) else None)


def credit_notes_page(
    creds: Credentials, *, page: int, modified_since: datetime.datetime | None = None, page_size: int = XERO_PAGE_SIZE
) -> list[dict]:
    """One page of sales credit notes (ACCRECCREDIT) of every status, with their allocations."""
    return _read(
        "credit_notes_page",
        creds,
        "get_credit_notes",
        "credit_notes",
        where='Type=="ACCRECCREDIT"',
        page=page,
        page_size=page_size,
        **_modified(modified_since),
    )


def overpayments_page(
    creds: Credentials, *, page: int, modified_since: datetime.datetime | None = None, page_size: int = XERO_PAGE_SIZE
) -> list[dict]:
    """One page of overpayments (customers' credit), with their allocations and RemainingCredit."""
    return _read(
        "overpayments_page",
        creds,
        "get_overpayments",
        "overpayments",
        page=page,
        page_size=page_size,
        **_modified(modified_since),
    )


def prepayments_page(
    creds: Credentials, *, page: int, modified_since: datetime.datetime | None = None, page_size: int = XERO_PAGE_SIZE
) -> list[dict]:
    """One page of prepayments (money received in advance, entered in Xero), with their allocations."""
    return _read(
        "prepayments_page",
        creds,
        "get_prepayments",
        "prepayments",
        page=page,
        page_size=page_size,
        **_modified(modified_since),
    )


def receipts_page(
    creds: Credentials, *, page: int, modified_since: datetime.datetime | None = None, page_size: int = XERO_PAGE_SIZE
) -> list[dict]:
    """One page of RECEIVE and SPEND bank transactions (money received without an invoice and money paid
    back: pre-paid receipts and refund receipts)."""
    return _read(
        "receipts_page",
        creds,
        "get_bank_transactions",
        "bank_transactions",
        where='Type=="RECEIVE" OR Type=="SPEND"',
        page=page,
        page_size=page_size,
        **_modified(modified_since),
    )


def invoices_get(creds: Credentials, invoice_ids: list[str]) -> list[dict]:
    """These invoices as Xero has them now, in one call (a webhook names them by id)."""
    return _read("invoices_get", creds, "get_invoices", "invoices", i_ds=list(invoice_ids))


def contacts_by_id(creds: Credentials, contact_ids: list[str]) -> list[dict]:
    """These contacts as Xero has them now, archived ones included, page by page: Xero names the contact a
    merged one was merged into (MergedToContactID) only when paging, or fetching one by id."""
    found, page = [], 1
    while True:
        rows = _read(
            "contacts_by_id",
            creds,
            "get_contacts",
            "contacts",
            i_ds=list(contact_ids),
            include_archived=True,
            page=page,
        )
        found += rows
        if len(rows) < XERO_PAGE_SIZE:
            return found
        page += 1


def contacts_get(creds: Credentials, contact_ids: list[str]) -> list[dict]:
    """These contacts as Xero has them now, archived or not, in one call."""
    return _read("contacts_get", creds, "get_contacts", "contacts", i_ds=list(contact_ids), include_archived=True)
