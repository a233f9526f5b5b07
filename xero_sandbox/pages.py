"""The pages for people: at ``/`` what each organisation holds, for checking what an app sent, and the
pages Xero's deep links open (one record each), so an app's "Open in Xero" links work against the sandbox.

``/`` shows the same data as the control API's ``GET /_sandbox/state`` (built by
``control._book_state``), rendered as tables, with buttons to void an invoice or delete a payment
"as a person in Xero" (``POST /edits``, the control API's edits). Like the control API these pages are
not Xero's API: they are not logged, faulted, rate limited or checked against OpenAPI (see
``app._is_own_path``). The docker health check uses ``/``, so it must stay cheap and always answer 200.

Deep links are Xero's documented shape,
``/organisationlogin/default.aspx?shortcode=!a1B2c&redirecturl=/AccountsReceivable/View.aspx?InvoiceID=<id>``:
the organisation with that short code becomes the open one (a cookie, as Xero keeps it in the session) and
the browser goes on to the record's page, which looks in the open organisation (or, with none open, in all).
"""
import json
from datetime import datetime, timezone
from decimal import Decimal
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, Response, make_response, redirect, render_template, request

from . import control, edits
from .identity import connection_json, sandbox
from .resources import bank_transactions, contacts, creditnotes, credits, invoices, payments
from .seed import USER_EMAIL
from .wire import parse_date, parse_datetime

bp = Blueprint("pages", __name__)

PATHS = frozenset({"/", "/edits", "/favicon.svg", "/favicon.ico", "/organisationlogin/default.aspx"})
# Xero's web app shows a record at these paths (accounting/xero/links.py in Arena writes them): the path,
# the query parameter with the id, and what it opens. Contacts are /Contacts/View/<ContactID>.
RECORD_PAGES = {
    "/accountsreceivable/view.aspx": ("InvoiceID", "invoice"),
    "/accountsreceivable/viewcreditnote.aspx": ("creditNoteID", "credit_note"),
    "/bank/viewtransaction.aspx": ("bankTransactionID", "transaction"),
}
CONTACT_PAGE = "/contacts/view/"
OPEN_ORGANISATION = "sandbox_organisation"  # the cookie a deep link sets, as Xero's session would
FAVICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><circle cx="16" cy="16" r="16" fill="#13b5ea"/>'
    '<path d="M10.5 10.5l11 11m0-11l-11 11" stroke="#fff" stroke-width="3.2" stroke-linecap="round"/></svg>'
)


def is_page(path: str) -> bool:
    """The sandbox's own pages for people (not Xero's API): the overview, its buttons, the favicon, deep
    links and the record pages they open."""
    lowered = path.lower()
    return path in PATHS or lowered in RECORD_PAGES or lowered.startswith(CONTACT_PAGE)
# What the page's buttons may do (the control API's edits route can do more).
PAGE_ACTIONS = {
    "void_invoice": "Invoice voided.", "apply_payment": "Payment applied.", "delete_payment": "Payment deleted.",
    "enter_credit_note": "Credit note entered.", "enter_overpayment": "Overpayment entered.",
    "enter_prepayment": "Prepayment entered.",
    "set_lock_dates": "Lock dates saved.", "set_plan": "Plan changed.",
}
# Rows per table: the newest records only, so the page (and the health check) stays quick on books
# filled by benchmarks. /_sandbox/state has everything.
ROW_LIMIT = 200
COLLECTIONS = ("contacts", "invoices", "credit_notes", "payments", "bank_transactions", "overpayments", "prepayments")


@bp.get("/")
def home():
    box = sandbox()
    with box.lock:
        now = box.clock.now()
        organisations = [
            dict(
                control._book_state(book, box.clock.today(), limit=ROW_LIMIT),
                totals={name: len(getattr(book, name)) for name in COLLECTIONS},
            )
            for book in box.books.values()
        ]
        connections = [connection_json(box, c) for c in box.identity.connections.values()]
    html = render_template(
        "home.html", organisations=organisations, connections=connections, now=now, user_email=USER_EMAIL,
        plans=edits.PLANS,
        notice=request.args.get("notice"), error=request.args.get("error"),
    )
    response = make_response(html)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/edits")
