"""Money flowing back: credit notes, refunds of credit and reversed payments, each one transaction that
either does all it says or, with a BillingError, nothing."""

from decimal import Decimal

import pytest

from payments.models import Allocation, CreditNote, Invoice, Refund
from payments.selectors import customer_credit
from payments.services import (
    BillingError,
    LineInput,
    add_credit,
    issue_credit_note,
    issue_invoice,
    record_payment,
    refund_credit,
    reverse_payment,
    void_invoice,
)
from tests.factories import CustomerFactory, WhitelabelFactory

pytestmark = pytest.mark.django_db
PLAN = LineInput("Mobile plan", Decimal("1"), Decimal("100.00"), Decimal("10"))  # 110.00


@pytest.fixture
def customer():
    return CustomerFactory(whitelabel=WhitelabelFactory(default_currency="AUD"))


def test_a_credit_note_reduces_what_an_invoice_owes(customer):
    invoice = issue_invoice(customer, [PLAN])
    note = issue_credit_note(invoice=invoice, amount="22.00", reason="Roaming overcharged")
    invoice.refresh_from_db()
    assert (note.number, note.total, note.subtotal, note.tax_total) == (
        "CN-000001",
        Decimal("22.00"),
        Decimal("20.00"),
        Decimal("2.00"),
    )
    assert invoice.amount_due == Decimal("88.00") and invoice.status == Invoice.Status.ISSUED
    assert customer_credit(customer) == 0


def test_a_credit_note_larger_than_what_is_due_leaves_the_rest_as_credit(customer):
    invoice = issue_invoice(customer, [PLAN])
    record_payment(customer, "100.00", invoice=invoice)
    issue_credit_note(
        invoice=invoice,
        lines=[LineInput("Refund of plan", Decimal("1"), Decimal("50.00"), Decimal("10"))],
        reason="Cancelled",
    )
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID and invoice.amount_due == 0
    assert customer_credit(customer) == Decimal("45.00"), "55.00 credited, 10.00 of it took what was due"


def test_credit_note_credit_pays_the_next_invoice(customer):
    invoice = issue_invoice(customer, [PLAN])
    record_payment(customer, "110.00", invoice=invoice)
    issue_credit_note(invoice=invoice, amount="33.00", reason="Goodwill")
    nxt = issue_invoice(customer, [LineInput("Extra", Decimal("1"), Decimal("20.00"), Decimal("10"))])
    assert nxt.status == Invoice.Status.PAID
    assert customer_credit(customer) == Decimal("11.00")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"amount": "120.00"}, "at most 110.00"),
        ({"amount": "0"}, "more than zero"),
        ({"amount": "1.00", "lines": [PLAN]}, "either its lines or an amount"),
        ({}, "either its lines or an amount"),
    ],
)
def test_bad_credit_notes_are_refused_and_change_nothing(customer, kwargs, message):
    invoice = issue_invoice(customer, [PLAN])
    with pytest.raises(BillingError, match=message):
        issue_credit_note(invoice=invoice, reason="x", **kwargs)
    assert not CreditNote.objects.exists()
    invoice.refresh_from_db()
    assert invoice.amount_due == Decimal("110.00")


def test_a_void_invoice_cant_be_credited(customer):
    invoice = void_invoice(issue_invoice(customer, [PLAN]))
    with pytest.raises(BillingError, match="is void"):
        issue_credit_note(invoice=invoice, amount="10.00", reason="x")


def test_refunding_credit_pays_back_the_oldest_credit_first(customer):
    first = add_credit(customer, "30.00")
    second = add_credit(customer, "20.00")
    refund = refund_credit(customer=customer, amount="40.00", reference="EFT 123")
    assert refund.number == "RFD-000001"
    assert [(p.payment_id, p.amount) for p in refund.parts.all()] == [
        (first.pk, Decimal("30.00")),
        (second.pk, Decimal("10.00")),
    ]
    assert customer_credit(customer) == Decimal("10.00")


def test_a_refund_above_the_credit_is_refused_and_changes_nothing(customer):
    add_credit(customer, "30.00")
    with pytest.raises(BillingError, match="has 30.00 AUD of credit"):
        refund_credit(customer=customer, amount="30.01")
    assert not Refund.objects.exists() and customer_credit(customer) == Decimal("30.00")


def test_reversing_a_payment_makes_its_invoices_owed_again_and_removes_its_credit(customer):
    invoice = issue_invoice(customer, [PLAN])
    payment = record_payment(customer, "150.00", invoice=invoice)
    reverse_payment(payment=payment, reason="Chargeback 4837")
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.ISSUED and invoice.amount_due == Decimal("110.00")
    assert customer_credit(customer) == 0
    assert all(a.reversed_at for a in Allocation.objects.filter(payment=payment))
    with pytest.raises(BillingError, match="already reversed"):
        reverse_payment(payment=payment, reason="again")


def test_reversing_a_payment_whose_credit_was_used_is_refused_and_says_what_to_do(customer):
    payment = record_payment(customer, "150.00", invoice=issue_invoice(customer, [PLAN]))  # 40.00 credit
    later = issue_invoice(customer, [LineInput("Extra", Decimal("1"), Decimal("20.00"), Decimal("10"))])
    with pytest.raises(BillingError, match=f"applied to invoice {later.number} \\(22.00\\).*bill the chargeback"):
        reverse_payment(payment=payment, reason="Chargeback")
    payment.refresh_from_db()
    assert payment.reversed_at is None and customer_credit(customer) == Decimal("18.00")


def test_a_reversed_top_up_that_was_refunded_is_refused(customer):
    top_up = add_credit(customer, "25.00")
    refund_credit(customer=customer, amount="5.00")
    with pytest.raises(BillingError, match="refunded by RFD-000001"):
        reverse_payment(payment=top_up, reason="Bounced")


def test_an_invoice_whose_payment_was_reversed_can_be_voided(customer):
    invoice = issue_invoice(customer, [PLAN])
    reverse_payment(payment=record_payment(customer, "110.00", invoice=invoice), reason="Bounced")
    assert void_invoice(invoice).status == Invoice.Status.VOID
