"""Invoices (ACCREC sales invoices and ACCPAY bills) and Xero's status rules.

DRAFT/SUBMITTED may become AUTHORISED or DELETED; AUTHORISED may become VOIDED only while nothing
has been paid or credited; PAID is set (and unset) by the sandbox as AmountDue reaches (leaves) 0.
"""
from ..errors import ValidationFailed
from ..indexes import allocations_to, index, invoices_numbered, payments_of
from ..models import ZERO, Invoice, OrgBook
from ..wire import date_string, is_guid, new_id
from .common import (
    INVOICE,
    LINE_AMOUNT_TYPES,
    Ctx,
    Problems,
    amounts_type,
    build_lines,
    contact_for_document,
    contact_ref_json,
    currency,
    drop_none,
    line_json,
    maybe_date,
    optional_date,
    stamp,
    store_contact,
    text,
    totals,
    unit_places,
)
from .locks import check_open, check_plan_allows_invoices

TYPES = ("ACCREC", "ACCPAY")
CREATE_STATUSES = ("DRAFT", "SUBMITTED", "AUTHORISED")
ALL_STATUSES = ("DRAFT", "SUBMITTED", "AUTHORISED", "PAID", "VOIDED", "DELETED")
ENUMS = {"Type": TYPES, "Status": ALL_STATUSES, "LineAmountTypes": LINE_AMOUNT_TYPES}
EDITABLE_TRANSITIONS = {
    "DRAFT": {"DRAFT", "SUBMITTED", "AUTHORISED", "DELETED"},
    "SUBMITTED": {"DRAFT", "SUBMITTED", "AUTHORISED", "DELETED"},
    "AUTHORISED": {"AUTHORISED", "VOIDED"},
    "PAID": {"PAID"},
}
FINANCIAL_KEYS = ("LineItems", "LineAmountTypes", "CurrencyCode", "Contact", "Type")


def find_invoice(book: OrgBook, identifier: str) -> Invoice | None:
    """By InvoiceID, or by InvoiceNumber (ACCREC numbers are unique per organisation)."""
    if is_guid(identifier):
        return book.invoices.get(identifier.lower())
    matches = [i for i in invoices_numbered(book, identifier) if i.status != "DELETED"]
    matches.sort(key=lambda i: i.type != "ACCREC")
    return matches[0] if matches else None


def create_invoice(ctx: Ctx, data: dict) -> Invoice:
    """PUT semantics: create; an InvoiceID that exists is updated instead (InvoiceNumber is not matched)."""
    invoice_id = data.get("InvoiceID")
    if invoice_id:
        return update_invoice(ctx, _by_id(ctx.book, invoice_id), data)
    return _create(ctx, data)


def upsert_invoice(ctx: Ctx, data: dict) -> Invoice:
    """POST semantics: update the invoice matching InvoiceID or InvoiceNumber, else create."""
    invoice_id = data.get("InvoiceID")
    if invoice_id:
        return update_invoice(ctx, _by_id(ctx.book, invoice_id), data)
    number = data.get("InvoiceNumber")
    existing = find_invoice(ctx.book, number) if isinstance(number, str) and number else None
    if existing is not None:
        return update_invoice(ctx, existing, data)
    return _create(ctx, data)


def _by_id(book: OrgBook, invoice_id) -> Invoice:
    invoice = book.invoices.get(str(invoice_id).lower()) if is_guid(invoice_id) else None
    if invoice is None:
        raise ValidationFailed(f"Invoice with InvoiceID '{invoice_id}' could not be found")
    return invoice


