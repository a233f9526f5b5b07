"""Every bad input to every billing and customer service is a BillingError whose message says what to fix,
and changes nothing: one table, every service against every kind of bad input it takes (money beyond what
the database holds, NaN, infinities, exponents, too many decimal places, NUL and other control characters,
wrong types, dates outside the window Arena bills in, currencies that are not trading ISO 4217 ones).
No DataError, ValueError, TypeError, OverflowError or InvalidOperation escapes."""

import datetime
import re
import zoneinfo
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.apps import apps
from django.utils import timezone

from accounting.models import SyncRecord, SyncState
from payments.models import Customer, Invoice, Payment, Whitelabel
from payments.services import (
    BillingError,
    LineInput,
    add_credit,
    apply_credit_to_invoice,
    create_customer,
    issue_credit_note,
    issue_invoice,
    record_payment,
    refund_credit,
    reverse_payment,
    update_customer,
    void_invoice,
)
from tests.factories import CustomerFactory, WhitelabelFactory

pytestmark = pytest.mark.django_db
UTC = datetime.UTC
SYDNEY = zoneinfo.ZoneInfo("Australia/Sydney")


@dataclass
class Books:
    """A customer with 20.00 of credit, an issued invoice and a payment: every service has something
    to act on, and its good call succeeds (test_each_service_accepts_good_input)."""

    whitelabel: Whitelabel
    customer: Customer
    invoice: Invoice
    payment: Payment


@pytest.fixture
def books(db):
    whitelabel = WhitelabelFactory(slug="acme", name="Acme")
    customer = CustomerFactory(whitelabel=whitelabel, account_number="C-1001", name="Jane Citizen")
    add_credit(customer, "20.00")
    invoice = issue_invoice(customer, [LineInput("Plan", Decimal("1"), Decimal("100.00"))], apply_credit=False)
    payment = record_payment(customer, "30.00", invoice=invoice)
    return Books(whitelabel, customer, invoice, payment)


GOOD_LINE = {"description": "Plan", "quantity": "1", "unit_amount": "10.00", "tax_rate": "10"}

# Each service, and the arguments of a call that succeeds.
SERVICES = {
    "issue_invoice": (issue_invoice, lambda b: {"customer": b.customer, "lines": [GOOD_LINE]}),
    "record_payment": (record_payment, lambda b: {"customer": b.customer, "amount": "10.00"}),
    "add_credit": (add_credit, lambda b: {"customer": b.customer, "amount": "10.00"}),
    "apply_credit_to_invoice": (apply_credit_to_invoice, lambda b: {"invoice": b.invoice}),
    "void_invoice": (
        void_invoice,
        lambda b: {"invoice": issue_invoice(b.customer, [GOOD_LINE], apply_credit=False)},
    ),
    "issue_credit_note": (
        issue_credit_note,
        lambda b: {"invoice": b.invoice, "amount": "11.00", "reason": "Goodwill"},
    ),
    "refund_credit": (refund_credit, lambda b: {"customer": b.customer, "amount": "5.00"}),
    "reverse_payment": (reverse_payment, lambda b: {"payment": b.payment, "reason": "Chargeback"}),
    "create_customer": (
        create_customer,
        lambda b: {"whitelabel": b.whitelabel, "account_number": "C-2000", "name": "Harbour Cafe"},
    ),
    "update_customer": (update_customer, lambda b: {"customer": b.customer, "email": "jane@example.org"}),
}

