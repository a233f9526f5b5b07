"""Bank transactions: RECEIVE/SPEND with coded lines, and the -OVERPAYMENT/-PREPAYMENT kinds
that create an overpayment or prepayment holding the money as credit for the contact.

Deleting one of the latter voids its overpayment or prepayment (Overpayment Status has no DELETED),
which is refused while any of that credit is allocated or refunded."""
from decimal import Decimal

from ..errors import ValidationFailed
from ..models import ZERO, BankTransaction, Credit, OrgBook
from ..wire import date_string, is_guid, new_id, parse_date
from .common import (
    DATE_KEYS,
    DROP_KEYS,
    LINE_AMOUNT_TYPES,
    Ctx,
    Problems,
    amounts_type,
    bank_account,
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
)
from .locks import check_open

TYPES = ("RECEIVE", "SPEND", "RECEIVE-OVERPAYMENT", "SPEND-OVERPAYMENT", "RECEIVE-PREPAYMENT", "SPEND-PREPAYMENT")
ENUMS = {"Type": TYPES, "Status": ("AUTHORISED", "DELETED", "VOIDED"), "LineAmountTypes": LINE_AMOUNT_TYPES}
# Xero keeps Reference only on plain RECEIVE/SPEND transactions (see the BankTransaction schema).
REFERENCE_TYPES = ("RECEIVE", "SPEND")


def create_bank_transaction(ctx: Ctx, data: dict) -> BankTransaction:
    if data.get("BankTransactionID"):
        return update_bank_transaction(ctx, _by_id(ctx.book, data["BankTransactionID"]), data)
    problems = Problems()
    type_ = data.get("Type")
    if type_ not in TYPES:
        problems.add(f"Type must be one of {', '.join(TYPES)}")
    contact = problems.attempt(contact_for_document, ctx, data)
    account = problems.attempt(_bank, ctx, data)
    overpayment = type_ in ("RECEIVE-OVERPAYMENT", "SPEND-OVERPAYMENT")
    kind = "NoTax" if overpayment else problems.attempt(amounts_type, data, default="Exclusive")
    code, rate = problems.attempt(currency, ctx, data, default=(ctx.book.organisation.base_currency, None))
    lines = problems.attempt(
        build_lines, ctx, data, amounts_type=kind, need_accounts=not overpayment, no_account=overpayment, default=[]
    )
    _check_lines(type_, data, lines, problems)
    on_date = problems.attempt(optional_date, data, "Date") or ctx.today
    check_open(ctx, on_date, problems)
    reference = problems.attempt(text, data, "Reference")
    problems.check()
    store_contact(ctx, contact, customer=type_.startswith("RECEIVE"), supplier=type_.startswith("SPEND"))
    sub_total, total_tax, total = totals(lines, kind)
    transaction = BankTransaction(
        bank_transaction_id=new_id(), type=type_, contact_id=contact.contact_id, bank_account_id=account.account_id,
        date=on_date, line_amount_types=kind, currency_code=code, currency_rate=rate, created_utc=ctx.now,
        updated_utc=ctx.now, reference=reference if type_ in REFERENCE_TYPES else None, url=data.get("Url"),
        is_reconciled=bool(data.get("IsReconciled")), line_items=lines, sub_total=sub_total,
        total_tax=total_tax, total=total,
    )
    if type_ not in REFERENCE_TYPES:
        _create_credit(ctx, transaction)
    ctx.book.bank_transactions[transaction.bank_transaction_id] = transaction
    return transaction


def _bank(ctx: Ctx, data: dict):
    account = bank_account(ctx, data, "BankAccount")
    if account.type != "BANK":
        raise ValidationFailed(
            f"BankAccount must be an account of type BANK (account code '{account.code}' is {account.type})"
        )
    return account


def _check_lines(type_, data, lines, problems: Problems) -> None:
    if problems.messages and not lines:
        return
    raw_count = len(data.get("LineItems") or [])
    if raw_count == 0:
        problems.add("At least one line item is required")
    elif type_ in ("RECEIVE-OVERPAYMENT", "SPEND-OVERPAYMENT") and raw_count != 1:
        problems.add("An overpayment must have exactly one line item")
    if lines and sum(line.line_amount for line in lines) <= 0 and type_ not in REFERENCE_TYPES:
        problems.add("The total of an overpayment or prepayment must be greater than zero")


def _create_credit(ctx: Ctx, transaction: BankTransaction) -> None:
    kind = "overpayment" if transaction.type.endswith("OVERPAYMENT") else "prepayment"
    credit = Credit(
        credit_id=new_id(), kind=kind, type=transaction.type, contact_id=transaction.contact_id,
        date=transaction.date, line_amount_types=transaction.line_amount_types,
        currency_code=transaction.currency_code, currency_rate=transaction.currency_rate,
        created_utc=ctx.now, updated_utc=ctx.now, bank_transaction_id=transaction.bank_transaction_id,
        line_items=transaction.line_items, sub_total=transaction.sub_total, total_tax=transaction.total_tax,
        total=transaction.total, remaining_credit=transaction.total,
    )
    ctx.book.credits(kind)[credit.credit_id] = credit
    if kind == "overpayment":
        transaction.overpayment_id = credit.credit_id
    else:
        transaction.prepayment_id = credit.credit_id


