"""Changes "made by a person in Xero": what ``POST /_sandbox/organisations/<tenant_id>/edits`` and the
page's buttons do, so an app's drift detection can be tested.

Each action goes through the same rules as the API (voiding a paid invoice, editing a paid invoice's
lines, deleting a payment twice... are refused with Xero's words) and, like an API call, produces
webhook events for the invoices, contacts and credit notes it changes. Actions and their fields:

- ``void_invoice``: ``invoice`` (InvoiceID or InvoiceNumber).
- ``edit_invoice_line``: ``invoice``, ``line`` (0-based index or LineItemID; default 0) and any of
  ``unit_amount``, ``quantity``, ``description``, ``account_code``; totals and the amount due are recomputed.
- ``apply_payment``: ``invoice`` (InvoiceID or InvoiceNumber), ``amount``, and optionally ``account``
  (Code or AccountID of a BANK account; default: the first active one), ``date`` (YYYY-MM-DD; default
  today) and ``reference``: a person reconciling a bank deposit or entering a receipt against the invoice,
  with Xero's rules (an AUTHORISED invoice, no more than it owes).
- ``enter_overpayment``: ``contact`` (ContactID, ContactNumber or Name), ``amount``, and optionally
  ``account``, ``date``, ``description``: money received from the contact with no invoice, kept as its credit
  (a RECEIVE-OVERPAYMENT bank transaction and its overpayment).
- ``enter_prepayment``: the same fields (and ``account_code``, the revenue account its line is coded to):
  money received in advance, a RECEIVE-PREPAYMENT bank transaction and its prepayment.
- ``enter_credit_note``: ``invoice``, ``amount`` (tax included) and optionally ``date``, ``reference`` and
  ``description``: an AUTHORISED credit note for the invoice's contact, allocated to the invoice up to what it
  owes (the rest stays the contact's credit).
- ``delete_payment``: ``payment`` (PaymentID); the invoice (or credit refunded) is owed again.
- ``archive_account``: ``account`` (Code or AccountID).
- ``archive_contact``: ``contact`` (ContactID, ContactNumber or Name).
- ``merge_contacts``: ``contact`` (merged away) ``into`` (kept): the first one's documents move to the
  second, the first is archived with ``MergedToContactID``.
- ``set_lock_dates``: ``period_lock_date`` and/or ``end_of_year_lock_date`` (``YYYY-MM-DD``; empty clears
  it): documents dated on or before either are refused with Xero's words from then on.
- ``set_plan``: ``plan`` (Xero's Organisation ``Class``, e.g. ``STANDARD``, ``GST_CASHBOOK``, ``LEDGER``):
  Ledger and Cashbook plans refuse invoices.
"""
from datetime import date

from .errors import ValidationFailed
from .indexes import index, invoices_of
from .resources import bank_transactions, contacts, creditnotes, credits, invoices, payments, settings
from .resources.common import CONTACT, CREDITNOTE, INVOICE, Ctx, find_account, find_contact_by_name, unit_places
from .wire import is_guid


class EditRefused(Exception):
    """Xero would refuse this change (the control API answers 400)."""

    def __init__(self, *messages: str):
        super().__init__("; ".join(messages))
        self.messages = list(messages)


class EditNotFound(Exception):
    """The record named by the edit does not exist (404)."""


def apply(ctx: Ctx, data: dict) -> dict:
    """Run one edit; returns the changed records in Xero's JSON, keyed like the API's collections."""
    action = data.get("action")
    handler = ACTIONS.get(action)
    if handler is None:
        raise EditRefused(f"action must be one of {', '.join(ACTIONS)}")
    try:
        result = handler(ctx, data)
    except ValidationFailed as failure:
        raise EditRefused(*failure.messages) from None
    return {"action": action, **result}


