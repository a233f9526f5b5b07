"""Overpayments and prepayments (created by bank transactions) and their allocations to invoices."""
from ..errors import ValidationFailed
from ..models import ZERO, Allocation, Credit, OrgBook
from ..wire import date_string, is_guid, new_id
from .common import (
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

ID_KEYS = {"overpayment": "OverpaymentID", "prepayment": "PrepaymentID"}
LABELS = {"overpayment": "overpayment", "prepayment": "prepayment"}


def find_credit(book: OrgBook, kind: str, credit_id: str) -> Credit | None:
    return book.credits(kind).get(credit_id.lower()) if is_guid(credit_id) else None


def allocate(ctx: Ctx, credit: Credit, data: dict) -> Allocation:
    """Apply part of the credit to an invoice of the same contact and currency."""
    label = LABELS[credit.kind]
    problems = Problems()
    if credit.status != "AUTHORISED":
        problems.add(f"This {label} is {credit.status} and has no credit left to allocate")
    invoice = problems.attempt(_invoice, ctx.book, data)
    amount = problems.attempt(optional_decimal, data, "Amount")
    on_date = problems.attempt(optional_date, data, "Date") or ctx.today
    if amount is None or amount <= 0:
        problems.add("Allocation amount must be greater than zero")
    elif amount > credit.remaining_credit:
        problems.add(f"The amount allocated exceeds the remaining credit on this {label}")
    if invoice is not None:
        _check_invoice(credit, invoice, amount, problems)
    problems.check()
    allocation = Allocation(allocation_id=new_id(), invoice_id=invoice.invoice_id, amount=amount, date=on_date)
    credit.allocations.append(allocation)
    credit.remaining_credit -= amount
    if credit.remaining_credit == 0:
        credit.status = "PAID"
    credit.updated_utc = ctx.now
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


def _check_invoice(credit: Credit, invoice, amount, problems: Problems) -> None:
    expected_type = "ACCREC" if credit.type.startswith("RECEIVE") else "ACCPAY"
    if invoice.type != expected_type:
        problems.add(f"A {credit.type} can only be allocated to {expected_type} invoices")
    if invoice.status != "AUTHORISED":
        problems.add("Credit can only be allocated to AUTHORISED invoices with an amount due")
    if invoice.contact_id != credit.contact_id:
        problems.add(f"The invoice and the {LABELS[credit.kind]} must belong to the same contact")
    if invoice.currency_code != credit.currency_code:
        problems.add(f"The invoice and the {LABELS[credit.kind]} must be in the same currency")
    if amount is not None and invoice.status == "AUTHORISED" and amount > invoice.amount_due:
        problems.add("The amount allocated exceeds the amount outstanding on the invoice")


def delete_allocation(ctx: Ctx, credit: Credit, allocation_id: str) -> Allocation:
    allocation = next((a for a in credit.allocations if a.allocation_id == allocation_id.lower()), None)
    if allocation is None or allocation.is_deleted:
        raise ValidationFailed("Allocation could not be found")
    invoice = ctx.book.invoices[allocation.invoice_id]
    allocation.is_deleted = True
    credit.remaining_credit += allocation.amount
    if credit.status == "PAID":
        credit.status = "AUTHORISED"
    credit.updated_utc = ctx.now
    apply_money(ctx, invoice, credited=-allocation.amount, on_date=ctx.today)
    return allocation


def allocation_json(book: OrgBook, credit: Credit, allocation: Allocation) -> dict:
    return {
        "AllocationID": allocation.allocation_id,
        "Amount": allocation.amount,
        "Date": maybe_date(allocation.date),
        "Invoice": invoice_ref_json(book, book.invoices[allocation.invoice_id]),
        ("Overpayment" if credit.kind == "overpayment" else "Prepayment"): {
            ID_KEYS[credit.kind]: credit.credit_id, "Type": credit.type, "LineItems": [],
        },
        "IsDeleted": allocation.is_deleted,
        "StatusAttributeString": "OK",
    }


def credit_json(book: OrgBook, credit: Credit) -> dict:
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
        "Allocations": [
            {
                "AllocationID": a.allocation_id,
                "Amount": a.amount,
                "Date": maybe_date(a.date),
                "Invoice": invoice_ref_json(book, book.invoices[a.invoice_id]),
            }
            for a in credit.allocations
            if not a.is_deleted
        ],
        "Payments": [],
        "HasAttachments": False,
    })


def total_credit(book: OrgBook) -> dict:
    """Remaining credit per contact id, for the control API's state dump."""
    result: dict[str, object] = {}
    for credit in list(book.overpayments.values()) + list(book.prepayments.values()):
        if credit.status == "AUTHORISED":
            result[credit.contact_id] = result.get(credit.contact_id, ZERO) + credit.remaining_credit
    return result