def edit():
    """A button on the page: apply the edit, then go back to the page with what happened."""
    tenant_id = request.form.get("tenant_id", "")
    data = {key: value for key, value in request.form.items() if key != "tenant_id"}
    if data.get("action") not in PAGE_ACTIONS:
        return _back(tenant_id, error="Unknown action.")
    with sandbox().changing(tenant_id) as ctx:
        if ctx is None:
            return _back(tenant_id, error="Unknown organisation.")
        try:
            edits.apply(ctx, data)
        except (edits.EditRefused, edits.EditNotFound) as refused:
            return _back(tenant_id, error=str(refused))
    return _back(tenant_id, notice=PAGE_ACTIONS[data["action"]])


def _back(tenant_id: str, **message):
    return redirect(f"/?{urlencode(message)}#org-{tenant_id}", code=303)


@bp.get("/favicon.svg")
@bp.get("/favicon.ico")
def favicon():
    response = Response(FAVICON, mimetype="image/svg+xml")
    response.headers["Cache-Control"] = "max-age=86400"
    return response


@bp.get("/organisationlogin/default.aspx")
def organisation_login():
    """Xero's deep link: open the organisation with this short code, then the page ``redirecturl`` names."""
    short_code = request.args.get("shortcode", "")
    target = request.args.get("redirecturl", "")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or not is_page(parts.path) or parts.path == "/":
        return _not_shown(f"The sandbox has no page at {target or '(no redirecturl)'}.", status=400)
    box = sandbox()
    with box.lock:
        book = next((b for b in box.books.values() if b.organisation.short_code == short_code), None)
    if book is None:
        return _not_shown(f"No organisation has the short code {short_code or '(none)'}.", status=404)
    response = redirect(target, code=302)
    response.set_cookie(OPEN_ORGANISATION, book.tenant_id, httponly=True, samesite="Lax")
    return response


@bp.get("/AccountsReceivable/View.aspx")
@bp.get("/AccountsReceivable/ViewCreditNote.aspx")
@bp.get("/Bank/ViewTransaction.aspx")
@bp.get("/Contacts/View/<contact_id>")
def record(contact_id: str | None = None):
    """One record, as Xero's web app would show it: the facts, its lines and its JSON."""
    if contact_id is not None:
        what, record_id = "contact", contact_id
    else:
        parameter, what = RECORD_PAGES[request.path.lower()]
        record_id = request.args.get(parameter, "")
    box = sandbox()
    with box.lock:
        open_book = box.book(request.cookies.get(OPEN_ORGANISATION, ""))
        books = [open_book] if open_book is not None else list(box.books.values())
        for book in books:
            found = _record_view(book, what, record_id.lower(), box.clock.today())
            if found is not None:
                html = render_template("record.html", organisation=book.organisation.name,
                                       tenant_id=book.tenant_id, user_email=USER_EMAIL, **found)
                response = make_response(html)
                response.headers["Cache-Control"] = "no-store"
                return response
    where = open_book.organisation.name if open_book is not None else "No organisation"
    noun = {"transaction": "bank transaction or payment", "credit_note": "credit note"}.get(what, what)
    return _not_shown(f"{where} has no {noun} with id {record_id or '(none)'}.", status=404)


def _not_shown(message: str, *, status: int):
    return render_template(
        "error.html", user_email=USER_EMAIL, heading="Nothing to show here", message=message,
        hint="The sandbox shows invoices, credit notes, contacts and bank transactions (and payments) at the "
             "paths Xero's web app uses; everything an app sent is listed on its front page.",
    ), status


