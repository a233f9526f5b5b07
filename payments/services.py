"""The one way code and tests create customers and billing events. Each service runs in one transaction
and rejects bad input with BillingError, changing nothing.

**One lock order for a customer's money.** Every service that creates, uses, refunds or reverses credit or
payments takes its row locks in this order, and no other:

1. the customer (`_lock_customer`: SELECT ... FOR NO KEY UPDATE of the Customer row), first, even when it
   is given an invoice or a payment: two operations on one customer's money run one after the other;
2. then the invoice(s) it changes, and the payment it reverses (oldest first when several);
3. then it re-reads, inside those locks, what it spends: what an invoice owes, the credit each payment and
   credit note still holds (selectors.credit_sources), what a payment's credit was used for;
4. then the whitelabel's number counter (`_take_number`), taken before anything reaches the outbox;
5. the outbox (accounting's post_save receivers bump the whitelabel's SyncState) comes last.

A row locked but not written protects nothing by itself: the customer's lock is what makes the second of
two refunds see the first. The locks are FOR NO KEY UPDATE, which rows inserted with a foreign key to the
customer or the whitelabel (FOR KEY SHARE) never wait for. tests/payments/test_concurrency.py races every
pair of these services on PostgreSQL.
"""

import datetime
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import pycountry
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from .models import (
    CATEGORY_MAX,
    Allocation,
    CreditNote,
    CreditNoteAllocation,
    CreditNoteLine,
    Customer,
    Invoice,
    InvoiceLine,
    Payment,
    Receipt,
    Refund,
    RefundPart,
    Whitelabel,
)
from .selectors import credit_sources, customer_credit, customer_open_invoices

CENT = Decimal("0.01")
DEFAULT_PAYMENT_TERMS_DAYS = 14
# What the database (and Xero) can hold: MONEY is 14 digits with 2 decimals; quantities 12 with 4.
MAX_MONEY = Decimal("999999999999.99")
MAX_QUANTITY = Decimal("99999999.9999")
QUANTITY_PLACES, TAX_RATE_PLACES, UNIT_PRICE_PLACES = 4, 2, 4
# ISO 4217 codes that are not money a customer pays in: no currency (XXX), testing (XTS), precious metals,
# bond market and accounting units, SDRs, and the funds codes (Xero refuses them all).
NOT_TRADED = frozenset(
    "XXX XTS XAU XAG XPD XPT XBA XBB XBC XBD XDR XSU XUA XAD BOV CHE CHW CLF COU MXV USN UYI UYW".split()
)


class BillingError(ValueError):
    """A billing request that can't be carried out; the message is shown to users as it is."""


class AlreadyRecorded(BillingError):
    """Money entered elsewhere (a `source_id`) that Arena has already recorded: nothing changed."""


@dataclass(frozen=True)
class LineInput:
    description: str
    quantity: Decimal
    unit_amount: Decimal
    tax_rate: Decimal = Decimal("0")
    category: str = ""  # what was sold, e.g. "nbn": the whitelabel's Xero mapping picks its account


LINE_FIELDS = ("description", "quantity", "unit_amount", "tax_rate", "category")


def _shown(value) -> str:
    """A value as a message may show it: its repr, cut short."""
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a half-made object: its type is enough
        text = f"a {type(value).__name__}"
    return text if len(text) <= 40 else text[:37] + "..."


def _decimal(value, what: str) -> Decimal:
    """A finite number: a Decimal, an int or text such as "12.50" (never a float, which loses cents)."""
    if isinstance(value, float):
        raise BillingError(f"{what} must be a Decimal or text such as '12.50', not the float {_shown(value)}.")
    if isinstance(value, bool) or not isinstance(value, (Decimal, int, str)):
        raise BillingError(f"{what} must be a number such as 12.50, not {_shown(value)}.")
    try:
        number = Decimal(value.strip() if isinstance(value, str) else value)
    except (InvalidOperation, ValueError):
        raise BillingError(f"{what} must be a number such as 12.50, not {_shown(value)}.") from None
    if not number.is_finite():
        raise BillingError(f"{what} must be a number such as 12.50, not {_shown(value)}.")
    if isinstance(value, str) and "e" in value.lower():
        raise BillingError(f"{what} must be written as a plain number such as 12.50, not {_shown(value)}.")
    return number


def _places(number: Decimal, places: int, what: str, value) -> Decimal:
    """`number` (already within a limit the database holds), if it has at most `places` decimal places."""
    if number != number.quantize(Decimal(1).scaleb(-places)):
        raise BillingError(f"{what} can't have more than {places} decimal places ({_shown(value)}).")
    return number


def _money(value, what: str, *, places: int = 2) -> Decimal:
    number = _decimal(value, what)
    if abs(number) > MAX_MONEY:
        raise BillingError(f"{what} is too large ({_shown(value)}); the most Arena records is {MAX_MONEY:,}.")
    return _places(number, places, what, value)


