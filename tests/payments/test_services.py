from decimal import Decimal

import pytest

from payments.models import Allocation, Invoice, Payment, Receipt
from payments.selectors import customer_credit
from payments.services import BillingError, LineInput, add_credit, issue_invoice, record_payment, void_invoice
from tests.factories import CustomerFactory, WhitelabelFactory

pytestmark = pytest.mark.django_db

PLAN = LineInput("Mobile plan", Decimal("1"), Decimal("100.00"), Decimal("10"))


@pytest.fixture
def customer():
    return CustomerFactory(whitelabel=WhitelabelFactory(default_currency="AUD"))


def test_issue_invoice_computes_totals_and_numbers_per_whitelabel(customer):
    calls = {"description": "Calls", "quantity": "3", "unit_amount": "0.33", "tax_rate": "10"}
    invoice = issue_invoice(customer, [PLAN, calls])
    assert invoice.status == Invoice.Status.ISSUED
    assert invoice.number == "INV-000001"
    assert (invoice.subtotal, invoice.tax_total, invoice.total) == (
        Decimal("100.99"),
        Decimal("10.10"),
        Decimal("111.09"),
    )
    assert invoice.currency == "AUD"
    assert (invoice.due_date - invoice.issue_date).days == 14
    assert issue_invoice(customer, [PLAN]).number == "INV-000002"
    other = CustomerFactory()
    assert issue_invoice(other, [PLAN]).number == "INV-000001"


@pytest.mark.parametrize(
    "lines, message",
    [
        ([], "at least one line"),
        ([LineInput("", Decimal("1"), Decimal("1"))], "needs a description"),
        ([LineInput("X", Decimal("0"), Decimal("1"))], "quantity must be more than zero"),
        ([LineInput("X", Decimal("1"), Decimal("-5"))], "can't be negative"),
        ([LineInput("X", Decimal("1"), Decimal("1.00005"))], "more than 4 decimal places"),
        ([LineInput("X", Decimal("1"), Decimal("1"), Decimal("150"))], "percentage from 0 to 100"),
        ([LineInput("X", Decimal("1"), Decimal("0"))], "total must be more than zero"),
    ],
)
def test_issue_invoice_rejects_bad_lines_and_saves_nothing(customer, lines, message):
    with pytest.raises(BillingError, match=message):
        issue_invoice(customer, lines)
    assert not Invoice.objects.exists()


def test_issue_invoice_rejects_due_date_before_issue_date_and_duplicate_number(customer):
    import datetime

    with pytest.raises(BillingError, match="can't be before"):
        issue_invoice(customer, [PLAN], issue_date=datetime.date(2026, 5, 2), due_date=datetime.date(2026, 5, 1))
    issue_invoice(customer, [PLAN], number="A-1")
    with pytest.raises(BillingError, match="already used"):
        issue_invoice(customer, [PLAN], number="A-1")
    assert Invoice.objects.count() == 1


def test_payment_for_exact_amount_pays_invoice_and_issues_receipt(customer):
    invoice = issue_invoice(customer, [PLAN])
    payment = record_payment(customer, "110.00", invoice=invoice, reference="TXN-1")
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    assert invoice.amount_due == 0
    assert payment.receipt.number == "RCT-000001"
    assert payment.gateway_reference == "TXN-1"
    assert customer_credit(customer) == 0


def test_payment_larger_than_invoice_leaves_the_excess_as_credit(customer):
    invoice = issue_invoice(customer, [PLAN])
    payment = record_payment(customer, Decimal("150.00"), invoice=invoice)
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    assert payment.unallocated == Decimal("40.00")
    assert customer_credit(customer) == Decimal("40.00")