def _required(data: dict, key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise EditRefused(f"{key} is required")
    return value.strip()


def _invoice(ctx: Ctx, data: dict):
    identifier = _required(data, "invoice")
    invoice = invoices.find_invoice(ctx.book, identifier)
    if invoice is None:
        raise EditNotFound(f"no invoice {identifier!r}")
    return invoice


def _contact(ctx: Ctx, data: dict, key: str):
    identifier = _required(data, key)
    contact = contacts.get_contact(ctx.book, identifier) or find_contact_by_name(ctx.book, identifier)
    if contact is None:
        raise EditNotFound(f"no contact {identifier!r}")
    return contact


def _invoice_json(ctx: Ctx, invoice) -> dict:
    return {"Invoices": [invoices.invoice_json(ctx.book, invoice)]}


def _contacts_json(ctx: Ctx, *records) -> dict:
    return {"Contacts": [contacts.contact_json(ctx.book, c, ctx.today) for c in records]}


def void_invoice(ctx: Ctx, data: dict) -> dict:
    invoice = _invoice(ctx, data)
    invoices.update_invoice(ctx, invoice, {"Status": "VOIDED"})
    return _invoice_json(ctx, invoice)


EDITABLE_LINE_FIELDS = {
    "unit_amount": "UnitAmount", "quantity": "Quantity", "description": "Description", "account_code": "AccountCode",
}


def edit_invoice_line(ctx: Ctx, data: dict) -> dict:
    invoice = _invoice(ctx, data)
    changes = {xero: data[key] for key, xero in EDITABLE_LINE_FIELDS.items() if key in data}
    if not changes:
        raise EditRefused(f"give at least one of {', '.join(EDITABLE_LINE_FIELDS)}")
    lines = [invoices.line_input(line) for line in invoice.line_items]
    lines[_line_index(invoice, data.get("line", 0))].update(changes)
    with unit_places(4):  # a person in Xero's screens: the other lines keep their unit amounts
        invoices.update_invoice(ctx, invoice, {"LineItems": lines})
    return _invoice_json(ctx, invoice)


def _line_index(invoice, line) -> int:
    if isinstance(line, int) and not isinstance(line, bool):
        if 0 <= line < len(invoice.line_items):
            return line
        raise EditNotFound(f"the invoice has {len(invoice.line_items)} line(s); there is no line {line}")
    if isinstance(line, str):
        for index, item in enumerate(invoice.line_items):
            if item.line_item_id == line.lower():
                return index
    raise EditNotFound(f"no line {line!r} on the invoice")


def apply_payment(ctx: Ctx, data: dict) -> dict:
    invoice = _invoice(ctx, data)
    body = {"Invoice": {"InvoiceID": invoice.invoice_id}, "Account": _bank_code(ctx, data), "Amount": _amount(data)}
    if data.get("date"):
        body["Date"] = str(data["date"]).strip()
    if data.get("reference"):
        body["Reference"] = str(data["reference"]).strip()
    payment = payments.create_payment(ctx, body)
    return {"Payments": [payments.payment_json(ctx.book, payment)]}


def _bank_code(ctx: Ctx, data: dict) -> dict:
    account = data.get("account")
    if account is None:
        bank = next((a for a in ctx.book.accounts.values() if a.type == "BANK" and a.status == "ACTIVE"), None)
        if bank is None:
            raise EditRefused("The organisation has no active bank account.")
        account = bank.code
    account = str(account).strip()
    return {"AccountID": account} if is_guid(account) else {"Code": account}


def _amount(data: dict) -> str:
    amount = data.get("amount")
    if isinstance(amount, bool) or not isinstance(amount, (int, float, str)) or not str(amount).strip():
        raise EditRefused("amount is required")
    return str(amount).strip()


def enter_overpayment(ctx: Ctx, data: dict) -> dict:
    return _enter_credit(ctx, data, "Overpayment")


def enter_prepayment(ctx: Ctx, data: dict) -> dict:
    return _enter_credit(ctx, data, "Prepayment")


def _enter_credit(ctx: Ctx, data: dict, kind: str) -> dict:
    """Money received from a contact with no invoice, kept as its credit: a RECEIVE-OVERPAYMENT or
    RECEIVE-PREPAYMENT bank transaction and the overpayment or prepayment it makes (a prepayment's line is
    coded to ``account_code``, default the first active revenue account)."""
    contact = _contact(ctx, data, "contact")
    line = {"Description": str(data.get("description") or kind), "LineAmount": _amount(data)}
    if kind == "Prepayment":
        line["AccountCode"] = str(data.get("account_code") or _revenue_code(ctx))
    body = {
        "Type": f"RECEIVE-{kind.upper()}",
        "Contact": {"ContactID": contact.contact_id},
        "BankAccount": _bank_code(ctx, data),
        "LineItems": [line],
        "LineAmountTypes": "Inclusive",
    }
    if data.get("date"):
        body["Date"] = str(data["date"]).strip()
    transaction = bank_transactions.create_bank_transaction(ctx, body)
    credit_id = transaction.overpayment_id if kind == "Overpayment" else transaction.prepayment_id
    credit = (ctx.book.overpayments if kind == "Overpayment" else ctx.book.prepayments)[credit_id]
    return {
        "BankTransactions": [bank_transactions.bank_transaction_json(ctx.book, transaction)],
        f"{kind}s": [credits.credit_json(ctx.book, credit)],
    }


def _revenue_code(ctx: Ctx) -> str:
    revenue = next((a for a in ctx.book.accounts.values() if a.type == "REVENUE" and a.status == "ACTIVE"), None)
    if revenue is None:
        raise EditRefused("The organisation has no active revenue account.")
    return revenue.code


def enter_credit_note(ctx: Ctx, data: dict) -> dict:
    """A person credits an invoice: an AUTHORISED sales credit note of ``amount`` (tax included, coded like the
    invoice's first line) for the invoice's contact, allocated to the invoice up to what it owes; the rest stays
    the contact's credit."""
    invoice = _invoice(ctx, data)
    if invoice.type != "ACCREC" or invoice.status != "AUTHORISED":
        raise EditRefused("Only an AUTHORISED sales invoice can be credited here.")
    first = invoice.line_items[0] if invoice.line_items else None
    line = {"Description": str(data.get("description") or f"Credit for {invoice.invoice_number}"),
            "Quantity": "1", "UnitAmount": _amount(data),
            "AccountCode": (first.account_code if first else None) or _revenue_code(ctx)}
    if first is not None and first.tax_type:
        line["TaxType"] = first.tax_type
    body = {"Type": "ACCRECCREDIT", "Status": "AUTHORISED", "Contact": {"ContactID": invoice.contact_id},
            "CurrencyCode": invoice.currency_code, "LineAmountTypes": "Inclusive", "LineItems": [line]}
    if data.get("date"):
        body["Date"] = str(data["date"]).strip()
    if data.get("reference"):
        body["Reference"] = str(data["reference"]).strip()
    note = creditnotes.create_credit_note(ctx, body)
    amount = min(note.remaining_credit, invoice.amount_due)
    if amount > 0:
        credits.allocate(ctx, note, {"Invoice": {"InvoiceID": invoice.invoice_id}, "Amount": str(amount),
                                     "Date": note.date.isoformat()})
    return {"CreditNotes": [creditnotes.credit_note_json(ctx.book, note)], **_invoice_json(ctx, invoice)}


def delete_payment(ctx: Ctx, data: dict) -> dict:
    identifier = _required(data, "payment")
    payment = payments.find_payment(ctx.book, identifier)
    if payment is None:
        raise EditNotFound(f"no payment {identifier!r}")
    payments.delete_payment(ctx, payment, {"Status": "DELETED"})
    return {"Payments": [payments.payment_json(ctx.book, payment)]}


def archive_account(ctx: Ctx, data: dict) -> dict:
    identifier = _required(data, "account")
    account = find_account(ctx.book, {"AccountID": identifier} if is_guid(identifier) else {"Code": identifier})
    if account is None:
        raise EditNotFound(f"no account {identifier!r}")
    if account.system_account:
        raise EditRefused(f"{account.name} is a system account and cannot be archived.")
    if account.status == "ARCHIVED":
        raise EditRefused(f"Account {account.code} is already archived.")
    account.status = "ARCHIVED"
    account.updated_utc = ctx.now
    return {"Accounts": [settings.account_json(account)]}


def archive_contact(ctx: Ctx, data: dict) -> dict:
    contact = _contact(ctx, data, "contact")
    if contact.status != "ACTIVE":
        raise EditRefused(f"The contact {contact.name} is already archived.")
    contacts.update_contact(ctx, contact, {"ContactStatus": "ARCHIVED"})
    return _contacts_json(ctx, contact)


def merge_contacts(ctx: Ctx, data: dict) -> dict:
    """As Xero's "Merge" does: every document of ``contact`` moves to ``into``; ``contact`` is archived."""
    merged, kept = _contact(ctx, data, "contact"), _contact(ctx, data, "into")
    if merged.contact_id == kept.contact_id:
        raise EditRefused("A contact cannot be merged with itself.")
    if merged.status != "ACTIVE" or kept.status != "ACTIVE":
        raise EditRefused("Only active contacts can be merged.")
    book = ctx.book
    for invoice in invoices_of(book, merged.contact_id):
        invoice.contact_id = kept.contact_id
        invoice.updated_utc = ctx.now
        index(book).note_invoice(invoice)
        ctx.changed(INVOICE, invoice.invoice_id)
    for credit_note in book.credit_notes.values():
        if credit_note.contact_id == merged.contact_id:
            credit_note.contact_id = kept.contact_id
            credit_note.updated_utc = ctx.now
            ctx.changed(CREDITNOTE, credit_note.credit_note_id)
    for records in (book.bank_transactions, book.overpayments, book.prepayments):
        for record in records.values():
            if record.contact_id == merged.contact_id:
                record.contact_id = kept.contact_id
                record.updated_utc = ctx.now
    kept.is_customer = kept.is_customer or merged.is_customer
    kept.is_supplier = kept.is_supplier or merged.is_supplier
    merged.status = "ARCHIVED"
    merged.merged_to_contact_id = kept.contact_id
    for contact in (merged, kept):
        contact.updated_utc = ctx.now
        ctx.changed(CONTACT, contact.contact_id)
    return _contacts_json(ctx, merged, kept)


LOCK_DATE_FIELDS = ("period_lock_date", "end_of_year_lock_date")
PLANS = ("DEMO", "TRIAL", "STARTER", "STANDARD", "PREMIUM", "LEDGER", "GST_CASHBOOK", "NON_GST_CASHBOOK", "ULTIMATE")


def set_lock_dates(ctx: Ctx, data: dict) -> dict:
    """A person in Xero's Advanced settings: the period lock date and the end of year lock date."""
    if not any(key in data for key in LOCK_DATE_FIELDS):
        raise EditRefused(f"give {' and/or '.join(LOCK_DATE_FIELDS)} (YYYY-MM-DD, or empty to clear)")
    changes = {}
    for key in LOCK_DATE_FIELDS:
        if key in data:
            raw = data[key]
            if raw in (None, ""):
                changes[key] = None
                continue
            try:
                changes[key] = date.fromisoformat(str(raw).strip())
            except ValueError:
                raise EditRefused(f"{key} must be a date like 2026-03-31, not {raw!r}") from None
    org = ctx.book.organisation
    period = changes.get("period_lock_date", org.period_lock_date)
    year_end = changes.get("end_of_year_lock_date", org.end_of_year_lock_date)
    if period and year_end and period < year_end:
        raise EditRefused("The period lock date cannot be before the end of year lock date.")
    for key, value in changes.items():
        setattr(org, key, value)
    return {"Organisations": [settings.organisation_json(ctx.book)]}


def set_plan(ctx: Ctx, data: dict) -> dict:
    plan = _required(data, "plan").upper()
    if plan not in PLANS:
        raise EditRefused(f"plan must be one of {', '.join(PLANS)}")
    ctx.book.organisation.plan = plan
    return {"Organisations": [settings.organisation_json(ctx.book)]}


ACTIONS = {
    "void_invoice": void_invoice,
    "edit_invoice_line": edit_invoice_line,
    "apply_payment": apply_payment,
    "enter_overpayment": enter_overpayment,
    "enter_prepayment": enter_prepayment,
    "enter_credit_note": enter_credit_note,
    "delete_payment": delete_payment,
    "archive_account": archive_account,
    "archive_contact": archive_contact,
    "merge_contacts": merge_contacts,
    "set_lock_dates": set_lock_dates,
    "set_plan": set_plan,
}
