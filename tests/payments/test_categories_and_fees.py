"""Lines carry a category (issue 20) and money received may carry the gateway's fee; bad values are a
BillingError that changes nothing."""

from decimal import Decimal

import pytest

from payments.models import CreditNoteLine, Invoice, InvoiceLine, Payment
from payments.services import BillingError, LineInput, add_credit, issue_credit_note, issue_invoice, record_payment
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer():
    return CustomerFactory()


def test_lines_keep_their_category_and_a_credit_note_line_takes_the_credited_lines(customer):
    invoice = issue_invoice(
        customer,
        [
            LineInput("NBN 100", Decimal("1"), Decimal("89.00"), Decimal("10"), "nbn"),
            {"description": "Modem", "quantity": "1", "unit_amount": "120.00", "category": "hardware"},
            LineInput("Late fee", Decimal("1"), Decimal("5.00")),
        ],
    )
    assert list(invoice.lines.values_list("category", flat=True)) == ["nbn", "hardware", ""]
    note = issue_credit_note(
        invoice=invoice, lines=[LineInput("Modem", Decimal("1"), Decimal("20.00"), Decimal("10"))], reason="Discount"
    )
    assert note.lines.get().category == "hardware", "the line with its description"
    single = issue_invoice(customer, [LineInput("Mobile", Decimal("1"), Decimal("49.00"), Decimal("10"), "mobile")])
    by_amount = issue_credit_note(invoice=single, amount="11.00", reason="Outage")
    assert by_amount.lines.get().category == "mobile", "the invoice's only category"


@pytest.mark.parametrize(
    ("category", "words"),
    [
        ("NBN", "lower-case letters"),
        ("nbn plan", "lower-case letters"),
        ("-nbn", "lower-case letters"),
        ("n" * 31, "the most is 30"),
        (7, "must be text"),
        ("nbn\x00", "lower-case letters"),
    ],
)
def test_a_bad_category_is_refused_and_changes_nothing(customer, category, words):
    with pytest.raises(BillingError, match=words):
        issue_invoice(customer, [LineInput("NBN", Decimal("1"), Decimal("89.00"), Decimal("10"), category)])
    assert not Invoice.objects.exists() and not InvoiceLine.objects.exists() and not CreditNoteLine.objects.exists()


def test_money_received_keeps_the_gateways_fee(customer):
    invoice = issue_invoice(customer, [LineInput("Plan", Decimal("1"), Decimal("100.00"))])
    payment = record_payment(customer, "100.00", invoice=invoice, fee="1.75")
    top_up = add_credit(customer, "50.00", fee=Decimal("0.80"))
    plain = add_credit(customer, "10.00")
    assert (payment.fee, top_up.fee, plain.fee) == (Decimal("1.75"), Decimal("0.80"), Decimal("0"))
    assert payment.amount == Decimal("100.00"), "the amount is what the customer paid (gross)"


@pytest.mark.parametrize(
    ("fee", "words"),
    [
        ("-1.00", "can't be negative"),
        ("50.00", "must be less than the amount"),
        ("60.00", "must be less than the amount"),
        (1.5, "not the float"),
        ("1.234", "more than 2 decimal places"),
        ("NaN", "must be a number"),
        ("1e3", "must be a number such as|plain number"),
    ],
)
def test_a_bad_fee_is_refused_and_changes_nothing(customer, fee, words):
    for service in (record_payment, add_credit):
        with pytest.raises(BillingError, match=words):
            service(customer, "50.00", fee=fee)
    assert not Payment.objects.exists()
