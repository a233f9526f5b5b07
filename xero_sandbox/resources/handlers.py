"""Routes of the Accounting API and the generic list (filter/page) and batch (create/update) logic."""
import re
from dataclasses import dataclass
from datetime import timezone
from email.utils import parsedate_to_datetime

from ..errors import ValidationFailed, bad_request, not_found, validation_exception
from ..indexes import in_book_order, invoices_numbered
from ..where import WhereError, compile_where
from ..wire import envelope, parse_datetime
from . import bank_transactions, contacts, creditnotes, credits, invoices, payments, settings
from .common import Ctx, echo

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
ROUTES: list[tuple[str, re.Pattern, object, str]] = []


@dataclass
class Call:
    """One API call as the handlers see it."""

    ctx: Ctx
    provider_name: str
    params: dict
    query: object
    headers: object
    body: object

    def respond(self, **collections) -> tuple[int, dict]:
        return 200, envelope(self.provider_name, self.ctx.now, **collections)


def route(method: str, template: str):
    pattern = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template) + "/?$", re.IGNORECASE)

    def register(handler):
        ROUTES.append((method, pattern, handler, template))
        return handler

    return register


def match(method: str, resource: str):
    """(handler, path parameters, route template such as ``Invoices/{identifier}``) or None."""
    for route_method, pattern, handler, template in ROUTES:
        found = pattern.match(resource)
        if found and route_method == method:
            return handler, found.groupdict(), template
    return None


def _flag(value, default: bool) -> bool:
    if value is None:
        return default
    return value.strip().lower() not in ("false", "0", "no")


def _csv(call: Call, name: str) -> list[str] | None:
    value = call.query.get(name)
    if value is None:
        return None
    return [part.strip().strip('"').strip() for part in value.split(",") if part.strip()]