def _record_view(book, what: str, record_id: str, today) -> dict | None:
    """What the record page shows: a title, facts, lines and the record in Xero's JSON; None if not here."""
    if what == "invoice" and record_id in book.invoices:
        data = invoices.invoice_json(book, book.invoices[record_id])
        title = f"Invoice {data.get('InvoiceNumber') or data['InvoiceID']}"
        facts = [("Contact", data["Contact"].get("Name")), ("Status", data["Status"]), ("Type", data["Type"]),
                 ("Date", xero_date(data.get("Date"))), ("Due date", xero_date(data.get("DueDate"))),
                 ("Currency", data["CurrencyCode"]), ("Total", money(data["Total"])),
                 ("Paid", money(data["AmountPaid"])), ("Credited", money(data["AmountCredited"])),
                 ("Due", money(data["AmountDue"])), ("Reference", data.get("Reference")),
                 ("InvoiceID", data["InvoiceID"])]
    elif what == "credit_note" and record_id in book.credit_notes:
        data = creditnotes.credit_note_json(book, book.credit_notes[record_id])
        title = f"Credit note {data.get('CreditNoteNumber') or data['CreditNoteID']}"
        facts = [("Contact", data["Contact"].get("Name")), ("Status", data["Status"]),
                 ("Date", xero_date(data.get("Date"))), ("Currency", data["CurrencyCode"]),
                 ("Total", money(data["Total"])), ("Remaining credit", money(data.get("RemainingCredit"))),
                 ("CreditNoteID", data["CreditNoteID"])]
    elif what == "contact" and record_id in book.contacts:
        data = contacts.contact_json(book, book.contacts[record_id], today)
        receivable = data["Balances"]["AccountsReceivable"]
        title = f"Contact {data['Name']}"
        facts = [("Contact number", data.get("ContactNumber")), ("Email", data.get("EmailAddress")),
                 ("Status", data["ContactStatus"]), ("Outstanding", money(receivable["Outstanding"])),
                 ("Overdue", money(receivable["Overdue"])), ("ContactID", data["ContactID"])]
    elif what == "transaction" and record_id in book.bank_transactions:
        data = bank_transactions.bank_transaction_json(book, book.bank_transactions[record_id])
        title = f"Bank transaction {data['Type']}"
        facts = [("Contact", data["Contact"].get("Name")), ("Status", data["Status"]),
                 ("Date", xero_date(data.get("Date"))), ("Reference", data.get("Reference")),
                 ("Bank account", f"{data['BankAccount']['Code']} {data['BankAccount']['Name']}"),
                 ("Currency", data["CurrencyCode"]), ("Total", money(data["Total"])),
                 ("OverpaymentID", data.get("OverpaymentID")), ("BankTransactionID", data["BankTransactionID"])]
    elif what == "transaction" and record_id in book.payments:
        data = payments.payment_json(book, book.payments[record_id])
        document = data.get("Invoice") or {}
        title = f"Payment {data.get('Reference') or document.get('InvoiceNumber') or data['PaymentID']}"
        facts = [("Invoice or credit", document.get("InvoiceNumber") or document.get("Type")),
                 ("Status", data["Status"]), ("Date", xero_date(data.get("Date"))),
                 ("Amount", money(data["Amount"])), ("Reference", data.get("Reference")),
                 ("Bank account", (data.get("Account") or {}).get("Code")), ("PaymentID", data["PaymentID"])]
    elif what == "transaction" and (record_id in book.overpayments or record_id in book.prepayments):
        kind = "Overpayment" if record_id in book.overpayments else "Prepayment"
        data = credits.credit_json(book, (book.overpayments if kind == "Overpayment" else book.prepayments)[record_id])
        title = kind
        facts = [("Contact", data["Contact"].get("Name")), ("Status", data["Status"]),
                 ("Date", xero_date(data.get("Date"))), ("Currency", data["CurrencyCode"]),
                 ("Total", money(data["Total"])), ("Remaining credit", money(data.get("RemainingCredit")))]
    else:
        return None
    return {
        "title": title,
        "facts": [(label, value) for label, value in facts if value not in (None, "")],
        "lines": data.get("LineItems") or [],
        "record_json": json.dumps(data, indent=2, sort_keys=True, default=str),
    }


@bp.app_template_filter("money")
def money(value) -> str:
    """2 decimals with thousands separators; blank for a missing amount."""
    if value is None or value == "":
        return ""
    return f"{Decimal(str(value)):,.2f}"


@bp.app_template_filter("xero_date")
def xero_date(value) -> str:
    """``/Date(...)/`` or ISO text as ``YYYY-MM-DD``; blank when missing."""
    if not value:
        return ""
    try:
        return parse_date(value).isoformat()
    except (TypeError, ValueError):
        return str(value)


@bp.app_template_filter("xero_datetime")
def xero_datetime(value) -> str:
    """A datetime (or its RFC 3339 / ``/Date(...)/`` text) as ``YYYY-MM-DD HH:MM UTC``."""
    if not value:
        return ""
    try:
        moment = value if isinstance(value, datetime) else parse_datetime(value)
    except (TypeError, ValueError):
        return str(value)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
