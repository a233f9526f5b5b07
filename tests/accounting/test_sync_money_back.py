"""Money flowing back reaches Xero: credit notes, refunds of credit and reversed payments, after each
operation and each combination, the customer's balance and credit equal in both books. The engine runs in
this process against the sandbox (see test_exactly_once.py); the chaos suite repeats it under faults."""

from decimal import Decimal

import pytest

from accounting.models import SyncRecord
from payments.models import Invoice
from payments.services import (
    BillingError,
    LineInput,
    add_credit,
    issue_credit_note,
    issue_invoice,
    record_payment,
    refund_credit,
    reverse_payment,
)
from tests.books import compare_books, xero_calls
from tests.factories import CustomerFactory
from tests.xero import book, connect, save_settings

pytestmark = pytest.mark.django_db
Kind, Status = SyncRecord.Kind, SyncRecord.Status
PLAN = LineInput("Mobile plan", Decimal("1"), Decimal("100.00"), Decimal("10"))  # 110.00


def connected_with(admin_client, whitelabel, xero, payment_type="postpaid"):
    connect(admin_client, whitelabel, xero, **{"accounting-payment_type": payment_type})
    saved = save_settings(
        admin_client, whitelabel, **{"accounting-payment_type": payment_type, "accounting-bank_account_code": "090"}
    )
    assert saved.status_code == 302
    return whitelabel


@pytest.fixture
def postpaid(admin_client, whitelabel, xero):
    return connected_with(admin_client, whitelabel, xero)


@pytest.fixture
def prepaid(admin_client, whitelabel, xero):
    return connected_with(admin_client, whitelabel, xero, "prepaid")


def drain(whitelabel):
    from accounting.sync import engine

    engine.run_organisation(whitelabel.pk, hold_partial=False)


def same_books(xero, whitelabel):
    drain(whitelabel)
    stuck = SyncRecord.objects.filter(whitelabel=whitelabel).exclude(status__in=[Status.SENT, Status.SKIPPED])
    assert not stuck.exists(), [(r.kind, r.status, r.reason) for r in stuck]
    compare_books(xero, whitelabel).assert_same()


def contact_of(xero, whitelabel, customer) -> dict:
    (contact,) = book(xero, whitelabel).contacts(contact_number=customer.account_number)
    return contact


def test_a_credit_note_reduces_what_the_invoice_owes_in_xero(postpaid, xero):
    customer = CustomerFactory(whitelabel=postpaid)
    invoice = issue_invoice(customer, [PLAN])
    same_books(xero, postpaid)
    note = issue_credit_note(invoice=invoice, amount="22.00", reason="Roaming overcharged")
    same_books(xero, postpaid)
    (xero_note,) = book(xero, postpaid).credit_notes()
    assert (xero_note["Type"], xero_note["CreditNoteNumber"], xero_note["Status"]) == (
        "ACCRECCREDIT",
        note.number,
        "PAID",
    ), "fully allocated to its invoice"
    assert xero_note["LineItems"][0]["TaxType"] == "OUTPUT"
    (xero_invoice,) = book(xero, postpaid).invoices()
    assert Decimal(str(xero_invoice["AmountDue"])) == Decimal("88.00")


def test_a_credit_note_larger_than_what_is_due_leaves_credit_on_the_contact(postpaid, xero):
    customer = CustomerFactory(whitelabel=postpaid)
    invoice = issue_invoice(customer, [PLAN])
    record_payment(customer, "80.00", invoice=invoice)
    issue_credit_note(invoice=invoice, amount="55.00", reason="Cancelled mid-month")  # 30.00 due, 25.00 left
    same_books(xero, postpaid)
    assert Decimal(str(contact_of(xero, postpaid, customer)["Credit"])) == Decimal("25.00")
    later = issue_invoice(customer, [LineInput("Extra", Decimal("1"), Decimal("10.00"), Decimal("10"))])
    assert later.status == Invoice.Status.PAID, "the credit note's rest paid it"
    same_books(xero, postpaid)
    assert len(xero_calls(xero, path_end="/Allocations")) == 2