# Bad values, each with (a regular expression of) what the message says about it.
NOT_A_NUMBER = "must be a number"
NUMBERS = [
    ("1e30", "plain number"),
    ("1E+100000", "plain number"),
    ("NaN", NOT_A_NUMBER),
    (Decimal("NaN"), NOT_A_NUMBER),
    (Decimal("sNaN"), NOT_A_NUMBER),
    ("Infinity", NOT_A_NUMBER),
    ("-Infinity", NOT_A_NUMBER),
    (Decimal("Infinity"), NOT_A_NUMBER),
    ("twelve", NOT_A_NUMBER),
    ("12.50\x00", NOT_A_NUMBER),
    ("", NOT_A_NUMBER),
    (None, NOT_A_NUMBER),
    (True, NOT_A_NUMBER),
    (["1"], NOT_A_NUMBER),
    (12.5, "not the float"),
    (float("nan"), "not the float"),
]
MONEY = [
    *NUMBERS,
    (Decimal("1E+100000"), "too large"),
    (Decimal("1e30"), "too large"),
    ("1000000000000.00", "too large"),
    (10**15, "too large"),
    ("1.001", "more than 2 decimal places"),
    (Decimal("1E-100000"), "more than 2 decimal places"),
]
AMOUNTS = [*MONEY, ("0", "more than zero"), ("-5.00", "more than zero")]
QUANTITIES = [
    *NUMBERS,
    (Decimal("1e30"), "at most"),
    ("0", "more than zero"),
    ("-1", "more than zero"),
    ("0.00001", "more than 4 decimal places"),
]
TAX_RATES = [
    *NUMBERS,
    (Decimal("1e30"), "percentage from 0 to 100"),
    ("101", "percentage from 0 to 100"),
    ("-1", "percentage from 0 to 100"),
    ("12.345", "more than 2 decimal places"),
]
UNIT_AMOUNTS = [
    *NUMBERS,
    (Decimal("1e30"), "too large"),
    ("-5.00", "can't be negative"),
    ("1.00005", "more than 4 decimal places"),
]
CONTROL = "can't contain control or invalid characters"
TEXT = [
    ("bad\x00nul", CONTROL),
    ("bell\x07", CONTROL),
    ("\x1b[31mred", CONTROL),
    ("line\rbreak", CONTROL),
    ("tab\tbed", CONTROL),
    ("half \ud800 a pair", CONTROL),
    (42, "must be text"),
    (b"bytes", "must be text"),
    (["text"], "must be text"),
]
OUTSIDE = "outside the dates Arena bills"
DATES = [
    ("2026-05-01", "must be a date"),
    (20260501, "must be a date"),
    (datetime.datetime(2026, 5, 1, tzinfo=UTC), "must be a date"),
    (datetime.date(1999, 12, 31), OUTSIDE),
    (datetime.date(1, 1, 1), OUTSIDE),
    (datetime.date(9999, 12, 31), OUTSIDE),
]
MOMENTS = [
    ("2026-05-01T10:00:00+10:00", "must be a date and time"),
    (datetime.date(2026, 5, 1), "must be a date and time"),
    (datetime.datetime(2026, 5, 1, 10, 0), "time zone"),
    (datetime.datetime(1, 1, 1, tzinfo=UTC), OUTSIDE),
    (datetime.datetime(1999, 12, 31, 12, tzinfo=SYDNEY), OUTSIDE),
    (datetime.datetime(9999, 12, 31, 23, 59, tzinfo=UTC), OUTSIDE),
]
NOT_A_CURRENCY = "not a currency code Arena can bill in"
CURRENCIES = [(code, NOT_A_CURRENCY) for code in ("XXX", "XTS", "XAU", "XAG", "XPT", "XPD", "XDR", "XBA", "XSU")]
CURRENCIES += [(code, NOT_A_CURRENCY) for code in ("BOV", "CHE", "CHW", "CLF", "COU", "MXV", "USN", "UYI", "UYW")]
CURRENCIES += [(code, NOT_A_CURRENCY) for code in ("ABC", "US", "USDX", "$$$", "usd\x00", "ÄUD", "")]
CURRENCIES += [(36, NOT_A_CURRENCY)]
METHODS = [(m, "Unknown payment method") for m in ("bitcoin", "", None, 1, ["card"], "CARD\x00")]
WRONG_THINGS = ["C-1001", 42, None, object()]
CUSTOMERS = [(thing, "must be a customer saved in Arena") for thing in [*WRONG_THINGS, Customer(name="Unsaved")]]
INVOICES = [(thing, "must be an invoice saved in Arena") for thing in ["INV-000001", 42, None, Invoice()]]
WHITELABELS = [(thing, "must be a whitelabel saved in Arena") for thing in ["acme", 42, None, Whitelabel()]]
PAYMENTS = [(thing, "must be a payment saved in Arena") for thing in ["RCT-000001", 42, None, Payment()]]
LINES = [
    (None, "lines must be a list"),
    (5, "lines must be a list"),
    ("Plan", "lines must be a list"),
    (GOOD_LINE, "lines must be a list"),
    ([None], "must be a LineInput or a mapping"),
    (["Plan"], "must be a LineInput or a mapping"),
    ([{"description": "Plan"}], "needs a description, a quantity and a unit amount"),
    ([{**GOOD_LINE, "discount": "5"}], "unexpected fields: discount"),
    ([], "at least one line"),
]
BOOLEANS = [(value, "must be True or False") for value in ("yes", None, 1)]


