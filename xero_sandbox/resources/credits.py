"""Credit held for a contact (overpayments and prepayments, created by bank transactions; credit
notes) and how it is used: allocations to invoices and refunds (payments, see ``payments``).

The three kinds share the rules: only AUTHORISED credit is used; RemainingCredit goes down with
each allocation or refund and up again when one is deleted; the credit is PAID at 0.
"""
from ..errors import ValidationFailed
from ..indexes import index, refunds_of
from ..models import ZERO, Allocation, OrgBook
from ..wire import date_string, is_guid, new_id
from .common import (
    CREDITNOTE,
    Ctx,
    Problems,
    contact_ref_json,
    drop_none,
    line_json,
    maybe_date,
    nested,
    optional_date,
    optional_decimal,
    stamp,
)
from .invoices import apply_money, find_invoice, invoice_ref_json
from .locks import check_open

ID_KEYS = {"overpayment": "OverpaymentID", "prepayment": "PrepaymentID", "creditnote": "CreditNoteID"}
LABELS = {"overpayment": "overpayment", "prepayment": "prepayment", "creditnote": "credit note"}
OBJECT_KEYS = {"overpayment": "Overpayment", "prepayment": "Prepayment", "creditnote": "CreditNote"}
# The invoices each type of credit can pay.
INVOICE_TYPES = {
    "RECEIVE-OVERPAYMENT": "ACCREC", "RECEIVE-PREPAYMENT": "ACCREC", "ACCRECCREDIT": "ACCREC",
    "SPEND-OVERPAYMENT": "ACCPAY", "SPEND-PREPAYMENT": "ACCPAY", "ACCPAYCREDIT": "ACCPAY",
}


def find_credit(book: OrgBook, kind: str, credit_id: str):
    return book.credits(kind).get(credit_id.lower()) if is_guid(credit_id) else None


def use_credit(ctx: Ctx, credit, amount, on_date) -> None:
    """Take ``amount`` (an allocation or a refund; negative: give it back) from the credit."""
    credit.remaining_credit -= amount
    if credit.status == "AUTHORISED" and credit.remaining_credit == 0:
        credit.status = "PAID"
        if credit.kind == "creditnote":
            credit.fully_paid_on = on_date
    elif credit.status == "PAID" and credit.remaining_credit > 0:
        credit.status = "AUTHORISED"
        if credit.kind == "creditnote":
            credit.fully_paid_on = None
    credit.updated_utc = ctx.now
    if credit.kind == "creditnote":
        ctx.changed(CREDITNOTE, credit.credit_id)


def allocate(ctx: Ctx, credit, data: dict) -> Allocation:
    """Apply part of the credit to an invoice of the same contact and currency."""
    label = LABELS[credit.kind]
    problems = Problems()
    if credit.status != "AUTHORISED":
        problems.add(f"This {label} is {credit.status} and has no credit left to allocate")
    invoice = problems.attempt(_invoice, ctx.book, data)
    amount = problems.attempt(optional_decimal, data, "Amount")
    on_date = problems.attempt(optional_date, data, "Date") or ctx.today
    check_open(ctx, on_date, problems)
    if amount is None or amount <= 0:
        problems.add("Allocation amount must be greater than zero")
    elif amount > credit.remaining_credit:
        problems.add(f"The amount allocated exceeds the remaining credit on this {label}")
    if invoice is not None:
        _check_invoice(credit, invoice, amount, problems)
    problems.check()
    allocation = Allocation(allocation_id=new_id(), invoice_id=invoice.invoice_id, amount=amount, date=on_date)
    credit.allocations.append(allocation)
    index(ctx.book).note_allocation(credit.kind, credit.credit_id, invoice.invoice_id)
    use_credit(ctx, credit, amount, on_date)
    apply_money(ctx, invoice, credited=amount, on_date=on_date)
    return allocation


def _invoice(book: OrgBook, data: dict):
    ref = nested(data, "Invoice")
    identifier = ref.get("InvoiceID") or ref.get("InvoiceNumber")
    if not identifier:
        raise ValidationFailed("You must specify the Invoice (InvoiceID or InvoiceNumber) to allocate to")
    invoice = find_invoice(book, str(identifier))
    if invoice is None:
        raise ValidationFailed(f"Invoice '{identifier}' could not be found")
    return invoice