def _modified_since(call: Call):
    value = call.headers.get("If-Modified-Since")
    if not value:
        return None
    try:
        return parse_datetime(value)
    except ValueError:
        pass
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        raise bad_request(f"If-Modified-Since header is not a valid date: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _by_ids(call: Call, records: list, attr: str) -> list:
    """The ``IDs`` filter applied to records before they are rendered (rendering is the costly part)."""
    ids = _csv(call, "IDs")
    if ids is None:
        return records
    wanted = {i.lower() for i in ids}
    return [r for r in records if getattr(r, attr) in wanted]


def listing(call: Call, collection: str, items: list[dict], *, id_key: str | None = None) -> tuple[int, dict]:
    """Apply IDs, where, If-Modified-Since, order and paging, as Xero's GET endpoints do."""
    ids = _csv(call, "IDs")
    if ids is not None and id_key:
        wanted = {i.lower() for i in ids}
        items = [item for item in items if str(item.get(id_key, "")).lower() in wanted]
    where = call.query.get("where")
    if where:
        try:
            predicate = compile_where(where)
            items = [item for item in items if predicate(item)]
        except WhereError as error:
            raise bad_request(f"The where clause could not be parsed: {error}") from None
    since = _modified_since(call)
    if since is not None:
        items = [item for item in items if parse_datetime(item["UpdatedDateUTC"]) >= since]
    items = _order(items, call.query.get("order"))
    return _page(call, collection, items)


def _order(items: list[dict], order: str | None) -> list[dict]:
    if not order:
        return items
    for clause in reversed(order.split(",")):
        parts = clause.split()
        if not parts or len(parts) > 2 or (len(parts) == 2 and parts[1].upper() not in ("ASC", "DESC")):
            raise bad_request(f"The order clause could not be parsed: {order!r}")
        field, descending = parts[0], len(parts) == 2 and parts[1].upper() == "DESC"
        present = [i for i in items if i.get(field) is not None]
        missing = [i for i in items if i.get(field) is None]
        present.sort(key=lambda item: _sort_key(item[field]), reverse=descending)
        items = present + missing
    return items


def _sort_key(value):
    """Numbers, then dates (Xero's /Date()/ strings), then text, each in natural order."""
    if isinstance(value, str) and value.startswith("/Date("):
        return (1, parse_datetime(value).timestamp(), "")
    if isinstance(value, str):
        return (2, 0, value.casefold())
    return (0, value, "")


def _page(call: Call, collection: str, items: list[dict]) -> tuple[int, dict]:
    page = call.query.get("page")
    if page is None:
        return call.respond(**{collection: items})
    try:
        number = int(page)
        size = int(call.query.get("pageSize", DEFAULT_PAGE_SIZE))
    except ValueError:
        raise bad_request("page and pageSize must be whole numbers") from None
    if number < 1 or size < 1:
        raise bad_request("page and pageSize must be positive")
    size = min(size, MAX_PAGE_SIZE)
    start = (number - 1) * size
    pagination = {"page": number, "pageSize": size, "pageCount": -(-len(items) // size), "itemCount": len(items)}
    return call.respond(pagination=pagination, **{collection: items[start:start + size]})


def _elements(body, collection: str) -> list:
    if isinstance(body, list):
        return body
    if not isinstance(body, dict):
        raise bad_request("JSON for post data was invalid", number=14, type_="PostDataInvalidException")
    for key, value in body.items():
        if key.lower() == collection.lower():
            return value if isinstance(value, list) else [value]
    return [body] if body else []


def batch(call: Call, collection: str, save, render, *, enums=None, error_flag=None) -> tuple[int, dict]:
    """Save every element; failures don't stop the others (Xero batches are not atomic)."""
    summarize = _flag(call.query.get("summarizeErrors"), True)
    results, failures = [], []
    for element in _elements(call.body, collection):
        try:
            if not isinstance(element, dict):
                raise ValidationFailed("Each element must be a JSON object")
            rendered = render(save(call.ctx, element))
            if not summarize:
                rendered["StatusAttributeString"] = "OK"
            results.append(rendered)
        except ValidationFailed as failure:
            failed = echo(element, enums) if isinstance(element, dict) else {}
            if error_flag:
                failed[error_flag] = True
            failed["StatusAttributeString"] = "ERROR"
            failed["ValidationErrors"] = [{"Message": message} for message in failure.messages]
            results.append(failed)
            failures.append(failed)
    if failures and summarize:
        raise validation_exception(failures)
    return call.respond(**{collection: results})


def _single(call: Call, collection: str, record, render) -> tuple[int, dict]:
    if record is None:
        raise not_found()
    return call.respond(**{collection: [render(record)]})


# Settings ------------------------------------------------------------------------------------


@route("GET", "Organisation")
def get_organisation(call: Call):
    return call.respond(Organisations=[settings.organisation_json(call.ctx.book)])


@route("GET", "Accounts")
def list_accounts(call: Call):
    accounts = sorted(call.ctx.book.accounts.values(), key=lambda a: a.code)
    return listing(call, "Accounts", [settings.account_json(a) for a in accounts], id_key="AccountID")


@route("GET", "Accounts/{account_id}")
def get_account(call: Call):
    account = call.ctx.book.accounts.get(call.params["account_id"].lower())
    return _single(call, "Accounts", account, settings.account_json)


@route("GET", "TaxRates")
def list_tax_rates(call: Call):
    rates = [settings.tax_rate_json(r) for r in call.ctx.book.tax_rates.values()]
    tax_type = call.query.get("TaxType")
    if tax_type:
        rates = [r for r in rates if r["TaxType"] == tax_type]
    return listing(call, "TaxRates", rates)


@route("GET", "TrackingCategories")
def list_tracking_categories(call: Call):
    """Active categories and their active options; with includeArchived=true, archived ones too (as Xero)."""
    archived = _flag(call.query.get("includeArchived"), False)
    categories = [
        settings.tracking_category_json(c, include_archived=archived)
        for c in sorted(call.ctx.book.tracking_categories.values(), key=lambda c: c.name)
        if archived or c.status == "ACTIVE"
    ]
    return listing(call, "TrackingCategories", categories)


@route("GET", "Currencies")
def list_currencies(call: Call):
    codes = call.ctx.book.organisation.currencies
    return listing(call, "Currencies", [settings.currency_json(code) for code in codes])


# Contacts ------------------------------------------------------------------------------------


def _contact_renderer(call: Call):
    book, today = call.ctx.book, call.ctx.today
    return lambda contact: contacts.contact_json(book, contact, today)


def _contacts_renderer(call: Call):
    """For listings: balances computed once for all contacts."""
    book, today = call.ctx.book, call.ctx.today
    balances = contacts.balances_by_contact(book, today)
    return lambda contact: contacts.contact_json(book, contact, today, balances)


@route("GET", "Contacts")
def list_contacts(call: Call):
    book = call.ctx.book
    records = _by_ids(call, list(book.contacts.values()), "contact_id")
    if not _flag(call.query.get("includeArchived"), False) and not call.query.get("IDs"):
        records = [c for c in records if c.status == "ACTIVE"]
    term = (call.query.get("searchTerm") or "").casefold()
    if term:
        records = [c for c in records if any(
            term in (value or "").casefold()
            for value in (c.name, c.first_name, c.last_name, c.email_address, c.contact_number, c.account_number)
        )]
    render = _contacts_renderer(call) if len(records) > 1 else _contact_renderer(call)
    return listing(call, "Contacts", [render(c) for c in records], id_key="ContactID")


@route("GET", "Contacts/{identifier}")
def get_contact(call: Call):
    contact = contacts.get_contact(call.ctx.book, call.params["identifier"])
    return _single(call, "Contacts", contact, _contact_renderer(call))


@route("PUT", "Contacts")
def put_contacts(call: Call):
    return batch(call, "Contacts", contacts.create_contact, _contact_renderer(call),
                 enums=contacts.ENUMS, error_flag="HasValidationErrors")


@route("POST", "Contacts")
def post_contacts(call: Call):
    return batch(call, "Contacts", contacts.upsert_contact, _contact_renderer(call),
                 enums=contacts.ENUMS, error_flag="HasValidationErrors")


@route("POST", "Contacts/{identifier}")
def post_contact(call: Call):
    contact = contacts.get_contact(call.ctx.book, call.params["identifier"])
    if contact is None:
        raise not_found()
    return batch(call, "Contacts", lambda ctx, data: contacts.update_contact(ctx, contact, data),
                 _contact_renderer(call), enums=contacts.ENUMS, error_flag="HasValidationErrors")


# Invoices ------------------------------------------------------------------------------------


def _invoice_renderer(call: Call):
    return lambda invoice: invoices.invoice_json(call.ctx.book, invoice)


@route("GET", "Invoices")
def list_invoices(call: Call):
    book = call.ctx.book
    numbers = _csv(call, "InvoiceNumbers")
    if numbers is not None:
        found = {i.invoice_id: i for number in numbers for i in invoices_numbered(book, number)}
        records = in_book_order(book, found.values())
    else:
        records = list(book.invoices.values())
    records = _by_ids(call, records, "invoice_id")
    contact_ids = _csv(call, "ContactIDs")
    if contact_ids is not None:
        wanted = {c.lower() for c in contact_ids}
        records = [i for i in records if i.contact_id in wanted]
    statuses = _csv(call, "Statuses")
    if statuses is not None:
        records = [i for i in records if i.status in {s.upper() for s in statuses}]
    term = (call.query.get("searchTerm") or "").casefold()
    if term:
        records = [
            i for i in records
            if term in (i.invoice_number or "").casefold() or term in (i.reference or "").casefold()
        ]
    render = _invoice_renderer(call)
    return listing(call, "Invoices", [render(i) for i in records], id_key="InvoiceID")


@route("GET", "Invoices/{identifier}")
def get_invoice(call: Call):
    invoice = invoices.find_invoice(call.ctx.book, call.params["identifier"])
    return _single(call, "Invoices", invoice, _invoice_renderer(call))


@route("PUT", "Invoices")
def put_invoices(call: Call):
    return batch(call, "Invoices", invoices.create_invoice, _invoice_renderer(call),
                 enums=invoices.ENUMS, error_flag="HasErrors")


@route("POST", "Invoices")
def post_invoices(call: Call):
    return batch(call, "Invoices", invoices.upsert_invoice, _invoice_renderer(call),
                 enums=invoices.ENUMS, error_flag="HasErrors")


@route("POST", "Invoices/{identifier}")
def post_invoice(call: Call):
    invoice = invoices.find_invoice(call.ctx.book, call.params["identifier"])
    if invoice is None:
        raise not_found()
    return batch(call, "Invoices", lambda ctx, data: invoices.update_invoice(ctx, invoice, data),
                 _invoice_renderer(call), enums=invoices.ENUMS, error_flag="HasErrors")


# Payments ------------------------------------------------------------------------------------


def _payment_renderer(call: Call):
    return lambda payment: payments.payment_json(call.ctx.book, payment)


@route("GET", "Payments")
def list_payments(call: Call):
    render = _payment_renderer(call)
    records = _by_ids(call, list(call.ctx.book.payments.values()), "payment_id")
    return listing(call, "Payments", [render(p) for p in records], id_key="PaymentID")


@route("GET", "Payments/{payment_id}")
def get_payment(call: Call):
    payment = payments.find_payment(call.ctx.book, call.params["payment_id"])
    return _single(call, "Payments", payment, _payment_renderer(call))


@route("PUT", "Payments")
@route("POST", "Payments")
def save_payments(call: Call):
    return batch(call, "Payments", payments.create_payment, _payment_renderer(call),
                 enums=payments.ENUMS, error_flag="HasValidationErrors")


@route("POST", "Payments/{payment_id}")
def post_payment(call: Call):
    payment = payments.find_payment(call.ctx.book, call.params["payment_id"])
    if payment is None:
        raise not_found()
    return batch(call, "Payments", lambda ctx, data: payments.delete_payment(ctx, payment, data),
                 _payment_renderer(call), enums=payments.ENUMS, error_flag="HasValidationErrors")


# Bank transactions ---------------------------------------------------------------------------


def _bank_renderer(call: Call):
    return lambda transaction: bank_transactions.bank_transaction_json(call.ctx.book, transaction)


@route("GET", "BankTransactions")
def list_bank_transactions(call: Call):
    records = _by_ids(call, list(call.ctx.book.bank_transactions.values()), "bank_transaction_id")
    references = _csv(call, "References")
    if references is not None:
        records = [t for t in records if t.reference in references]
    render = _bank_renderer(call)
    return listing(call, "BankTransactions", [render(t) for t in records], id_key="BankTransactionID")


@route("GET", "BankTransactions/{transaction_id}")
def get_bank_transaction(call: Call):
    transaction = bank_transactions.find_bank_transaction(call.ctx.book, call.params["transaction_id"])
    return _single(call, "BankTransactions", transaction, _bank_renderer(call))


@route("PUT", "BankTransactions")
@route("POST", "BankTransactions")
def save_bank_transactions(call: Call):
    return batch(call, "BankTransactions", bank_transactions.create_bank_transaction, _bank_renderer(call),
                 enums=bank_transactions.ENUMS)


@route("POST", "BankTransactions/{transaction_id}")
def post_bank_transaction(call: Call):
    transaction = bank_transactions.find_bank_transaction(call.ctx.book, call.params["transaction_id"])
    if transaction is None:
        raise not_found()
    return batch(call, "BankTransactions",
                 lambda ctx, data: bank_transactions.update_bank_transaction(ctx, transaction, data),
                 _bank_renderer(call), enums=bank_transactions.ENUMS)


# Credit notes --------------------------------------------------------------------------------


def _credit_note_renderer(call: Call):
    return lambda credit_note: creditnotes.credit_note_json(call.ctx.book, credit_note)


@route("GET", "CreditNotes")
def list_credit_notes(call: Call):
    if "IDs" in call.query:
        # Xero documents no IDs filter for credit notes; rather than ignore it (and answer with every
        # credit note, as Xero would), say so.
        raise bad_request("GET /CreditNotes has no IDs parameter; use where=CreditNoteID==Guid(\"...\")")
    render = _credit_note_renderer(call)
    return listing(call, "CreditNotes", [render(c) for c in call.ctx.book.credit_notes.values()])


@route("GET", "CreditNotes/{credit_note_id}")
def get_credit_note(call: Call):
    credit_note = creditnotes.find_credit_note(call.ctx.book, call.params["credit_note_id"])
    return _single(call, "CreditNotes", credit_note, _credit_note_renderer(call))


@route("PUT", "CreditNotes")
def put_credit_notes(call: Call):
    return batch(call, "CreditNotes", creditnotes.create_credit_note, _credit_note_renderer(call),
                 enums=creditnotes.ENUMS, error_flag="HasErrors")


@route("POST", "CreditNotes")
def post_credit_notes(call: Call):
    return batch(call, "CreditNotes", creditnotes.upsert_credit_note, _credit_note_renderer(call),
                 enums=creditnotes.ENUMS, error_flag="HasErrors")


@route("POST", "CreditNotes/{credit_note_id}")
def post_credit_note(call: Call):
    credit_note = creditnotes.find_credit_note(call.ctx.book, call.params["credit_note_id"])
    if credit_note is None:
        raise not_found()
    return batch(call, "CreditNotes", lambda ctx, data: creditnotes.update_credit_note(ctx, credit_note, data),
                 _credit_note_renderer(call), enums=creditnotes.ENUMS, error_flag="HasErrors")


# Overpayments and prepayments; allocations (theirs and credit notes') --------------------------


def _credit_routes(kind: str, collection: str) -> None:
    def renderer(call: Call):
        return lambda credit: credits.credit_json(call.ctx.book, credit)

    @route("GET", collection)
    def list_credits(call: Call):
        render = renderer(call)
        records = _by_ids(call, list(call.ctx.book.credits(kind).values()), "credit_id")
        references = _csv(call, "References") if kind == "overpayment" else None
        if references is not None:
            records = [c for c in records if c.reference in references]
        return listing(call, collection, [render(c) for c in records], id_key=credits.ID_KEYS[kind])

    @route("GET", collection + "/{credit_id}")
    def get_credit(call: Call):
        credit = credits.find_credit(call.ctx.book, kind, call.params["credit_id"])
        return _single(call, collection, credit, renderer(call))


def _allocation_routes(kind: str, collection: str) -> None:
    @route("PUT", collection + "/{credit_id}/Allocations")
    def allocate(call: Call):
        credit = credits.find_credit(call.ctx.book, kind, call.params["credit_id"])
        if credit is None:
            raise not_found()
        return batch(call, "Allocations", lambda ctx, data: credits.allocate(ctx, credit, data),
                     lambda allocation: credits.allocation_json(call.ctx.book, credit, allocation))

    @route("DELETE", collection + "/{credit_id}/Allocations/{allocation_id}")
    def delete_allocation(call: Call):
        credit = credits.find_credit(call.ctx.book, kind, call.params["credit_id"])
        if credit is None:
            raise not_found()
        try:
            allocation = credits.delete_allocation(call.ctx, credit, call.params["allocation_id"])
        except ValidationFailed:
            raise not_found() from None
        # Xero's answer is the Allocation itself (IsDeleted true), not the usual envelope.
        return 200, credits.allocation_json(call.ctx.book, credit, allocation)


_credit_routes("overpayment", "Overpayments")
_credit_routes("prepayment", "Prepayments")
for _kind, _collection in (("overpayment", "Overpayments"), ("prepayment", "Prepayments"),
                           ("creditnote", "CreditNotes")):
    _allocation_routes(_kind, _collection)