def too_long(limit: int) -> list:
    return [("x" * (limit + 1), f"{limit + 1} characters long; the most is {limit}")]


def required() -> list:
    return [("", "can't be blank"), ("   ", "can't be blank"), (None, "can't be blank")]


ACCOUNT_NUMBERS = [*TEXT, *too_long(50), *required(), ("C-1001", "already used by Jane Citizen")]
NAMES = [*TEXT, *too_long(255), *required()]
EMAILS = [*TEXT, *too_long(254), *[(e, "not an email address") for e in ("jane", "jane@", "@example.com", "a b@x.com")]]
ADDRESSES = [
    *[t for t in TEXT if "\n" not in str(t[0])],
    ("1 George St\nLevel 2\nSuite 3\nSydney\nNSW 2000", "5 lines; Xero keeps 4"),
    ("x" * 501, "501 characters long; the most is 500"),
]


def line_with(**field) -> list[dict]:
    return [{**GOOD_LINE, **field}]


# (service, what is bad, the words the message names it by, how the bad value goes in, the bad values)
TABLE = [
    ("issue_invoice", "customer", "customer", "customer", CUSTOMERS),
    ("issue_invoice", "lines", "line", "lines", LINES),
    ("issue_invoice", "line description", "description", "description", [*TEXT, *too_long(500), ("", "needs")]),
    ("issue_invoice", "line quantity", "quantity", "quantity", QUANTITIES),
    ("issue_invoice", "line unit amount", "unit amount", "unit_amount", UNIT_AMOUNTS),
    ("issue_invoice", "line tax rate", "tax rate", "tax_rate", TAX_RATES),
    ("issue_invoice", "issue date", "issue date", "issue_date", DATES),
    ("issue_invoice", "due date", "due date", "due_date", DATES),
    ("issue_invoice", "number", "invoice number", "number", [*TEXT, *too_long(50), ("  ", "can't be blank")]),
    ("issue_invoice", "currency", "currency", "currency", CURRENCIES),
    ("issue_invoice", "apply_credit", "apply_credit", "apply_credit", BOOLEANS),
    ("record_payment", "customer", "customer", "customer", CUSTOMERS),
    ("record_payment", "amount", "amount", "amount", AMOUNTS),
    ("record_payment", "invoice", "invoice", "invoice", [i for i in INVOICES if i[0] is not None]),
    ("record_payment", "received_at", "received", "received_at", MOMENTS),
    ("record_payment", "method", "payment method", "method", METHODS),
    ("record_payment", "reference", "reference", "reference", [*TEXT, *too_long(100)]),
    ("add_credit", "customer", "customer", "customer", CUSTOMERS),
    ("add_credit", "amount", "amount", "amount", AMOUNTS),
    ("add_credit", "received_at", "received", "received_at", MOMENTS),
    ("add_credit", "method", "payment method", "method", METHODS),
    ("add_credit", "reference", "reference", "reference", [*TEXT, *too_long(100)]),
    ("apply_credit_to_invoice", "invoice", "invoice", "invoice", INVOICES),
    ("void_invoice", "invoice", "invoice", "invoice", INVOICES),
    ("issue_credit_note", "invoice", "invoice", "invoice", INVOICES),
    ("issue_credit_note", "amount", "amount", "amount", [a for a in AMOUNTS if a[0] is not None]),
    ("issue_credit_note", "amount", "amount", "amount", [(None, "either its lines or an amount")]),
    ("issue_credit_note", "lines", "line", "lines", [i for i in LINES if i[0] is not None]),
    ("issue_credit_note", "lines", "line", "lines", [(None, "either its lines or an amount")]),
    ("issue_credit_note", "line description", "description", "description", [*TEXT, *too_long(500)]),
    ("issue_credit_note", "line quantity", "quantity", "quantity", QUANTITIES),
    ("issue_credit_note", "line unit amount", "unit amount", "unit_amount", UNIT_AMOUNTS),
    ("issue_credit_note", "line tax rate", "tax rate", "tax_rate", TAX_RATES),
    ("issue_credit_note", "reason", "reason", "reason", [*TEXT, *too_long(200), *required()]),
    ("refund_credit", "customer", "customer", "customer", CUSTOMERS),
    ("refund_credit", "amount", "amount", "amount", AMOUNTS),
    ("refund_credit", "method", "payment method", "method", METHODS),
    ("refund_credit", "reference", "reference", "reference", [*TEXT, *too_long(100)]),
    ("reverse_payment", "payment", "payment", "payment", PAYMENTS),
    ("reverse_payment", "reason", "reason", "reason", [*TEXT, *too_long(200), *required()]),
    ("create_customer", "whitelabel", "whitelabel", "whitelabel", WHITELABELS),
    ("create_customer", "account number", "account number", "account_number", ACCOUNT_NUMBERS),
    ("create_customer", "name", "name", "name", NAMES),
    ("create_customer", "email", "email", "email", EMAILS),
    ("create_customer", "phone", "phone", "phone", [*TEXT, *too_long(50)]),
    ("create_customer", "address", "address", "address", ADDRESSES),
    ("update_customer", "customer", "customer", "customer", CUSTOMERS),
    ("update_customer", "name", "name", "name", NAMES),
    ("update_customer", "email", "email", "email", EMAILS),
    ("update_customer", "phone", "phone", "phone", [*TEXT, *too_long(50)]),
    ("update_customer", "address", "address", "address", ADDRESSES),
]
LINE_FIELDS = {"description", "quantity", "unit_amount", "tax_rate"}