def _positive_money(value, what: str) -> Decimal:
    amount = _money(value, what)
    if amount <= 0:
        raise BillingError(f"{what} must be more than zero (got {amount}).")
    return amount


def _unstorable(text: str, *, multiline: bool) -> str | None:
    """The first character no record should hold: control characters (a NUL byte, an escape; line breaks
    unless `multiline`) and halves of surrogate pairs, which PostgreSQL and Xero refuse."""
    for char in text:
        if unicodedata.category(char) in ("Cc", "Cs") and not (multiline and char == "\n"):
            return char
    return None


def _text(value, what: str, *, max_length: int, required: bool = False, multiline: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise BillingError(f"{what} must be text, not {_shown(value)}.")
    text = value.replace("\r\n", "\n").strip() if multiline else value.strip()
    if required and not text:
        raise BillingError(f"{what} can't be blank.")
    bad = _unstorable(text, multiline=multiline)
    if bad is not None:
        raise BillingError(f"{what} can't contain control or invalid characters (found {bad!r}); remove it.")
    if len(text) > max_length:
        raise BillingError(f"{what} is {len(text)} characters long; the most is {max_length}.")
    return text


def _date_window() -> tuple[datetime.date, datetime.date]:
    """The dates Arena bills in: from BILLING_EARLIEST_DATE to BILLING_YEARS_AHEAD years after today."""
    today = timezone.localdate()
    try:
        latest = today.replace(year=today.year + settings.BILLING_YEARS_AHEAD)
    except ValueError:  # 29 February
        latest = today.replace(year=today.year + settings.BILLING_YEARS_AHEAD, day=28)
    return datetime.date.fromisoformat(str(settings.BILLING_EARLIEST_DATE)), latest


def _in_window(day: datetime.date, what: str, shown: str) -> None:
    earliest, latest = _date_window()
    if not earliest <= day <= latest:
        raise BillingError(
            f"{what} ({shown}) is outside the dates Arena bills, {earliest:%Y-%m-%d} to {latest:%Y-%m-%d}."
        )


def _date(value, what: str) -> datetime.date:
    """A calendar date (datetime.date, not a datetime) within the window Arena bills in."""
    if isinstance(value, datetime.datetime) or not isinstance(value, datetime.date):
        raise BillingError(f"{what} must be a date (a datetime.date such as 2026-05-01), not {_shown(value)}.")
    _in_window(value, what, value.isoformat())
    return value


def _moment(value, what: str) -> datetime.datetime:
    """A moment with its time zone, within the window Arena bills in."""
    if not isinstance(value, datetime.datetime):
        raise BillingError(f"{what} must be a date and time with a time zone, not {_shown(value)}.")
    if timezone.is_naive(value):
        raise BillingError(f"{what} needs a time zone (an aware datetime), not {_shown(value)}.")
    try:
        day = value.astimezone(datetime.UTC).date()
    except OverflowError:
        day = value.date()
    _in_window(day, what, value.isoformat(timespec="minutes"))
    return value


def _currency(value: str | None, whitelabel: Whitelabel) -> str:
    """An ISO 4217 code of money in use (any case), e.g. AUD; the whitelabel's own currency when not given."""
    if value is None:
        return whitelabel.default_currency
    code = value.strip().upper() if isinstance(value, str) else ""
    if (
        len(code) != 3
        or not (code.isascii() and code.isalpha())
        or code in NOT_TRADED
        or pycountry.currencies.get(alpha_3=code) is None
    ):
        raise BillingError(
            f"{_shown(value)} is not a currency code Arena can bill in; use the three-letter ISO 4217 code of "
            "a currency in use, such as AUD (not a fund, a precious metal or a testing code)."
        )
    return code


def _method(value) -> str:
    if not isinstance(value, str) or value not in Payment.Method.values:
        raise BillingError(f"Unknown payment method {_shown(value)}; use one of {', '.join(Payment.Method.values)}.")
    return value


def _saved(value, model, what: str):
    """`value` if it is a row of `model` that is in the database (by its primary key)."""
    if not isinstance(value, model) or value.pk is None:
        name = str(model._meta.verbose_name)
        article = "an" if name[0] in "aeiou" else "a"
        shown = "one that was never saved" if isinstance(value, model) else _shown(value)
        raise BillingError(f"{what} must be {article} {name} saved in Arena, not {shown}.")
    return value


def _line(raw, document: str) -> LineInput:
    if isinstance(raw, Mapping):
        unexpected = sorted(str(key) for key in raw if key not in LINE_FIELDS)
        if unexpected:
            raise BillingError(
                f"{document} line has unexpected fields: {', '.join(unexpected)} (a line has {', '.join(LINE_FIELDS)})."
            )
        if any(key not in raw for key in LINE_FIELDS[:3]):
            raise BillingError(
                f"{document} line needs a description, a quantity and a unit amount (its tax rate is 0 if not "
                f"given); this one has {', '.join(map(str, raw)) or 'none of them'}."
            )
        raw = LineInput(**raw)
    elif not isinstance(raw, LineInput):
        raise BillingError(f"{document} line must be a LineInput or a mapping of its fields, not {_shown(raw)}.")
    description = _text(raw.description, f"{document} line's description", max_length=500)
    if not description:
        raise BillingError(f"Every {document.split()[-1].lower()} line needs a description.")
    what = f"Line '{description[:40]}'"
    quantity = _decimal(raw.quantity, f"{what}: quantity")
    if quantity <= 0 or quantity > MAX_QUANTITY:
        raise BillingError(f"{what}: quantity must be more than zero and at most {MAX_QUANTITY:,}.")
    _places(quantity, QUANTITY_PLACES, f"{what}: quantity", raw.quantity)
    tax_rate = _decimal(raw.tax_rate, f"{what}: tax rate")
    if not Decimal("0") <= tax_rate <= Decimal("100"):
        raise BillingError(f"{what}: tax rate must be a percentage from 0 to 100.")
    _places(tax_rate, TAX_RATE_PLACES, f"{what}: tax rate", raw.tax_rate)
    unit_amount = _money(raw.unit_amount, f"{what}: unit amount", places=UNIT_PRICE_PLACES)
    if unit_amount < 0:
        raise BillingError(f"{what}: unit amount can't be negative.")
    return LineInput(description, quantity, unit_amount, tax_rate, _category(raw.category, what))


def _category(value, what: str) -> str:
    """A line's category: "" (none) or a short code such as "nbn" (lower-case letters, digits, - and _)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BillingError(f"{what}: category must be text such as 'nbn', not {_shown(value)}.")
    code = value.strip()
    if len(code) > CATEGORY_MAX:
        raise BillingError(f"{what}: category is {len(code)} characters long; the most is {CATEGORY_MAX}.")
    if code and not (code[0].isascii() and code[0].isalnum() and code == code.lower() and all(
        c.isascii() and (c.isalnum() or c in "-_") for c in code
    )):
        raise BillingError(
            f"{what}: category {_shown(value)} must be a short code of lower-case letters, digits, - or _, "
            "such as 'nbn' or 'mobile'."
        )
    return code


def _lines(raw_lines, document: str) -> list[LineInput]:
    """The lines of an invoice or credit note, each checked; at least one."""
    if isinstance(raw_lines, (str, bytes, Mapping, LineInput)) or not isinstance(raw_lines, Iterable):
        raise BillingError(
            f"{document}'s lines must be a list of lines (LineInput or mappings), not {_shown(raw_lines)}."
        )
    checked = [_line(raw, document) for raw in raw_lines]
    if not checked:
        raise BillingError(f"{document} needs at least one line.")
    return checked


def _priced(lines: list[LineInput], *, fixed_tax: Decimal | None = None):
    """Each line with its amount and tax, each rounded half away from zero to the cent as Xero rounds
    (quantity × a unit price of up to four decimal places), and the subtotal and tax total.
    `fixed_tax`: the tax of a single line whose total is given (a credit note by amount)."""
    rows = []
    for line in lines:
        amount = (line.quantity * line.unit_amount).quantize(CENT, ROUND_HALF_UP)
        tax = fixed_tax if fixed_tax is not None else (amount * line.tax_rate / 100).quantize(CENT, ROUND_HALF_UP)
        rows.append((line, amount, tax))
    return rows, sum((a for _, a, _ in rows), Decimal("0")), sum((t for _, _, t in rows), Decimal("0"))


def _lock_customer(customer_id: int) -> Customer:
    """Step 1 of the lock order (see the module's docstring): the customer's row, re-read."""
    customer = Customer.objects.select_for_update(no_key=True).select_related("whitelabel").filter(pk=customer_id)
    found = customer.first()
    if found is None:
        raise BillingError("That customer no longer exists in Arena.")
    return found


def _customer_id_of(model, row, what: str) -> int:
    """The customer an invoice or payment belongs to (read without a lock: it never changes)."""
    _saved(row, model, what)
    customer_id = model.objects.filter(pk=row.pk).values_list("customer_id", flat=True).first()
    if customer_id is None:
        raise BillingError(f"{model._meta.verbose_name.capitalize()} {row} no longer exists in Arena.")
    return customer_id


def _lock_invoice(invoice: Invoice) -> Invoice:
    """Steps 1 and 2: the invoice's customer, then the invoice, re-read under the lock."""
    customer = _lock_customer(_customer_id_of(Invoice, invoice, "The invoice"))
    locked = Invoice.objects.select_for_update(no_key=True, of=("self",)).select_related("whitelabel")
    locked = locked.get(pk=invoice.pk)
    locked.customer = customer
    return locked


def _take_number(whitelabel: Whitelabel, field: str, prefix: str, taken) -> str:
    """The next free number of the whitelabel's sequence; numbers already used (a custom invoice number
    like INV-000003) are stepped over, so auto-numbering never collides. Step 4 of the lock order."""
    locked = Whitelabel.objects.select_for_update(no_key=True).get(pk=whitelabel.pk)
    number = getattr(locked, field)
    while taken.filter(whitelabel=whitelabel, number=f"{prefix}-{number:06d}").exists():
        number += 1
    setattr(locked, field, number + 1)
    locked.save(update_fields=[field])
    return f"{prefix}-{number:06d}"


def _take_off(invoice: Invoice, amount: Decimal) -> None:
    """What the invoice owes goes down by `amount` (paid when nothing is left)."""
    invoice.amount_paid += amount
    fields = ["amount_paid", "updated_at"]
    if invoice.amount_paid == invoice.total:
        invoice.status = Invoice.Status.PAID
        fields.append("status")
    invoice.save(update_fields=fields)


def _put_back(invoice: Invoice, amount: Decimal) -> None:
    """What the invoice owes goes up by `amount` again (a reversed payment)."""
    invoice.amount_paid -= amount
    fields = ["amount_paid", "updated_at"]
    if invoice.status == Invoice.Status.PAID:
        invoice.status = Invoice.Status.ISSUED
        fields.append("status")
    invoice.save(update_fields=fields)


def _allocate(payment: Payment, invoice: Invoice, amount: Decimal, source: str, at: datetime.datetime) -> Allocation:
    _take_off(invoice, amount)
    return Allocation.objects.create(payment=payment, invoice=invoice, amount=amount, source=source, allocated_at=at)


def _allocate_credit_note(note: CreditNote, invoice: Invoice, amount: Decimal, at) -> CreditNoteAllocation:
    _take_off(invoice, amount)
    return CreditNoteAllocation.objects.create(credit_note=note, invoice=invoice, amount=amount, allocated_at=at)


@transaction.atomic
def issue_invoice(
    customer: Customer,
    lines: Iterable[LineInput | Mapping],
    *,
    issue_date: datetime.date | None = None,
    due_date: datetime.date | None = None,
    number: str | None = None,
    currency: str | None = None,
    apply_credit: bool = True,
) -> Invoice:
    """Issue an invoice to `customer`; with `apply_credit` the customer's credit pays it first."""
    _saved(customer, Customer, "The customer")
    checked = _lines(lines, "An invoice")
    if not isinstance(apply_credit, bool):
        raise BillingError(f"apply_credit must be True or False, not {_shown(apply_credit)}.")
    if issue_date is not None:
        _date(issue_date, "The issue date")
    if due_date is not None:
        _date(due_date, "The due date")
    if number is not None:
        number = _text(number, "An invoice number", max_length=50, required=True)
    currency = _currency(currency, customer.whitelabel) if currency is not None else None
    customer = _lock_customer(customer.pk)
    whitelabel = customer.whitelabel
    currency = currency or whitelabel.default_currency
    issue_date = issue_date or whitelabel.local_date()
    due_date = due_date or _date(issue_date + datetime.timedelta(days=DEFAULT_PAYMENT_TERMS_DAYS), "The due date")
    if due_date < issue_date:
        raise BillingError(f"The due date ({due_date}) can't be before the issue date ({issue_date}).")
    if number is not None:
        if Invoice.objects.filter(whitelabel=whitelabel, number=number).exists():
            raise BillingError(f"Invoice number {number} is already used in {whitelabel}.")
    line_rows, subtotal, tax_total = _priced(checked)
    if subtotal + tax_total <= 0:
        raise BillingError("An invoice's total must be more than zero.")
    if subtotal + tax_total > MAX_MONEY:
        raise BillingError(f"An invoice's total can be at most {MAX_MONEY:,} (this one is {subtotal + tax_total:,}).")
    if number is None:
        number = _take_number(whitelabel, "next_invoice_number", "INV", Invoice.objects)

    invoice = Invoice.objects.create(
        whitelabel=whitelabel,
        customer=customer,
        number=number,
        issue_date=issue_date,
        due_date=due_date,
        currency=currency,
        status=Invoice.Status.DRAFT,
        subtotal=subtotal,
        tax_total=tax_total,
        total=subtotal + tax_total,
    )
    InvoiceLine.objects.bulk_create(
        InvoiceLine(
            invoice=invoice,
            description=line.description,
            quantity=line.quantity,
            unit_amount=line.unit_amount,
            tax_rate=line.tax_rate,
            line_amount=line_amount,
            tax_amount=tax_amount,
            category=line.category,
        )
        for line, line_amount, tax_amount in line_rows
    )
    # Saved again as issued, with its lines in place, so listeners see a complete invoice.
    invoice.status = Invoice.Status.ISSUED
    invoice.save(update_fields=["status", "updated_at"])
    if apply_credit and apply_credit_to_invoice(invoice):
        invoice.refresh_from_db()  # paid (in part) from credit
    return invoice


@transaction.atomic
def apply_credit_to_invoice(invoice: Invoice) -> list[Allocation | CreditNoteAllocation]:
    """Pay what is due on `invoice` from the customer's credit: money received first (oldest first),
    then credit notes' rest."""
    invoice = _lock_invoice(invoice)
    if invoice.status != Invoice.Status.ISSUED:
        raise BillingError(
            f"Credit can only be applied to an issued invoice; {invoice} is {invoice.get_status_display().lower()}."
        )
    allocations = []
    now = timezone.now()
    for source in credit_sources(invoice.customer, currency=invoice.currency):
        if invoice.amount_due == 0:
            break
        amount = min(source.held, invoice.amount_due)
        if isinstance(source, Payment):
            allocations.append(_allocate(source, invoice, amount, Allocation.Source.CREDIT, now))
        else:
            allocations.append(_allocate_credit_note(source, invoice, amount, now))
    return allocations


@dataclass(frozen=True)
class _Money:
    """Money received, checked: what a Payment is made of."""

    amount: Decimal
    received_at: datetime.datetime | None
    method: str
    reference: str
    fee: Decimal = Decimal("0")


def _money_received(customer, amount, *, received_at, method, reference, fee=None) -> _Money:
    _saved(customer, Customer, "The customer")
    amount = _positive_money(amount, "The amount")
    reference = _text(reference, "The payment reference", max_length=100)
    if received_at is not None:
        _moment(received_at, "When the money was received")
    fee = Decimal("0") if fee is None else _money(fee, "The fee")
    if fee < 0:
        raise BillingError(f"The fee can't be negative (got {fee}).")
    if fee >= amount:
        raise BillingError(f"The fee ({fee}) must be less than the amount received ({amount}).")
    return _Money(amount, received_at, _method(method), reference, fee)


def _check_not_recorded(customer: Customer, source: str, source_id: str) -> None:
    """Money entered elsewhere is recorded once: checked under the customer's lock (the constraint backs it)."""
    if (
        source_id
        and Payment.objects.filter(whitelabel_id=customer.whitelabel_id, source=source, source_id=source_id).exists()
    ):
        raise AlreadyRecorded(f"The {Payment.Source(source).label} payment {source_id} is already recorded.")


def _source(source, source_id) -> tuple[str, str]:
    if source not in Payment.Source.values:
        raise BillingError(
            f"The payment's source must be one of {', '.join(Payment.Source.values)}, not {_shown(source)}."
        )
    source_id = _text(source_id, "The payment's id where it was entered", max_length=64)
    if (source == Payment.Source.ARENA) != (not source_id):
        raise BillingError("A payment entered elsewhere needs its id there (source_id); one entered in Arena has none.")
    return source, source_id


def _new_payment(
    customer: Customer, money: _Money, *, kind: str, currency: str, source: str = Payment.Source.ARENA, source_id=""
) -> Payment:
    return Payment.objects.create(
        source=source,
        source_id=source_id,
        whitelabel=customer.whitelabel,
        customer=customer,
        kind=kind,
        amount=money.amount,
        currency=currency,
        received_at=money.received_at or timezone.now(),
        method=money.method,
        gateway_reference=money.reference,
        fee=money.fee,
    )


def _take_receipt_number(whitelabel: Whitelabel) -> str:
    return _take_number(whitelabel, "next_receipt_number", "RCT", Receipt.objects)


def _issue_receipt(payment: Payment, number: str) -> Receipt:
    """The last step of recording money: its receipt (the outbox learns then what the money did)."""
    return Receipt.objects.create(
        whitelabel=payment.whitelabel, payment=payment, number=number, issued_at=payment.received_at
    )


@transaction.atomic
def record_payment(
    customer: Customer,
    amount,
    *,
    invoice: Invoice | None = None,
    received_at: datetime.datetime | None = None,
    method: str = Payment.Method.CARD,
    reference: str = "",
    fee=None,
    source: str = Payment.Source.ARENA,
    source_id: str = "",
) -> Payment:
    """Record money received: pay `invoice` (or the oldest open invoices); the rest becomes credit.
    `fee`: what the gateway kept of `amount` (the customer paid all of `amount`).

    Always issues a receipt. Money entered elsewhere (`source`, e.g. Xero, with its id there, `source_id`) is
    recorded once per `source_id` (a second time raises `AlreadyRecorded`); it pays `invoice` only, and what the
    invoice no longer owes (paid meanwhile in Arena, or void) becomes credit: that money was received all the same.
    """
    money = _money_received(customer, amount, received_at=received_at, method=method, reference=reference, fee=fee)
    source, source_id = _source(source, source_id)
    if invoice is not None:
        if _customer_id_of(Invoice, invoice, "The invoice") != customer.pk:
            raise BillingError(f"Invoice {invoice} belongs to another customer, not {customer}.")
    customer = _lock_customer(customer.pk)
    _check_not_recorded(customer, source, source_id)
    if invoice is not None and source != Payment.Source.ARENA:
        invoice = Invoice.objects.select_for_update(no_key=True).get(pk=invoice.pk)
        if invoice.status == Invoice.Status.DRAFT:
            raise BillingError(f"Invoice {invoice} is a draft and can't be paid until it is issued.")
        targets = [invoice] if invoice.status == Invoice.Status.ISSUED else []
        currency = invoice.currency
    elif invoice is not None:
        invoice = Invoice.objects.select_for_update(no_key=True).get(pk=invoice.pk)
        if invoice.status == Invoice.Status.VOID:
            raise BillingError(f"Invoice {invoice} is void and can't be paid.")
        if invoice.status == Invoice.Status.DRAFT:
            raise BillingError(f"Invoice {invoice} is a draft and can't be paid until it is issued.")
        if invoice.status == Invoice.Status.PAID:
            raise BillingError(f"Invoice {invoice} is already paid; record the money as credit instead.")
        targets = [invoice]
        currency = invoice.currency
    else:
        currency = customer.whitelabel.default_currency
        targets = list(customer_open_invoices(customer).filter(currency=currency).select_for_update(no_key=True))
    number = _take_receipt_number(customer.whitelabel)
    payment = _new_payment(
        customer, money, kind=Payment.Kind.PAYMENT, currency=currency, source=source, source_id=source_id
    )
    remaining = payment.amount
    for target in targets:
        if remaining == 0:
            break
        applied = min(remaining, target.amount_due)
        if applied > 0:
            _allocate(payment, target, applied, Allocation.Source.PAYMENT, payment.received_at)
            remaining -= applied
    _issue_receipt(payment, number)
    return payment


@transaction.atomic
def add_credit(
    customer: Customer,
    amount,
    *,
    received_at: datetime.datetime | None = None,
    method: str = Payment.Method.CARD,
    reference: str = "",
    fee=None,
    source: str = Payment.Source.ARENA,
    source_id: str = "",
) -> Payment:
    """A pre-paid top-up: the money becomes the customer's credit, with a receipt. `fee`: what the gateway
    kept of `amount`. Money entered elsewhere (an overpayment entered in Xero: `source`, `source_id`) is
    recorded once per `source_id` (`AlreadyRecorded`)."""
    money = _money_received(customer, amount, received_at=received_at, method=method, reference=reference, fee=fee)
    source, source_id = _source(source, source_id)
    customer = _lock_customer(customer.pk)
    _check_not_recorded(customer, source, source_id)
    number = _take_receipt_number(customer.whitelabel)
    payment = _new_payment(
        customer,
        money,
        kind=Payment.Kind.TOP_UP,
        currency=customer.whitelabel.default_currency,
        source=source,
        source_id=source_id,
    )
    _issue_receipt(payment, number)
    return payment


@transaction.atomic
def void_invoice(invoice: Invoice) -> Invoice:
    """Void an invoice that nothing has been paid on (as Xero requires)."""
    invoice = _lock_invoice(invoice)
    if invoice.status == Invoice.Status.VOID:
        raise BillingError(f"Invoice {invoice} is already void.")
    if invoice.allocations.filter(reversed_at=None).exists() or invoice.credit_note_allocations.exists():
        raise BillingError(f"Invoice {invoice} has payments, credit or credit notes applied; it can't be voided.")
    invoice.status = Invoice.Status.VOID
    invoice.save(update_fields=["status", "updated_at"])
    return invoice


def _credited_category(invoice: Invoice, line: LineInput) -> str:
    """The category of the invoice line a credit note line credits: the one with its description, else the
    invoice's only category (a credit note is booked where the money was)."""
    lines = list(invoice.lines.all())
    same = [ln.category for ln in lines if ln.description == line.description]
    if same:
        return same[0]
    categories = {ln.category for ln in lines}
    return categories.pop() if len(categories) == 1 else ""


def _lines_from_amount(invoice: Invoice, amount, reason: str) -> tuple[list[LineInput], Decimal]:
    """One line crediting `amount` (tax included) at the invoice's tax rate, and its tax."""
    total = _positive_money(amount, "The credit note's amount")
    rates = {line.tax_rate for line in invoice.lines.all()}
    if len(rates) != 1:
        raise BillingError(
            f"Invoice {invoice} has lines at different tax rates; give the credit note's lines instead of an amount."
        )
    (rate,) = rates
    net = (total / (1 + rate / 100)).quantize(CENT, ROUND_HALF_UP)
    return [LineInput(f"Credit: {reason}", Decimal("1"), net, rate)], total - net


@transaction.atomic
def issue_credit_note(
    *,
    invoice: Invoice,
    lines: Iterable[LineInput | Mapping] | None = None,
    amount=None,
    reason: str,
    issue_date: datetime.date | None = None,
    source: str = Payment.Source.ARENA,
    source_id: str = "",
) -> CreditNote:
    """Take `lines` (or `amount`, tax included, at the invoice's tax rate) off an issued invoice: what it
    owes goes down, never below zero, and any rest is the customer's credit. One entered elsewhere (`source`,
    `source_id`: Xero's CreditNoteID) is recorded once, dated `issue_date` (its date there)."""
    reason = _text(reason, "The reason", max_length=200, required=True)
    source, source_id = _source(source, source_id)
    if issue_date is not None:
        issue_date = _date(issue_date, "The credit note's date")
    if lines is not None:
        lines = _lines(lines, "A credit note")
    invoice = _lock_invoice(invoice)
    if source_id and invoice.whitelabel.credit_notes.filter(source=source, source_id=source_id).exists():
        raise AlreadyRecorded(f"The {Payment.Source(source).label} credit note {source_id} is already recorded.")
    if invoice.status not in (Invoice.Status.ISSUED, Invoice.Status.PAID):
        raise BillingError(
            f"Only an issued invoice can be credited; {invoice} is {invoice.get_status_display().lower()}."
        )
    if (lines is None) == (amount is None):
        raise BillingError("Give a credit note either its lines or an amount, not both.")
    fixed_tax = None
    if amount is not None:
        checked, fixed_tax = _lines_from_amount(invoice, amount, reason)
    else:
        checked = lines
    rows, subtotal, tax_total = _priced(checked, fixed_tax=fixed_tax)
    total = subtotal + tax_total
    credited = invoice.credit_notes.aggregate(t=Sum("total"))["t"] or Decimal("0")
    if total <= 0:
        raise BillingError("A credit note's total must be more than zero.")
    if credited + total > invoice.total:
        raise BillingError(
            f"Invoice {invoice} was for {invoice.total}; {credited} is already credited, so at most "
            f"{invoice.total - credited} can be."
        )
    note = CreditNote.objects.create(
        whitelabel=invoice.whitelabel,
        customer=invoice.customer,
        invoice=invoice,
        number=_take_number(invoice.whitelabel, "next_credit_note_number", "CN", CreditNote.objects),
        issue_date=issue_date or invoice.whitelabel.local_date(),
        source=source,
        source_id=source_id,
        currency=invoice.currency,
        reason=reason,
        subtotal=subtotal,
        tax_total=tax_total,
        total=total,
    )
    CreditNoteLine.objects.bulk_create(
        CreditNoteLine(
            credit_note=note,
            description=line.description,
            quantity=line.quantity,
            unit_amount=line.unit_amount,
            tax_rate=line.tax_rate,
            line_amount=line_amount,
            tax_amount=tax,
            category=line.category or _credited_category(invoice, line),
        )
        for line, line_amount, tax in rows
    )
    if invoice.status == Invoice.Status.ISSUED:
        _allocate_credit_note(note, invoice, min(total, invoice.amount_due), timezone.now())
    return note


@transaction.atomic
def refund_credit(
    *, customer: Customer, amount, method: str = Payment.Method.BANK_TRANSFER, reference: str = ""
) -> Refund:
    """Pay unused credit back to the customer (never more than the credit), oldest credit first. The
    refund's number is its refund receipt."""
    _saved(customer, Customer, "The customer")
    amount = _positive_money(amount, "The amount to refund")
    reference = _text(reference, "The refund reference", max_length=100)
    method = _method(method)
    customer = _lock_customer(customer.pk)  # the credit read below is then what another refund left
    whitelabel = customer.whitelabel
    currency = whitelabel.default_currency
    sources = credit_sources(customer, currency=currency)
    available = sum((source.held for source in sources), Decimal("0")).quantize(CENT)
    if amount > available:
        raise BillingError(f"{customer} has {available} {currency} of credit; {amount} can't be refunded.")
    refund = Refund.objects.create(
        whitelabel=whitelabel,
        customer=customer,
        number=_take_number(whitelabel, "next_refund_number", "RFD", Refund.objects),
        amount=amount,
        currency=currency,
        method=method,
        reference=reference,
        refunded_at=timezone.now(),
    )
    remaining = amount
    for source in sources:
        if remaining == 0:
            break
        part = min(source.held, remaining)
        RefundPart.objects.create(
            refund=refund,
            payment=source if isinstance(source, Payment) else None,
            credit_note=source if isinstance(source, CreditNote) else None,
            amount=part,
        )
        remaining -= part
    return refund


@transaction.atomic
def reverse_payment(*, payment: Payment, reason: str) -> Payment:
    """The money went back (a chargeback, a bounced direct debit): what it paid is owed again and the
    credit it left is gone. Refused, changing nothing, if that credit was already used."""
    reason = _text(reason, "The reason", max_length=200, required=True)
    customer = _lock_customer(_customer_id_of(Payment, payment, "The payment"))
    payment = Payment.objects.select_for_update(no_key=True).get(pk=payment.pk)
    payment.customer = customer
    if payment.reversed_at is not None:
        raise BillingError(f"This payment was already reversed on {payment.reversed_at:%d %b %Y}.")
    live = payment.allocations.filter(reversed_at=None)
    invoices = {
        i.pk: i
        for i in Invoice.objects.filter(pk__in=live.values("invoice_id")).order_by("id").select_for_update(no_key=True)
    }
    used = [
        f"applied to invoice {a.invoice.number} ({a.amount})"
        for a in live.filter(source=Allocation.Source.CREDIT).select_related("invoice")
    ] + [f"refunded by {part.refund.number} ({part.amount})" for part in payment.refund_parts.select_related("refund")]
    if used:
        raise BillingError(
            f"The credit this payment left was already used: {'; '.join(used)}. Reversing it would take money "
            "the customer no longer holds: bill the chargeback as a new invoice instead."
        )
    now = timezone.now()
    for allocation in live.order_by("id"):
        _put_back(invoices[allocation.invoice_id], allocation.amount)
        allocation.reversed_at = now
        allocation.save(update_fields=["reversed_at"])
    payment.reversed_at, payment.reversal_reason = now, reason
    payment.save(update_fields=["reversed_at", "reversal_reason"])
    return payment


# Customers ------------------------------------------------------------------------------------------

CONTACT_FIELDS = ("name", "email", "phone", "address")  # what update_customer changes: the Xero contact's
ADDRESS_LINES, ADDRESS_LINE_LENGTH = 4, 500  # Xero keeps AddressLine1 to AddressLine4, each up to 500
_UNCHANGED = object()


def _contact_fields(*, name, email, phone, address) -> dict:
    """The customer's details, checked; a value left _UNCHANGED is not in the result."""
    fields = {}
    if name is not _UNCHANGED:
        fields["name"] = _text(name, "The customer's name", max_length=255, required=True)
    if email is not _UNCHANGED:
        email = _text(email, "The customer's email address", max_length=254)
        if email:
            try:
                validate_email(email)
            except ValidationError:
                raise BillingError(
                    f"The customer's email address {_shown(email)} is not an email address, e.g. jane@example.com."
                ) from None
        fields["email"] = email
    if phone is not _UNCHANGED:
        fields["phone"] = _text(phone, "The customer's phone number", max_length=50)
    if address is not _UNCHANGED:
        address = _text(address, "The customer's address", max_length=ADDRESS_LINES * 501, multiline=True)
        lines = [line.strip() for line in address.split("\n")]
        if len(lines) > ADDRESS_LINES:
            raise BillingError(f"The customer's address has {len(lines)} lines; Xero keeps {ADDRESS_LINES} at most.")
        long = next((line for line in lines if len(line) > ADDRESS_LINE_LENGTH), None)
        if long is not None:
            raise BillingError(
                f"A line of the customer's address is {len(long)} characters long; the most is {ADDRESS_LINE_LENGTH}."
            )
        fields["address"] = "\n".join(lines)
    return fields


@transaction.atomic
def create_customer(
    *, whitelabel: Whitelabel, account_number: str, name: str, email: str = "", phone: str = "", address: str = ""
) -> Customer:
    """A new customer of `whitelabel`; its account number (unique in the whitelabel) is its contact's
    ContactNumber in Xero. `address` has up to four lines."""
    _saved(whitelabel, Whitelabel, "The whitelabel")
    account_number = _text(account_number, "The account number", max_length=50, required=True)
    fields = _contact_fields(name=name, email=email, phone=phone, address=address)
    whitelabel = Whitelabel.objects.filter(pk=whitelabel.pk).first()
    if whitelabel is None:
        raise BillingError("That whitelabel no longer exists in Arena.")
    taken = Customer.objects.filter(whitelabel=whitelabel, account_number=account_number).first()
    if taken is not None:
        raise BillingError(f"The account number {account_number} is already used by {taken.name} in {whitelabel}.")
    try:
        with transaction.atomic():
            return Customer.objects.create(whitelabel=whitelabel, account_number=account_number, **fields)
    except IntegrityError:  # the same number, created at the same moment
        raise BillingError(f"The account number {account_number} is already used in {whitelabel}.") from None


@transaction.atomic
def update_customer(*, customer: Customer, name=_UNCHANGED, email=_UNCHANGED, phone=_UNCHANGED, address=_UNCHANGED):
    """Change the customer's name, email address, phone number or address (those given). What changed is
    sent to its Xero contact once (accounting's receiver re-arms the contact's sync record); a call that
    changes nothing saves nothing. The account number stays: it is how Xero knows the contact."""
    _saved(customer, Customer, "The customer")
    fields = _contact_fields(name=name, email=email, phone=phone, address=address)
    customer = _lock_customer(customer.pk)
    changed = [field for field, value in fields.items() if getattr(customer, field) != value]
    for field in changed:
        setattr(customer, field, fields[field])
    if changed:
        customer.save(update_fields=[*changed, "updated_at"])
    return customer


__all__ = [
    "BillingError",
    "LineInput",
    "add_credit",
    "apply_credit_to_invoice",
    "create_customer",
    "customer_credit",
    "issue_credit_note",
    "issue_invoice",
    "record_payment",
    "refund_credit",
    "reverse_payment",
    "update_customer",
    "void_invoice",
]
