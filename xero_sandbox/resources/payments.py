"""Payments against AUTHORISED invoices, refunds of credit (a Payment naming a ``CreditNote``,
``Overpayment`` or ``Prepayment`` instead of an ``Invoice``), and their deletion (the only edit Xero
allows: the invoice is owed again, or the credit is available again)."""
from ..errors import ValidationFailed
from ..indexes import credit_notes_numbered, index
from ..models import Account, Invoice, OrgBook, Payment
from ..wire import is_guid, new_id
from .common import (
    Ctx,
    Problems,
    account_ref_json,
    contact_ref_json,
    drop_none,
    find_account,
    maybe_date,
    nested,
    optional_date,
    optional_decimal,
    stamp,
    text,
)
from .credits import find_credit, use_credit
from .invoices import apply_money, find_invoice, invoice_ref_json
from .locks import check_open

PAYMENT_TYPES = {
    "ACCREC": "ACCRECPAYMENT", "ACCPAY": "ACCPAYPAYMENT",
    "ACCRECCREDIT": "ARCREDITPAYMENT", "ACCPAYCREDIT": "APCREDITPAYMENT",
    "RECEIVE-OVERPAYMENT": "AROVERPAYMENTPAYMENT", "SPEND-OVERPAYMENT": "APOVERPAYMENTPAYMENT",
    "RECEIVE-PREPAYMENT": "ARPREPAYMENTPAYMENT", "SPEND-PREPAYMENT": "APPREPAYMENTPAYMENT",
}
# How a refunded credit appears in the payment's ``Invoice`` (Xero's GET /Payments example shows a
# credit note there with Type ACCRECCREDIT; overpayments and prepayments come back the same way).
REFUNDED_TYPES = {
    "ACCRECCREDIT": "ACCRECCREDIT", "ACCPAYCREDIT": "ACCPAYCREDIT",
    "RECEIVE-OVERPAYMENT": "AROVERPAYMENT", "SPEND-OVERPAYMENT": "APOVERPAYMENT",
    "RECEIVE-PREPAYMENT": "ARPREPAYMENT", "SPEND-PREPAYMENT": "APPREPAYMENT",
}
CREDIT_REFS = (("CreditNote", "creditnote"), ("Overpayment", "overpayment"), ("Prepayment", "prepayment"))
ENUMS = {"Status": ("AUTHORISED", "DELETED")}
EXCEEDS = "Payment amount exceeds the amount outstanding on this document"


def create_payment(ctx: Ctx, data: dict) -> Payment:
    if any(data.get(key) for key, _ in CREDIT_REFS) or data.get("CreditNoteNumber"):
        return _refund(ctx, data)
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
            problems.add(EXCEEDS)
    on_date = problems.attempt(optional_date, data, "Date") or ctx.today
    check_open(ctx, on_date, problems)
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
    index(ctx.book).note_payment(payment)
    return payment


def _refund(ctx: Ctx, data: dict) -> Payment:
    """Money paid back out of a credit note, overpayment or prepayment: RemainingCredit goes down."""
    problems = Problems()
    credit = problems.attempt(_credit, ctx.book, data)
    account = problems.attempt(_account, ctx.book, data)
    amount = problems.attempt(optional_decimal, data, "Amount")
    if amount is None or amount <= 0:
        problems.add("Payment amount must be greater than zero")
    elif credit is not None:
        if credit.status != "AUTHORISED":
            problems.add(f"A refund can only be made from AUTHORISED credit (this one is {credit.status})")
        elif amount > credit.remaining_credit:
            problems.add(EXCEEDS)
    on_date = problems.attempt(optional_date, data, "Date") or ctx.today
    check_open(ctx, on_date, problems)
    reference = problems.attempt(text, data, "Reference")
    rate = problems.attempt(optional_decimal, data, "CurrencyRate")
    problems.check()
    payment = Payment(
        payment_id=new_id(), invoice_id=None, account_id=account.account_id, date=on_date, amount=amount,
        currency_rate=rate or credit.currency_rate, payment_type=PAYMENT_TYPES[credit.type], created_utc=ctx.now,
        updated_utc=ctx.now, reference=reference, is_reconciled=bool(data.get("IsReconciled")),
        credit_kind=credit.kind, credit_id=credit.credit_id,
    )
    use_credit(ctx, credit, amount, on_date)
    ctx.book.payments[payment.payment_id] = payment
    index(ctx.book).note_payment(payment)
    return payment


def _credit(book: OrgBook, data: dict):
    named = [(key, kind) for key, kind in CREDIT_REFS if data.get(key)]
    if data.get("CreditNoteNumber") and not any(kind == "creditnote" for _, kind in named):
        named.append(("CreditNote", "creditnote"))
    if len(named) > 1 or data.get("Invoice"):
        raise ValidationFailed("A payment is for one Invoice, CreditNote, Overpayment or Prepayment")
    key, kind = named[0]
    ref = nested(data, key)
    id_key = f"{key}ID"
    identifier = ref.get(id_key)
    if kind == "creditnote" and not identifier:
        number = ref.get("CreditNoteNumber") or data.get("CreditNoteNumber")
        credit = next((c for c in credit_notes_numbered(book, str(number or "")) if c.status != "DELETED"), None)
        if credit is None:
            raise ValidationFailed(f"Credit note '{number}' could not be found")
        return credit
    if not identifier:
        raise ValidationFailed(f"You must specify the {key} ({id_key}) to refund")
    credit = find_credit(book, kind, str(identifier))
    if credit is None:
        raise ValidationFailed(f"{key} with {id_key} '{identifier}' could not be found")
    return credit


def _invoice(book: OrgBook, data: dict) -> Invoice:
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
    payment.status = "DELETED"
    payment.updated_utc = ctx.now
    if payment.invoice_id is None:
        use_credit(ctx, refunded(ctx.book, payment), -payment.amount, ctx.today)
    else:
        apply_money(ctx, ctx.book.invoices[payment.invoice_id], paid=-payment.amount, on_date=ctx.today)
    return payment


def refunded(book: OrgBook, payment: Payment):
    """The credit note, overpayment or prepayment a refund paid out of."""
    return book.credits(payment.credit_kind)[payment.credit_id]


def payment_json(book: OrgBook, payment: Payment) -> dict:
    if payment.invoice_id is not None:
        document = invoice_ref_json(book, book.invoices[payment.invoice_id])
    else:
        document = _refunded_ref_json(book, refunded(book, payment))
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
        "Invoice": document,
    })


def _refunded_ref_json(book: OrgBook, credit) -> dict:
    """As Xero answers for a refund: the credit in the ``Invoice`` element, its id as InvoiceID."""
    return drop_none({
        "Type": REFUNDED_TYPES[credit.type],
        "InvoiceID": credit.credit_id,
        "InvoiceNumber": getattr(credit, "credit_note_number", None),
        "Contact": contact_ref_json(book.contacts.get(credit.contact_id)),
        "CurrencyCode": credit.currency_code,
        "Status": credit.status,
        "HasErrors": False,
        "IsDiscounted": False,
        "HasAttachments": False,
        "LineItems": [],
    })