def _create(ctx: Ctx, data: dict) -> Invoice:
    problems = Problems()
    type_ = data.get("Type")
    if type_ not in TYPES:
        problems.add("Invoice Type must be ACCREC or ACCPAY")
    status = data.get("Status") or "DRAFT"
    if status not in CREATE_STATUSES:
        problems.add("Invoice not of valid status for creation")
    contact = problems.attempt(contact_for_document, ctx, data)
    kind = problems.attempt(amounts_type, data, default="Exclusive")
    code, rate = problems.attempt(currency, ctx, data, default=(ctx.book.organisation.base_currency, None))
    invoice = Invoice(
        invoice_id=new_id(), type=type_, contact_id=contact.contact_id if contact else "", status=status,
        date=problems.attempt(optional_date, data, "Date") or ctx.today, line_amount_types=kind,
        currency_code=code, currency_rate=rate, created_utc=ctx.now, updated_utc=ctx.now,
    )
    _apply_details(ctx, invoice, data, problems)
    invoice.line_items = problems.attempt(
        build_lines, ctx, data, amounts_type=kind, need_accounts=status in ("SUBMITTED", "AUTHORISED"), default=[]
    )
    _check_ready(invoice, problems)
    check_open(ctx, invoice.date, problems)
    check_plan_allows_invoices(ctx, problems)
    problems.check()
    store_contact(ctx, contact, customer=type_ == "ACCREC", supplier=type_ == "ACCPAY")
    if type_ == "ACCREC" and not invoice.invoice_number:
        invoice.invoice_number = _next_number(ctx.book)
    _recalculate(invoice)
    settle(invoice, ctx.today)
    ctx.book.invoices[invoice.invoice_id] = invoice
    index(ctx.book).note_invoice(invoice)
    ctx.changed(INVOICE, invoice.invoice_id, created=True)
    return invoice


def update_invoice(ctx: Ctx, invoice: Invoice, data: dict) -> Invoice:
    problems = Problems()
    target = data.get("Status") or invoice.status
    _check_transition(invoice, target, data, problems)
    problems.check()
    draft = Invoice(**{**invoice.__dict__, "line_items": list(invoice.line_items)})
    draft.status = target
    contact = _apply_changes(ctx, draft, data, problems) or ctx.book.contacts.get(draft.contact_id)
    _check_ready(draft, problems)
    check_open(ctx, draft.date, problems)
    problems.check()
    if contact is not None:
        store_contact(ctx, contact, customer=draft.type == "ACCREC", supplier=draft.type == "ACCPAY")
    if draft.type == "ACCREC" and not draft.invoice_number:
        draft.invoice_number = _next_number(ctx.book)
    _recalculate(draft)
    if draft.amount_due < 0:
        raise ValidationFailed("The total of the invoice cannot be less than the amount already paid or credited")
    settle(draft, ctx.today)
    draft.updated_utc = ctx.now
    invoice.__dict__.update(draft.__dict__)
    index(ctx.book).note_invoice(invoice)
    ctx.changed(INVOICE, invoice.invoice_id)
    return invoice


def _check_transition(invoice: Invoice, target: str, data: dict, problems: Problems) -> None:
    current = invoice.status
    if target not in ALL_STATUSES:
        problems.add(f"Invoice Status must be one of {', '.join(ALL_STATUSES)}")
        return
    if current in ("VOIDED", "DELETED"):
        if target != current or set(data) - {"InvoiceID", "InvoiceNumber", "Status"}:
            problems.add(f"This document cannot be edited as it has been {current.lower()}.")
        return
    has_money = invoice.amount_paid > 0 or invoice.amount_credited > 0
    if target == "VOIDED" and has_money:
        problems.add("This document cannot be voided as it has a payment or credit note allocated to it.")
    elif target == "DELETED" and current not in ("DRAFT", "SUBMITTED"):
        problems.add("Only DRAFT or SUBMITTED invoices can be deleted; void an AUTHORISED invoice instead.")
    elif target not in EDITABLE_TRANSITIONS.get(current, set()) and not (current == "PAID" and target == "AUTHORISED"):
        problems.add(f"Invoice not of valid status for modification ({current} to {target})")
    if has_money and any(key in data for key in FINANCIAL_KEYS):
        problems.add("This document cannot be edited as it has a payment or credit note allocated to it.")


