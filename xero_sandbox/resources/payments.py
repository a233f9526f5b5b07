"""Payments against AUTHORISED invoices, and their deletion (the only edit Xero allows)."""
from ..errors import ValidationFailed
from ..models import Account, Invoice, OrgBook, Payment
from ..wire import is_guid, new_id
from .common import (
    Ctx,
    Problems,
    account_ref_json,
    drop_none,
    find_account,
    maybe_date,
    nested,
    optional_date,
    optional_decimal,
    stamp,
    text,
)
from .invoices import apply_money, find_invoice, invoice_ref_json

PAYMENT_TYPES = {"ACCREC": "ACCRECPAYMENT", "ACCPAY": "ACCPAYPAYMENT"}
ENUMS = {"Status": ("AUTHORISED", "DELETED")}


def create_payment(ctx: Ctx, data: dict) -> Payment:
    problems = Problems()
    invoice = problems.attempt(_invoice, ctx.book, data)
    account = problems.attempt(_account, ctx.book, data)
    amount = problems.attempt(optional_decimal, data, "Amount")
    if amount is None or amount <= 0:
        problems.add("Payment amount must be greater than zero")
    elif invoice is not None:
        if invoice.status != "AUTHORISED":
            problems.add("Payment can only be made against an AUTHORISED invoice")
        elif amount > invoice.amount_due:
            problems.add("Payment amount exceeds the amount outstanding on this document")
    on_date = problems.attempt(optional_date, data, "Date") or ctx.today
    reference = problems.attempt(text, data, "Reference")
    rate = problems.attempt(optional_decimal, data, "CurrencyRate")
    problems.check()
    payment = Payment(
        payment_id=new_id(), invoice_id=invoice.invoice_id, account_id=account.account_id, date=on_date,
        amount=amount, currency_rate=rate or invoice.currency_rate, payment_type=PAYMENT_TYPES[invoice.type],
        created_utc=ctx.now, updated_utc=ctx.now, reference=reference, is_reconciled=bool(data.get("IsReconciled")),
    )
    apply_money(ctx, invoice, paid=amount, on_date=on_date)
    ctx.book.payments[payment.payment_id] = payment
    return payment


def _invoice(book: OrgBook, data: dict) -> Invoice:
    if any(data.get(key) for key in ("CreditNote", "Overpayment", "Prepayment", "CreditNoteNumber")):
        raise ValidationFailed("The sandbox only supports payments against invoices")
    ref = nested(data, "Invoice")
    identifier = ref.get("InvoiceID") or ref.get("InvoiceNumber") or data.get("InvoiceNumber")
    if not identifier:
        raise ValidationFailed("You must specify an Invoice (InvoiceID or InvoiceNumber) for the payment")
    invoice = find_invoice(book, str(identifier))
    if invoice is None:
        raise ValidationFailed(f"Invoice '{identifier}' could not be found")
    return invoice


def _account(book: OrgBook, data: dict) -> Account:
    ref = nested(data, "Account")
    if not ref and data.get("Code"):
        ref = {"Code": data["Code"]}
    if not ref:
        raise ValidationFailed("You must specify an Account (AccountID or Code) for the payment")
    account = find_account(book, ref)
    if account is None or account.status != "ACTIVE":
        raise ValidationFailed("Account could not be found or is archived")
    if account.type != "BANK" and not account.enable_payments_to_account:
        raise ValidationFailed(
            "Payments can only be made to BANK accounts or accounts with payments enabled "
            f"(account code '{account.code}')"
        )
    return account


def find_payment(book: OrgBook, payment_id: str) -> Payment | None:
    return book.payments.get(payment_id.lower()) if is_guid(payment_id) else None


def delete_payment(ctx: Ctx, payment: Payment, data: dict) -> Payment:
    if data.get("Status") != "DELETED":
        raise ValidationFailed("Payments cannot be edited; you can only delete one with Status DELETED")
    if payment.status == "DELETED":
        raise ValidationFailed("This payment has already been deleted")
    invoice = ctx.book.invoices[payment.invoice_id]
    payment.status = "DELETED"
    payment.updated_utc = ctx.now
    apply_money(ctx, invoice, paid=-payment.amount, on_date=ctx.today)
    return payment


def payment_json(book: OrgBook, payment: Payment) -> dict:
    invoice = book.invoices[payment.invoice_id]
    return drop_none({
        "PaymentID": payment.payment_id,
        "Date": maybe_date(payment.date),
        "BankAmount": payment.amount,
        "Amount": payment.amount,
        "Reference": payment.reference,
        "CurrencyRate": payment.currency_rate,
        "PaymentType": payment.payment_type,
        "Status": payment.status,
        "UpdatedDateUTC": stamp(payment.updated_utc),
        "HasAccount": True,
        "IsReconciled": payment.is_reconciled,
        "HasValidationErrors": False,
        "Account": account_ref_json(book.accounts.get(payment.account_id)),
        "Invoice": invoice_ref_json(book, invoice),
    })