def test_credit_pays_the_next_invoice_when_it_is_issued(customer):
    record_payment(customer, Decimal("150.00"), invoice=issue_invoice(customer, [PLAN]))
    small = LineInput("Extra", Decimal("1"), Decimal("20.00"))
    second = issue_invoice(customer, [small])
    assert second.status == Invoice.Status.PAID
    (allocation,) = second.allocations.all()
    assert allocation.source == Allocation.Source.CREDIT
    assert allocation.amount == Decimal("20.00")
    third = issue_invoice(customer, [PLAN])
    assert third.amount_paid == Decimal("20.00")
    assert third.amount_due == Decimal("90.00")
    assert customer_credit(customer) == 0


def test_payment_without_invoice_pays_oldest_open_invoices_first(customer):
    import datetime

    older = issue_invoice(customer, [PLAN], issue_date=datetime.date(2026, 1, 1))
    newer = issue_invoice(customer, [PLAN], issue_date=datetime.date(2026, 2, 1))
    record_payment(customer, Decimal("150.00"))
    older.refresh_from_db()
    newer.refresh_from_db()
    assert older.status == Invoice.Status.PAID
    assert newer.amount_paid == Decimal("40.00")
    assert customer_credit(customer) == 0


def test_partial_payment_reduces_amount_due(customer):
    invoice = issue_invoice(customer, [PLAN])
    record_payment(customer, Decimal("10.00"), invoice=invoice)
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.ISSUED
    assert invoice.amount_due == Decimal("100.00")


def test_add_credit_is_a_top_up_with_receipt_and_no_allocation(customer):
    payment = add_credit(customer, "50.00")
    assert payment.kind == Payment.Kind.TOP_UP
    assert not payment.allocations.exists()
    assert Receipt.objects.get(payment=payment).number == "RCT-000001"
    assert customer_credit(customer) == Decimal("50.00")
    assert add_credit(customer, "5").receipt.number == "RCT-000002"


@pytest.mark.parametrize("amount", ["0", "-1", "abc", "1.001", None, "NaN"])
def test_bad_amounts_are_rejected_and_nothing_is_saved(customer, amount):
    invoice = issue_invoice(customer, [PLAN])
    with pytest.raises(BillingError):
        record_payment(customer, amount, invoice=invoice)
    with pytest.raises(BillingError):
        add_credit(customer, amount)
    assert not Payment.objects.exists()
    assert not Receipt.objects.exists()


def test_payment_against_another_customers_or_whitelabels_invoice_is_rejected(customer):
    stranger = CustomerFactory()
    invoice = issue_invoice(stranger, [PLAN])
    with pytest.raises(BillingError, match="belongs to another customer"):
        record_payment(customer, "10", invoice=invoice)
    assert not Payment.objects.exists()


def test_void_invoice_cannot_be_paid_and_paid_invoice_cannot_be_voided(customer):
    invoice = void_invoice(issue_invoice(customer, [PLAN]))
    assert invoice.status == Invoice.Status.VOID
    with pytest.raises(BillingError, match="void and can't be paid"):
        record_payment(customer, "200", invoice=invoice)
    with pytest.raises(BillingError, match="already void"):
        void_invoice(invoice)
    paid = issue_invoice(customer, [PLAN])
    record_payment(customer, "5", invoice=paid)
    with pytest.raises(BillingError, match="can't be voided"):
        void_invoice(paid)
    assert Payment.objects.count() == 1


def test_paying_a_paid_invoice_is_rejected(customer):
    invoice = issue_invoice(customer, [PLAN])
    record_payment(customer, "110", invoice=invoice)
    with pytest.raises(BillingError, match="already paid"):
        record_payment(customer, "1", invoice=invoice)