def _check_invoice(credit, invoice, amount, problems: Problems) -> None:
    label = LABELS[credit.kind]
    expected_type = INVOICE_TYPES[credit.type]
    if invoice.type != expected_type:
        problems.add(f"A {credit.type} can only be allocated to {expected_type} invoices")
    if invoice.status != "AUTHORISED":
        problems.add("Credit can only be allocated to AUTHORISED invoices with an amount due")
    if invoice.contact_id != credit.contact_id:
        problems.add(f"The invoice and the {label} must belong to the same contact")
    if invoice.currency_code != credit.currency_code:
        problems.add(f"The invoice and the {label} must be in the same currency")
    if amount is not None and invoice.status == "AUTHORISED" and amount > invoice.amount_due:
        problems.add("The amount allocated exceeds the amount outstanding on the invoice")


def delete_allocation(ctx: Ctx, credit, allocation_id: str) -> Allocation:
    """Undo an allocation: the invoice is owed again and the credit can be used again."""
    allocation = next((a for a in credit.allocations if a.allocation_id == allocation_id.lower()), None)
    if allocation is None or allocation.is_deleted:
        raise ValidationFailed("Allocation could not be found")
    invoice = ctx.book.invoices[allocation.invoice_id]
    allocation.is_deleted = True
    use_credit(ctx, credit, -allocation.amount, ctx.today)
    apply_money(ctx, invoice, credited=-allocation.amount, on_date=ctx.today)
    return allocation


def credit_ref_json(credit) -> dict:
    """The credit as embedded in an allocation."""
    body = {ID_KEYS[credit.kind]: credit.credit_id, "Type": credit.type, "LineItems": []}
    if credit.kind == "creditnote" and credit.credit_note_number:
        body["CreditNoteNumber"] = credit.credit_note_number
    return body


def allocation_json(book: OrgBook, credit, allocation: Allocation) -> dict:
    return {
        "AllocationID": allocation.allocation_id,
        "Amount": allocation.amount,
        "Date": maybe_date(allocation.date),
        "Invoice": invoice_ref_json(book, book.invoices[allocation.invoice_id]),
        OBJECT_KEYS[credit.kind]: credit_ref_json(credit),
        "IsDeleted": allocation.is_deleted,
        "StatusAttributeString": "OK",
    }


def allocations_json(book: OrgBook, credit) -> list[dict]:
    """The live allocations, as listed inside the credit."""
    return [
        {
            "AllocationID": a.allocation_id,
            "Amount": a.amount,
            "Date": maybe_date(a.date),
            "Invoice": invoice_ref_json(book, book.invoices[a.invoice_id]),
        }
        for a in credit.allocations
        if not a.is_deleted
    ]


def refunds_json(book: OrgBook, credit) -> list[dict]:
    """Refund payments of the credit, as Xero lists them under ``Payments``."""
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
        for p in refunds_of(book, credit.credit_id)
    ]


def credit_json(book: OrgBook, credit) -> dict:
    """An overpayment or prepayment in Xero's JSON."""
    return drop_none({
        ID_KEYS[credit.kind]: credit.credit_id,
        "Type": credit.type,
        "Contact": contact_ref_json(book.contacts.get(credit.contact_id)),
        "DateString": date_string(credit.date),
        "Date": maybe_date(credit.date),
        "Status": credit.status,
        "LineAmountTypes": credit.line_amount_types,
        "LineItems": [line_json(line) for line in credit.line_items],
        "SubTotal": credit.sub_total,
        "TotalTax": credit.total_tax,
        "Total": credit.total,
        "UpdatedDateUTC": stamp(credit.updated_utc),
        "CurrencyCode": credit.currency_code,
        "CurrencyRate": credit.currency_rate,
        "RemainingCredit": credit.remaining_credit,
        "Allocations": allocations_json(book, credit),
        "Payments": refunds_json(book, credit),
        "HasAttachments": False,
    })


def total_credit(book: OrgBook) -> dict:
    """Remaining credit per contact id: AUTHORISED overpayments, prepayments and credit notes."""
    result: dict[str, object] = {}
    for kind in ("overpayment", "prepayment", "creditnote"):
        for credit in book.credits(kind).values():
            if credit.status == "AUTHORISED":
                result[credit.contact_id] = result.get(credit.contact_id, ZERO) + credit.remaining_credit
    return result