def _apply_changes(ctx: Ctx, draft: Invoice, data: dict, problems: Problems):
    """Apply the fields present in ``data``; returns the (possibly new, unsaved) contact if given."""
    contact = None
    if "Contact" in data:
        contact = problems.attempt(contact_for_document, ctx, data)
        if contact is not None:
            draft.contact_id = contact.contact_id
    if "Date" in data:
        draft.date = problems.attempt(optional_date, data, "Date") or draft.date
    if "LineAmountTypes" in data:
        draft.line_amount_types = problems.attempt(amounts_type, data, default=draft.line_amount_types)
    if "CurrencyCode" in data:
        draft.currency_code, draft.currency_rate = problems.attempt(
            currency, ctx, data, default=(draft.currency_code, draft.currency_rate)
        )
    _apply_details(ctx, draft, data, problems)
    if "LineItems" in data:
        draft.line_items = problems.attempt(
            build_lines, ctx, data, amounts_type=draft.line_amount_types,
            need_accounts=draft.status in ("SUBMITTED", "AUTHORISED"), default=draft.line_items,
        )
    elif "LineAmountTypes" in data:
        with unit_places(4):  # the stored lines keep their unit amounts
            draft.line_items = problems.attempt(
                build_lines, ctx, {"LineItems": [line_input(line) for line in draft.line_items]},
                amounts_type=draft.line_amount_types, need_accounts=False, default=draft.line_items,
            )
    return contact


def line_input(line) -> dict:
    """A stored line as request input (to rebuild lines after a change)."""
    return drop_none({
        "LineItemID": line.line_item_id, "Description": line.description, "Quantity": str(line.quantity),
        "UnitAmount": str(line.unit_amount), "AccountCode": line.account_code, "TaxType": line.tax_type,
        "DiscountRate": str(line.discount_rate) if line.discount_rate is not None else None,
        "ItemCode": line.item_code,
        "Tracking": [{"TrackingCategoryID": t["TrackingCategoryID"], "TrackingOptionID": t["TrackingOptionID"]}
                     for t in line.tracking] or None,
    })


def _apply_details(ctx: Ctx, invoice: Invoice, data: dict, problems: Problems) -> None:
    if "DueDate" in data:
        invoice.due_date = problems.attempt(optional_date, data, "DueDate")
    if "ExpectedPaymentDate" in data:
        invoice.expected_payment_date = problems.attempt(optional_date, data, "ExpectedPaymentDate")
    if "Reference" in data:
        invoice.reference = problems.attempt(text, data, "Reference")
    if "Url" in data:
        invoice.url = problems.attempt(text, data, "Url")
    if "SentToContact" in data:
        invoice.sent_to_contact = bool(data["SentToContact"])
    if "InvoiceNumber" in data:
        number = problems.attempt(text, data, "InvoiceNumber", 255)
        invoice.invoice_number = number or None
        if number and invoice.type == "ACCREC" and _number_taken(ctx.book, number, invoice.invoice_id):
            problems.add("Invoice # must be unique.")


def _check_ready(invoice: Invoice, problems: Problems) -> None:
    """What SUBMITTED/AUTHORISED invoices need beyond a draft: a due date and coded lines."""
    if invoice.status not in ("SUBMITTED", "AUTHORISED"):
        return
    if invoice.due_date is None:
        problems.add("Due Date is required.")
    if invoice.status == "AUTHORISED" and not invoice.line_items and not problems.messages:
        problems.add("An invoice must have at least one line item before it can be approved.")
    if any(line.account_code is None and line.line_amount != 0 for line in invoice.line_items):
        problems.add("Account code must be specified on each line item")


def _number_taken(book: OrgBook, number: str, invoice_id: str) -> bool:
    return any(
        i.type == "ACCREC" and i.invoice_id != invoice_id and i.status != "DELETED"
        for i in invoices_numbered(book, number)
    )


def _next_number(book: OrgBook) -> str:
    while True:
        number = f"INV-{book.next_invoice_number:04d}"
        book.next_invoice_number += 1
        if not _number_taken(book, number, ""):
            return number


def _recalculate(invoice: Invoice) -> None:
    invoice.sub_total, invoice.total_tax, invoice.total = totals(invoice.line_items, invoice.line_amount_types)
    if invoice.status in ("VOIDED", "DELETED"):
        invoice.amount_due = ZERO
    else:
        invoice.amount_due = invoice.total - invoice.amount_paid - invoice.amount_credited


def settle(invoice: Invoice, on_date) -> None:
    """Move between AUTHORISED and PAID as the amount due reaches or leaves zero."""
    if invoice.status == "AUTHORISED" and invoice.amount_due == 0:
        invoice.status = "PAID"
        invoice.fully_paid_on = on_date
    elif invoice.status == "PAID" and invoice.amount_due > 0:
        invoice.status = "AUTHORISED"
        invoice.fully_paid_on = None