# What the database and Xero can hold: refused with a BillingError, nothing saved -------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"lines": [LineInput("Big", Decimal("1"), Decimal("10000000000000"))]}, "too large"),
        ({"lines": [LineInput("Big", Decimal("100000"), Decimal("99999999.00"))]}, "total can be at most"),
        ({"lines": [LineInput("x" * 501, Decimal("1"), Decimal("1.00"))]}, "501 characters long; the most is 500"),
        ({"lines": [LineInput("Tiny", Decimal("0.00001"), Decimal("1.00"))]}, "more than 4 decimal places"),
        ({"lines": [LineInput("Odd tax", Decimal("1"), Decimal("1.00"), Decimal("12.345"))]}, "more than 2 decimal"),
        ({"currency": "XXXX"}, "not a currency code"),
        ({"currency": "$$$"}, "not a currency code"),
        ({"currency": "ABC"}, "not a currency code"),
        ({"number": "N" * 51}, "51 characters long; the most is 50"),
    ],
)
def test_input_the_database_or_xero_cannot_hold_is_refused_and_nothing_is_saved(customer, overrides, message):
    arguments = {"lines": [LineInput("Plan", Decimal("1"), Decimal("10.00"))], **overrides}
    with pytest.raises(BillingError, match=message):
        issue_invoice(customer, arguments.pop("lines"), **arguments)
    assert not Invoice.objects.exists()
    customer.whitelabel.refresh_from_db()
    assert customer.whitelabel.next_invoice_number == 1


def test_unit_prices_carry_up_to_four_decimal_places_and_amounts_two_rounded_as_xero_rounds(customer):
    minutes = LineInput("Calls, per minute", Decimal("1234"), Decimal("0.0125"), Decimal("10"))  # 15.425
    data = LineInput("Data, per MB", Decimal("333"), Decimal("0.0015"), Decimal("10"))  # 0.4995
    invoice = issue_invoice(customer, [minutes, data])
    lines = list(invoice.lines.all())
    assert [(line.unit_amount, line.line_amount, line.tax_amount) for line in lines] == [
        (Decimal("0.0125"), Decimal("15.43"), Decimal("1.54")),
        (Decimal("0.0015"), Decimal("0.50"), Decimal("0.05")),
    ], "half away from zero, per line"
    assert (invoice.subtotal, invoice.tax_total, invoice.total) == (Decimal("15.93"), Decimal("1.59"), Decimal("17.52"))


def test_currency_codes_are_read_in_any_case(customer):
    invoice = issue_invoice(customer, [LineInput("Plan", Decimal("1"), Decimal("10.00"))], currency="usd")
    assert invoice.currency == "USD"


@pytest.mark.parametrize(
    ("amount", "reference", "message"),
    [
        ("10000000000000", "", "too large"),
        ("10.00", "R" * 101, "101 characters long; the most is 100"),
    ],
)
def test_payment_input_the_database_cannot_hold_is_refused(customer, amount, reference, message):
    with pytest.raises(BillingError, match=message):
        record_payment(customer, amount, reference=reference)
    assert not Payment.objects.exists() and not Receipt.objects.exists()


def test_a_custom_invoice_number_is_stepped_over_by_auto_numbering(customer):
    plan = [LineInput("Plan", Decimal("1"), Decimal("10.00"))]
    assert issue_invoice(customer, plan).number == "INV-000001"
    assert issue_invoice(customer, plan).number == "INV-000002"
    assert issue_invoice(customer, plan, number="INV-000003").number == "INV-000003"
    assert issue_invoice(customer, plan).number == "INV-000004", "the counter steps over the custom number"
    assert issue_invoice(customer, plan).number == "INV-000005"


def test_invoices_are_dated_in_the_whitelabels_time_zone(customer, settings):
    whitelabel = customer.whitelabel
    whitelabel.time_zone = "Pacific/Auckland"
    whitelabel.save()
    invoice = issue_invoice(customer, [LineInput("Plan", Decimal("1"), Decimal("10.00"))])
    assert invoice.issue_date == whitelabel.local_date()


def test_received_at_needs_a_time_zone(customer):
    import datetime

    with pytest.raises(BillingError, match="time zone"):
        record_payment(customer, "10.00", received_at=datetime.datetime(2026, 7, 1, 8, 0))