def rows():
    for service, what, words, argument, values in TABLE:
        yield pytest.param(service, words, argument, values, id=f"{service}-{what}")


def arguments(service: str, books: Books, argument: str, value) -> dict:
    """The service's good arguments with one of them bad."""
    kwargs = SERVICES[service][1](books)
    if argument in LINE_FIELDS:
        kwargs.pop("amount", None)
        kwargs["lines"] = line_with(**{argument: value})
    elif argument == "lines":
        kwargs.pop("amount", None)
        kwargs["lines"] = value
    else:
        kwargs[argument] = value
    return kwargs


def snapshot() -> dict:
    """Every row of every billing model and of the outbox, as it is."""
    models = [*apps.get_app_config("payments").get_models(), SyncRecord, SyncState]
    return {model.__name__: sorted(model.objects.values_list(), key=repr) for model in models}


@pytest.mark.parametrize(("service", "words", "argument", "values"), rows())
def test_bad_input_is_a_billing_error_that_changes_nothing(books, service, words, argument, values):
    call = SERVICES[service][0]
    wrong = []
    for value, problem in values:
        kwargs = arguments(service, books, argument, value)
        before = snapshot()
        try:
            call(**kwargs)
        except Exception as raised:  # noqa: BLE001 - its class is the point of the test
            message = str(raised)
            if type(raised) is not BillingError:
                wrong.append(f"{value!r}: {type(raised).__name__}: {message}")
            elif not re.search(problem, message) or words.lower() not in message.lower():
                wrong.append(f"{value!r}: {message!r} does not say {problem!r} of the {words}")
            elif "\x00" in message or len(message) > 400:
                wrong.append(f"{value!r}: {message!r} can't be shown as it is")
        else:
            wrong.append(f"{value!r} was accepted")
        if snapshot() != before:
            wrong.append(f"{value!r} changed the books")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_accepts_good_input(books, service):
    call, good = SERVICES[service]
    call(**good(books))


def test_the_window_of_dates_comes_from_the_settings(books, settings):
    settings.BILLING_EARLIEST_DATE = "2020-01-01"
    settings.BILLING_YEARS_AHEAD = 1
    with pytest.raises(BillingError, match="2019-12-31.*outside the dates Arena bills, 2020-01-01 to "):
        issue_invoice(books.customer, [GOOD_LINE], issue_date=datetime.date(2019, 12, 31))
    too_late = timezone.localdate() + datetime.timedelta(days=400)
    with pytest.raises(BillingError, match="outside the dates Arena bills"):
        record_payment(books.customer, "1.00", received_at=datetime.datetime.combine(too_late, datetime.time(), UTC))
    issue_invoice(books.customer, [GOOD_LINE], issue_date=datetime.date(2020, 1, 1))