def test_refunding_an_overpayment_and_a_credit_note_in_xero(postpaid, xero):
    customer = CustomerFactory(whitelabel=postpaid)
    invoice = issue_invoice(customer, [PLAN])
    record_payment(customer, "130.00", invoice=invoice)  # 20.00 overpaid
    issue_credit_note(invoice=invoice, amount="11.00", reason="Goodwill")  # all credit: the invoice is paid
    same_books(xero, postpaid)
    refund = refund_credit(customer=customer, amount="25.00", reference="EFT 991")
    same_books(xero, postpaid)
    refunds = [p for p in book(xero, postpaid).payments() if p["Reference"].startswith(refund.number)]
    assert sorted(Decimal(str(p["Amount"])) for p in refunds) == [Decimal("5.00"), Decimal("20.00")]
    assert Decimal(str(contact_of(xero, postpaid, customer)["Credit"])) == Decimal("6.00")


def test_a_reversed_payment_makes_the_invoice_owed_again_and_removes_its_credit_in_xero(postpaid, xero):
    customer = CustomerFactory(whitelabel=postpaid)
    invoice = issue_invoice(customer, [PLAN])
    payment = record_payment(customer, "150.00", invoice=invoice)
    same_books(xero, postpaid)
    reverse_payment(payment=payment, reason="Chargeback 4837")
    same_books(xero, postpaid)
    (xero_invoice,) = book(xero, postpaid).invoices()
    assert (xero_invoice["Status"], Decimal(str(xero_invoice["AmountDue"]))) == ("AUTHORISED", Decimal("110.00"))
    assert Decimal(str(contact_of(xero, postpaid, customer)["Credit"])) == 0


def test_a_payment_reversed_before_it_reached_xero_is_never_sent(postpaid, xero):
    customer = CustomerFactory(whitelabel=postpaid)
    invoice = issue_invoice(customer, [PLAN])
    reverse_payment(payment=record_payment(customer, "150.00", invoice=invoice), reason="Bounced")
    same_books(xero, postpaid)
    assert not xero_calls(xero, method="PUT", path_end="/Payments"), "nothing to create and delete"
    assert not [r for r in xero_calls(xero, method="PUT", path_end="/BankTransactions")]


def test_refusals_change_nothing_in_either_book(postpaid, xero):
    customer = CustomerFactory(whitelabel=postpaid)
    payment = record_payment(customer, "150.00", invoice=issue_invoice(customer, [PLAN]))
    issue_invoice(customer, [LineInput("Extra", Decimal("1"), Decimal("20.00"), Decimal("10"))])  # uses credit
    same_books(xero, postpaid)
    records_before = SyncRecord.objects.count()
    with pytest.raises(BillingError, match="already used"):
        reverse_payment(payment=payment, reason="Chargeback")
    with pytest.raises(BillingError, match="can't be refunded"):
        refund_credit(customer=customer, amount="18.01")
    assert SyncRecord.objects.count() == records_before
    same_books(xero, postpaid)


def test_every_combination_keeps_the_books_equal(postpaid, xero):
    customer = CustomerFactory(whitelabel=postpaid)
    first = issue_invoice(customer, [PLAN])
    record_payment(customer, "40.00", invoice=first)  # part-pay
    issue_credit_note(invoice=first, amount="22.00", reason="Discount")  # credit note
    over = record_payment(customer, "100.00", invoice=first)  # overpay: 48.00 due, 52.00 credit
    refund_credit(customer=customer, amount="30.00")  # refund
    second = issue_invoice(customer, [PLAN])  # 22.00 credit applied
    bounced = record_payment(customer, "88.00", invoice=second)
    reverse_payment(payment=bounced, reason="Direct debit bounced")  # reverse
    same_books(xero, postpaid)
    assert over.unallocated == 0


def test_a_prepaid_refund_is_a_spend_with_the_refund_receipts_number(prepaid, xero):
    customer = CustomerFactory(whitelabel=prepaid)
    add_credit(customer, "50.00")
    refund = refund_credit(customer=customer, amount="20.00")
    same_books(xero, prepaid)
    (spend,) = [t for t in book(xero, prepaid).bank_transactions() if t["Type"] == "SPEND"]
    assert (spend["Reference"], Decimal(str(spend["Total"]))) == (refund.number, Decimal("20.00"))


def test_a_prepaid_reversed_top_up_takes_its_receipt_out_of_xero(prepaid, xero):
    customer = CustomerFactory(whitelabel=prepaid)
    top_up = add_credit(customer, "50.00")
    same_books(xero, prepaid)
    reverse_payment(payment=top_up, reason="Card chargeback")
    same_books(xero, prepaid)
    (receipt,) = [t for t in book(xero, prepaid).bank_transactions() if t["Type"] == "RECEIVE"]
    assert receipt["Status"] == "DELETED"