def _by_id(book: OrgBook, transaction_id) -> BankTransaction:
    transaction = find_bank_transaction(book, str(transaction_id))
    if transaction is None:
        raise ValidationFailed(f"Bank transaction '{transaction_id}' could not be found")
    return transaction


def find_bank_transaction(book: OrgBook, transaction_id: str) -> BankTransaction | None:
    return book.bank_transactions.get(transaction_id.lower()) if is_guid(transaction_id) else None


EDITABLE = {"BankTransactionID", "Status", "Reference", "Url", "IsReconciled"}


def update_bank_transaction(ctx: Ctx, transaction: BankTransaction, data: dict) -> BankTransaction:
    """The sandbox supports deleting a bank transaction and editing Reference/Url/IsReconciled.

    Other fields may be sent as they are (the spec makes Type, LineItems and BankAccount required,
    and a fetched transaction sent back carries everything); changing them is not supported."""
    if transaction.status != "AUTHORISED":
        raise ValidationFailed("This bank transaction has been deleted and cannot be edited")
    current = bank_transaction_json(ctx.book, transaction)
    unsupported = [key for key in data if key not in EDITABLE and not _same(key, data[key], current.get(key))]
    if unsupported:
        raise ValidationFailed(f"The sandbox cannot edit {', '.join(sorted(unsupported))} on a bank transaction")
    status = data.get("Status", transaction.status)
    if status not in ("AUTHORISED", "DELETED"):
        raise ValidationFailed("Status must be AUTHORISED or DELETED")
    credit = _credit_of(ctx.book, transaction)
    if status == "DELETED" and credit is not None:
        if any(not a.is_deleted for a in credit.allocations):
            raise ValidationFailed("This transaction cannot be deleted as its credit has been allocated to invoices")
        if any(p.credit_id == credit.credit_id and p.status == "AUTHORISED" for p in ctx.book.payments.values()):
            raise ValidationFailed("This transaction cannot be deleted as its credit has been refunded")
    if "Reference" in data and transaction.type in REFERENCE_TYPES:
        transaction.reference = text(data, "Reference")
    if "Url" in data:
        transaction.url = text(data, "Url")
    if "IsReconciled" in data:
        transaction.is_reconciled = bool(data["IsReconciled"])
    transaction.status = status
    transaction.updated_utc = ctx.now
    if status == "DELETED" and credit is not None:
        credit.status = "VOIDED"
        credit.remaining_credit = ZERO
        credit.updated_utc = ctx.now
    return transaction


def _same(key: str, given, stored) -> bool:
    """Whether ``given`` (part of a request) says nothing different from ``stored`` (the JSON we
    render): objects match on the keys given, lists item by item, numbers and dates by value."""
    if key in DROP_KEYS or stored is None and given in (None, "", [], False):
        return True
    if isinstance(given, dict):
        return isinstance(stored, dict) and all(_same(k, v, stored.get(k)) for k, v in given.items())
    if isinstance(given, list):
        return isinstance(stored, list) and len(given) == len(stored) and all(
            _same(key, g, s) for g, s in zip(given, stored, strict=True))
    if key in DATE_KEYS or key == "DateString":
        try:
            return parse_date(str(given)) == parse_date(str(stored))
        except ValueError:
            return False
    if isinstance(given, (int, float)) and not isinstance(given, bool):
        return isinstance(stored, (int, float, Decimal)) and Decimal(str(given)) == Decimal(str(stored))
    if isinstance(given, str) and key.endswith("ID"):
        return isinstance(stored, str) and given.lower() == stored.lower()
    return given == stored


def _credit_of(book: OrgBook, transaction: BankTransaction):
    if transaction.overpayment_id:
        return book.overpayments.get(transaction.overpayment_id)
    if transaction.prepayment_id:
        return book.prepayments.get(transaction.prepayment_id)
    return None


def bank_transaction_json(book: OrgBook, transaction: BankTransaction) -> dict:
    account = book.accounts.get(transaction.bank_account_id)
    return drop_none({
        "BankTransactionID": transaction.bank_transaction_id,
        "Type": transaction.type,
        "Contact": contact_ref_json(book.contacts.get(transaction.contact_id)),
        "LineItems": [line_json(line) for line in transaction.line_items],
        "BankAccount": {"AccountID": account.account_id, "Code": account.code, "Name": account.name},
        "IsReconciled": transaction.is_reconciled,
        "DateString": date_string(transaction.date),
        "Date": maybe_date(transaction.date),
        "Reference": transaction.reference,
        "CurrencyCode": transaction.currency_code,
        "CurrencyRate": transaction.currency_rate,
        "Url": transaction.url,
        "Status": transaction.status,
        "LineAmountTypes": transaction.line_amount_types,
        "SubTotal": transaction.sub_total,
        "TotalTax": transaction.total_tax,
        "Total": transaction.total,
        "OverpaymentID": transaction.overpayment_id,
        "PrepaymentID": transaction.prepayment_id,
        "UpdatedDateUTC": stamp(transaction.updated_utc),
        "HasAttachments": False,
    })