def apply_money(ctx: Ctx, invoice: Invoice, *, paid=ZERO, credited=ZERO, on_date) -> None:
    """Add (or, negative, take back) a payment or a credit allocation."""
    invoice.amount_paid += paid
    invoice.amount_credited += credited
    invoice.amount_due = invoice.total - invoice.amount_paid - invoice.amount_credited
    settle(invoice, on_date)
    invoice.updated_utc = ctx.now
    ctx.changed(INVOICE, invoice.invoice_id)


def invoice_ref_json(book: OrgBook, invoice: Invoice) -> dict:
    """The invoice as embedded in payments and allocations."""
    return drop_none({
        "Type": invoice.type,
        "InvoiceID": invoice.invoice_id,
        "InvoiceNumber": invoice.invoice_number,
        "Contact": contact_ref_json(book.contacts.get(invoice.contact_id)),
        "CurrencyCode": invoice.currency_code,
        "Status": invoice.status,
        "HasErrors": False,
        "IsDiscounted": False,
        "HasAttachments": False,
        "LineItems": [],
    })


def invoice_json(book: OrgBook, invoice: Invoice) -> dict:
    return drop_none({
        "Type": invoice.type,
        "InvoiceID": invoice.invoice_id,
        "InvoiceNumber": invoice.invoice_number,
        "Reference": invoice.reference or "",
        "Payments": _payments_json(book, invoice),
        "CreditNotes": _credit_notes_json(book, invoice),
        "Prepayments": _credits_json(book, invoice, "prepayment"),
        "Overpayments": _credits_json(book, invoice, "overpayment"),
        "AmountDue": invoice.amount_due,
        "AmountPaid": invoice.amount_paid,
        "AmountCredited": invoice.amount_credited,
        "SentToContact": invoice.sent_to_contact,
        "CurrencyRate": invoice.currency_rate,
        "IsDiscounted": any(line.discount_rate for line in invoice.line_items),
        "HasAttachments": False,
        "HasErrors": False,
        "Contact": contact_ref_json(book.contacts.get(invoice.contact_id)),
        "DateString": date_string(invoice.date),
        "Date": maybe_date(invoice.date),
        "DueDateString": date_string(invoice.due_date) if invoice.due_date else None,
        "DueDate": maybe_date(invoice.due_date),
        "ExpectedPaymentDate": maybe_date(invoice.expected_payment_date),
        "Status": invoice.status,
        "LineAmountTypes": invoice.line_amount_types,
        "LineItems": [line_json(line) for line in invoice.line_items],
        "SubTotal": invoice.sub_total,
        "TotalTax": invoice.total_tax,
        "Total": invoice.total,
        "UpdatedDateUTC": stamp(invoice.updated_utc),
        "CurrencyCode": invoice.currency_code,
        "FullyPaidOnDate": maybe_date(invoice.fully_paid_on),
        "Url": invoice.url,
    })


def _payments_json(book: OrgBook, invoice: Invoice) -> list[dict]:
    return [
        drop_none({
            "PaymentID": p.payment_id,
            "Date": maybe_date(p.date),
            "Amount": p.amount,
            "Reference": p.reference,
            "CurrencyRate": p.currency_rate,
            "HasAccount": False,
            "HasValidationErrors": False,
        })
        for p in payments_of(book, invoice.invoice_id)
    ]


def _credit_notes_json(book: OrgBook, invoice: Invoice) -> list[dict]:
    return [
        drop_none({
            "CreditNoteID": credit.credit_id,
            "CreditNoteNumber": credit.credit_note_number,
            "Date": maybe_date(allocation.date),
            "AppliedAmount": allocation.amount,
            "Total": credit.total,
            "Status": credit.status,
            "LineItems": [],
        })
        for credit, allocation in allocations_to(book, "creditnote", invoice.invoice_id)
    ]


def _credits_json(book: OrgBook, invoice: Invoice, kind: str) -> list[dict]:
    key = "OverpaymentID" if kind == "overpayment" else "PrepaymentID"
    return [
        {
            key: credit.credit_id,
            "Date": maybe_date(allocation.date),
            "AppliedAmount": allocation.amount,
            "Total": credit.total,
            "Status": credit.status,
            "LineItems": [],
        }
        for credit, allocation in allocations_to(book, kind, invoice.invoice_id)
    ]
