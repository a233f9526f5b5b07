"""The sync engine end to end: a real Celery worker, the real database and broker, the sandbox over HTTP."""

import threading
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection as db_connection
from django.test import Client

from accounting.models import AccountingSettings, SyncRecord, XeroConnection
from accounting.sync import engine
from accounting.tasks import sweep_outbox
from payments.models import Customer, Invoice, Membership
from payments.selectors import customer_credit
from payments.services import (
    LineInput,
    add_credit,
    issue_credit_note,
    issue_invoice,
    record_payment,
    refund_credit,
    reverse_payment,
    void_invoice,
)
from tests.books import all_sent, connected, outbox_settled, wait_for_books, xero_calls
from tests.factories import CustomerFactory
from tests.xero import ORG1, ORG2, book, connect, save_settings, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PLAN = LineInput("Mobile plan", Decimal("1"), Decimal("100.00"), Decimal("10"))  # 110.00 with GST
EXTRA = LineInput("Extra data", Decimal("2"), Decimal("10.00"), Decimal("10"))  # 22.00 with GST
Status = SyncRecord.Status


def dropped(xero, path_end: str) -> bool:
    """The sandbox saved a call to `path_end` and then dropped the connection before answering."""
    return any(r.get("fault") == "drop_response" and r["path"].endswith(path_end) for r in xero.requests_log())


def assert_xero_matches_arena(xero, whitelabel):
    """Every Arena invoice is in Xero once, with the same totals and what is still owed."""
    org = book(xero, whitelabel)
    by_number = {}
    for invoice in org.invoices():
        assert invoice["InvoiceNumber"] not in by_number, f"duplicate invoice {invoice['invoice_number']} in Xero"
        by_number[invoice["InvoiceNumber"]] = invoice
    for invoice in Invoice.objects.filter(whitelabel=whitelabel).exclude(status=Invoice.Status.VOID):
        theirs = by_number[invoice.number]
        assert Decimal(str(theirs["Total"])) == invoice.total
        assert Decimal(str(theirs["AmountDue"])) == invoice.amount_due, invoice.number
        assert theirs["Status"] == ("PAID" if invoice.amount_due == 0 else "AUTHORISED")
        assert theirs["DueDateString"].startswith(invoice.due_date.isoformat())
    numbers = [c["ContactNumber"] for c in org.contacts() if c.get("ContactNumber")]
    assert sorted(numbers) == sorted(set(numbers)), "one Xero contact per customer"
    assert set(numbers) >= set(
        Customer.objects.filter(whitelabel=whitelabel, invoices__isnull=False).values_list("account_number", flat=True)
    )


def test_postpaid_invoice_payment_overpayment_and_credit_reach_xero(xero, sync_worker):
    whitelabel = connected(xero)
    customer = CustomerFactory(whitelabel=whitelabel, email="jane@example.com")
    first = issue_invoice(customer, [PLAN])
    all_sent((first, SyncRecord.Kind.INVOICE))
    org = book(xero, whitelabel)
    (xero_invoice,) = org.invoices()
    assert (xero_invoice["Status"], Decimal(str(xero_invoice["AmountDue"]))) == ("AUTHORISED", Decimal("110.00"))
    (contact,) = org.contacts(contact_number=customer.account_number)
    assert (
        contact["EmailAddress"] == "jane@example.com" and xero_invoice["Contact"]["ContactID"] == contact["ContactID"]
    )
    assert [li["AccountCode"] for li in xero_invoice["LineItems"]] == ["200"]

    payment = record_payment(customer, Decimal("150.00"), invoice=first)
    allocation = payment.allocations.get()
    all_sent((allocation, SyncRecord.Kind.PAYMENT), (payment, SyncRecord.Kind.OVERPAYMENT))
    org = book(xero, whitelabel)
    (xero_payment,) = org.payments()
    assert Decimal(str(xero_payment["Amount"])) == Decimal("110.00")
    (overpayment,) = org.overpayments()
    assert Decimal(str(overpayment["RemainingCredit"])) == Decimal("40.00")
    assert overpayment["Contact"]["ContactID"] == contact["ContactID"]

    second = issue_invoice(customer, [EXTRA])
    assert second.status == Invoice.Status.PAID, "Arena applied the credit"
    credit = second.allocations.get()
    all_sent((second, SyncRecord.Kind.INVOICE), (credit, SyncRecord.Kind.CREDIT_ALLOCATION))
    org = book(xero, whitelabel)
    (overpayment,) = org.overpayments()
    assert Decimal(str(overpayment["RemainingCredit"])) == Decimal("18.00")
    assert_xero_matches_arena(xero, whitelabel)


def test_prepaid_top_ups_become_receipts_in_xero(xero, sync_worker):
    whitelabel = connected(xero, payment_type="prepaid")
    customer = CustomerFactory(whitelabel=whitelabel)
    top_up = add_credit(customer, "50.00", reference="GW-1")
    payment = record_payment(customer, "30.00", reference="GW-2")
    all_sent((top_up.receipt, SyncRecord.Kind.RECEIPT), (payment.receipt, SyncRecord.Kind.RECEIPT))
    org = book(xero, whitelabel)
    transactions = {t["Reference"]: t for t in org.bank_transactions()}
    assert set(transactions) == {top_up.receipt.number, payment.receipt.number}
    for receipt, amount in ((top_up.receipt, "50.00"), (payment.receipt, "30.00")):
        bank_transaction = transactions[receipt.number]
        assert bank_transaction["Type"] == "RECEIVE"
        assert Decimal(str(bank_transaction["Total"])) == Decimal(amount)
        assert [li["AccountCode"] for li in bank_transaction["LineItems"]] == ["200"]
        assert bank_transaction["BankAccount"]["AccountID"] == org.account("090")["AccountID"]
    assert not org.invoices(), "pre-paid sends no invoices"
    assert not SyncRecord.objects.filter(whitelabel=whitelabel, kind=SyncRecord.Kind.OVERPAYMENT).exists()


def test_response_lost_after_xero_saved_the_invoice_creates_no_duplicate(xero, sync_worker):
    whitelabel = connected(xero)
    customer = CustomerFactory(whitelabel=whitelabel)
    xero.add_fault(method="PUT", path="/api.xro/2.0/Invoices", mode="drop_response", count=1)
    invoice = issue_invoice(customer, [PLAN])
    all_sent((invoice, SyncRecord.Kind.INVOICE))
    assert dropped(xero, "/Invoices")
    assert [i["InvoiceNumber"] for i in book(xero, whitelabel).invoices()] == [invoice.number]
    record = SyncRecord.objects.get(kind=SyncRecord.Kind.INVOICE, object_id=invoice.pk)
    assert record.attempts == 1 and record.xero_id, "found by number in Xero, not sent again"


def test_an_answer_that_is_not_xeros_json_is_retried_and_sends_nothing_twice(xero, sync_worker):
    """A write's answer is read from its JSON (not through xero-python's models): one that is not Xero's JSON
    (a proxy's page with a 200) is Xero not answering clearly, so the invoice is looked up before it is sent
    again, and reaches Xero once."""
    whitelabel = connected(xero)
    customer = CustomerFactory(whitelabel=whitelabel)
    xero.add_fault(method="PUT", path="/api.xro/2.0/Invoices", mode="status", status=200, body="<html>", count=1)
    invoice = issue_invoice(customer, [PLAN])
    all_sent((invoice, SyncRecord.Kind.INVOICE))
    assert [i["InvoiceNumber"] for i in book(xero, whitelabel).invoices()] == [invoice.number]
    record = SyncRecord.objects.get(kind=SyncRecord.Kind.INVOICE, object_id=invoice.pk)
    puts = [r["status"] for r in xero.requests_log() if r["method"] == "PUT" and r["path"].endswith("/Invoices")]
    assert (puts, record.attempts) == ([200, 200], 2), "the unreadable answer, then the invoice sent once"


@pytest.mark.parametrize("status", [429, 500, 503])
def test_rate_limits_and_server_errors_are_retried_until_sent(xero, sync_worker, status):
    whitelabel = connected(xero)
    customer = CustomerFactory(whitelabel=whitelabel)
    fault = {"method": "PUT", "path": "/api.xro/2.0/Invoices", "mode": "status", "status": status, "count": 3}
    if status == 429:
        fault.update(retry_after=1)
    xero.add_fault(**fault)
    invoices = [issue_invoice(customer, [PLAN]) for _ in range(3)]
    all_sent(*[(i, SyncRecord.Kind.INVOICE) for i in invoices])
    assert sorted(i["InvoiceNumber"] for i in book(xero, whitelabel).invoices()) == sorted(i.number for i in invoices)
    statuses = [r["status"] for r in xero.requests_log() if r["method"] == "PUT" and r["path"].endswith("/Invoices")]
    assert statuses.count(status) == 3 and statuses[-1] == 200


def test_token_expired_mid_run_is_refreshed(xero, sync_worker):
    whitelabel = connected(xero)
    customer = CustomerFactory(whitelabel=whitelabel)
    all_sent((customer, SyncRecord.Kind.CONTACT))
    xero.advance_clock(31 * 60)
    invoice = issue_invoice(customer, [PLAN])
    all_sent((invoice, SyncRecord.Kind.INVOICE))
    refreshes = [
        r for r in xero.requests_log() if r["path"] == "/connect/token" and r.get("grant_type") == "refresh_token"
    ]
    assert [r["status"] for r in refreshes] == [200]


def test_a_revenue_code_xero_would_refuse_fails_without_a_call_then_goes_once_it_is_fixed(xero, sync_worker):
    """The code was saved when Xero took it, then archived there: Arena sends nothing Xero will refuse (issue
    19, item 1). The record fails without a call, saying which setting to correct; saving the page sends it."""
    whitelabel = connected(xero)
    customer = CustomerFactory(whitelabel=whitelabel)
    AccountingSettings.objects.filter(whitelabel=whitelabel).update(revenue_code="210")
    invoice = issue_invoice(customer, [PLAN])
    record = wait_until(
        lambda: SyncRecord.objects.filter(
            kind=SyncRecord.Kind.INVOICE, object_id=invoice.pk, status=Status.FAILED
        ).first(),
        message="the refusal",
    )
    assert record.reason == (
        f"Revenue code 210 on the Accounting System Settings page can't be used with {ORG1}: Account 210 – Old "
        "Sales is archived in Xero. Use one of: 200, 201, 202, 203, 260, 270."
    )
    assert not xero_calls(xero, path_end="/Invoices"), "no call Xero would refuse"
    assert not book(xero, whitelabel).invoices()
    client = Client()
    client.force_login(Membership.objects.get(whitelabel=whitelabel).user)
    assert save_settings(client, whitelabel, **{"accounting-bank_account_code": "090"}).status_code == 302
    all_sent((invoice, SyncRecord.Kind.INVOICE))
    assert_xero_matches_arena(xero, whitelabel)


def test_a_bank_account_xero_would_refuse_fails_payments_without_a_call(xero, sync_worker):
    whitelabel = connected(xero)
    customer = CustomerFactory(whitelabel=whitelabel)
    invoice = issue_invoice(customer, [PLAN])
    all_sent((invoice, SyncRecord.Kind.INVOICE))
    AccountingSettings.objects.filter(whitelabel=whitelabel).update(bank_account_code="200")
    payment = record_payment(customer, invoice.total, invoice=invoice)
    record = wait_until(
        lambda: SyncRecord.objects.filter(
            kind=SyncRecord.Kind.PAYMENT, object_id=payment.allocations.get().pk, status=Status.FAILED
        ).first(),
        message="the payment to fail",
    )
    assert record.reason == (
        f"Bank account 200 on the Accounting System Settings page can't be used with {ORG1}: Account 200 – Sales "
        "is not a bank account. Use one of: 090, 091, 092."
    )
    assert not xero_calls(xero, path_end="/Payments")


def test_broker_down_at_save_time_the_sweeper_sends_it_later(xero, sync_worker):
    from arena_xero.celery import app

    whitelabel = connected(xero)
    customer = CustomerFactory(whitelabel=whitelabel)
    outbox_settled(whitelabel)
    original = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:9/0"  # nothing listens there: publishing fails
    app._pool = None
    try:
        invoice = issue_invoice(customer, [PLAN])
    finally:
        app.conf.broker_url = original
        app._pool = None
    record = SyncRecord.objects.get(kind=SyncRecord.Kind.INVOICE, object_id=invoice.pk)
    assert record.status == Status.PENDING, "the billing change and its outbox row were saved"
    assert engine.whitelabels_due() == [whitelabel.pk]
    sweep_outbox.delay()
    all_sent((invoice, SyncRecord.Kind.INVOICE))


def test_concurrent_workers_on_the_same_records_send_each_once(xero, sync_worker):
    whitelabel = connected(xero)
    customers = [CustomerFactory(whitelabel=whitelabel) for _ in range(3)]
    XeroConnection.objects.filter(whitelabel=whitelabel).update(status=XeroConnection.Status.NEEDS_RECONNECT)
    invoices = [issue_invoice(customers[n % 3], [PLAN]) for n in range(12)]
    XeroConnection.objects.filter(whitelabel=whitelabel).update(status=XeroConnection.Status.ACTIVE)
    barrier = threading.Barrier(3)

    def run():
        barrier.wait()
        try:
            engine.run_organisation(whitelabel.pk)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    sweep_outbox.delay()  # and the real worker joins in
    for thread in threads:
        thread.join(60)
    all_sent(*[(i, SyncRecord.Kind.INVOICE) for i in invoices])
    assert_xero_matches_arena(xero, whitelabel)
    assert len(book(xero, whitelabel).contacts()) == 3


def test_disconnected_whitelabel_sends_nothing_and_loses_nothing(xero, sync_worker):
    whitelabel = connected(xero)
    client = Client()
    client.force_login(Membership.objects.get(whitelabel=whitelabel).user)
    client.post(f"/account/{whitelabel.slug}/settings/components/accounting-system/xero/disconnect/")
    customer = CustomerFactory(whitelabel=whitelabel)
    invoice = issue_invoice(customer, [PLAN])
    record = SyncRecord.objects.get(kind=SyncRecord.Kind.INVOICE, object_id=invoice.pk)
    assert record.status == Status.SKIPPED and "not connected" in record.reason
    engine.run_organisation(whitelabel.pk)
    assert not book(xero, whitelabel, tenant_name=ORG1).invoices()
    connect(client, whitelabel, xero, organisations=(ORG1,), **{"accounting-bank_account_code": "090"})
    call_command("resync_xero", "--whitelabel", whitelabel.slug, stdout=open("/dev/null", "w"))
    all_sent((invoice, SyncRecord.Kind.INVOICE))


def test_two_whitelabels_sync_to_their_own_organisations(xero, sync_worker):
    first = connected(xero, slug="first", organisation=ORG1)
    second = connected(xero, slug="second", organisation=ORG2)
    one = issue_invoice(CustomerFactory(whitelabel=first), [PLAN])
    nz_gst = LineInput("Extra data", Decimal("2"), Decimal("10.00"), Decimal("15"))
    two = issue_invoice(CustomerFactory(whitelabel=second), [nz_gst])
    all_sent((one, SyncRecord.Kind.INVOICE), (two, SyncRecord.Kind.INVOICE))
    assert [i["InvoiceNumber"] for i in book(xero, first).invoices()] == [one.number]
    assert [i["InvoiceNumber"] for i in book(xero, second).invoices()] == [two.number]
    (line,) = book(xero, second).invoices()[0]["LineItems"]
    assert line["TaxType"] == "OUTPUT2", "Organisation 2's 15% rate on its revenue account"
    assert Decimal(str(line["TaxAmount"])) == two.tax_total == Decimal("3.00")


def test_tax_rate_the_organisation_lacks_is_refused_with_what_to_create_and_no_call(xero, sync_worker):
    whitelabel = connected(xero, organisation=ORG2)
    customer = CustomerFactory(whitelabel=whitelabel)
    all_sent((customer, SyncRecord.Kind.CONTACT))
    xero.clear_requests_log()
    invoice = issue_invoice(customer, [PLAN])  # 10% GST: Organisation 2 (NZ) has 15% and 0% only
    record = wait_until(
        lambda: (
            SyncRecord.objects.filter(kind=SyncRecord.Kind.INVOICE, object_id=invoice.pk, status=Status.FAILED)
            .exclude(next_attempt_at=None)
            .first()
        ),
        message="the invoice to be refused",
    )
    assert "Organisation 2 has no active tax rate of 10% for sales" in record.reason
    assert not [r for r in xero.requests_log() if r["path"].endswith("/Invoices")], "no contradiction sent to Xero"
    assert not book(xero, whitelabel).invoices()


def test_voided_invoice_is_voided_in_xero(xero, sync_worker):
    whitelabel = connected(xero)
    invoice = issue_invoice(CustomerFactory(whitelabel=whitelabel), [PLAN])
    all_sent((invoice, SyncRecord.Kind.INVOICE))
    void_invoice(invoice)
    all_sent((invoice, SyncRecord.Kind.INVOICE_VOID))
    (xero_invoice,) = book(xero, whitelabel).invoices()
    assert xero_invoice["Status"] == "VOIDED"


def test_overpayment_whose_answer_was_lost_is_not_created_twice(xero, sync_worker):
    whitelabel = connected(xero)
    customer = CustomerFactory(whitelabel=whitelabel)
    invoice = issue_invoice(customer, [PLAN])
    all_sent((invoice, SyncRecord.Kind.INVOICE))
    xero.add_fault(method="PUT", path="/api.xro/2.0/BankTransactions", mode="drop_response", count=1)
    payment = record_payment(customer, Decimal("150.00"), invoice=invoice)
    all_sent((payment, SyncRecord.Kind.OVERPAYMENT))
    assert dropped(xero, "/BankTransactions")
    (overpayment,) = book(xero, whitelabel).overpayments()
    assert Decimal(str(overpayment["RemainingCredit"])) == Decimal("40.00")
    record = SyncRecord.objects.get(kind=SyncRecord.Kind.OVERPAYMENT, object_id=payment.pk)
    assert record.xero_id == overpayment["OverpaymentID"] and record.attempts == 1


def test_credit_allocation_whose_answer_was_lost_is_not_applied_twice(xero, sync_worker):
    whitelabel = connected(xero)
    customer = CustomerFactory(whitelabel=whitelabel)
    payment = add_credit(customer, "100.00")
    all_sent((payment, SyncRecord.Kind.OVERPAYMENT))
    xero.add_fault(method="PUT", path="/api.xro/2.0/Overpayments/*", mode="drop_response", count=1)
    invoice = issue_invoice(customer, [EXTRA])
    allocation = invoice.allocations.get()
    all_sent((invoice, SyncRecord.Kind.INVOICE), (allocation, SyncRecord.Kind.CREDIT_ALLOCATION))
    assert dropped(xero, "/Allocations")
    (overpayment,) = book(xero, whitelabel).overpayments()
    assert Decimal(str(overpayment["RemainingCredit"])) == Decimal("78.00")
    assert_xero_matches_arena(xero, whitelabel)


def test_connection_revoked_in_xero_pauses_sync_and_reconnecting_sends_what_waited(xero, sync_worker):
    whitelabel = connected(xero)
    customer = CustomerFactory(whitelabel=whitelabel)
    all_sent((customer, SyncRecord.Kind.CONTACT))
    conn = XeroConnection.objects.get(whitelabel=whitelabel)
    xero.revoke_connection(conn.connection_id)
    invoice = issue_invoice(customer, [PLAN])
    record = wait_until(
        lambda: SyncRecord.objects.filter(
            kind=SyncRecord.Kind.INVOICE, object_id=invoice.pk, reason__icontains="paused"
        ).first(),
        message="the invoice's sync to pause",
    )
    assert record.status == Status.PENDING
    assert XeroConnection.objects.get(pk=conn.pk).status == XeroConnection.Status.NEEDS_RECONNECT
    assert not book(xero, whitelabel).invoices()
    client = Client()
    client.force_login(Membership.objects.get(whitelabel=whitelabel).user)
    connect(client, whitelabel, xero, organisations=(ORG1,), **{"accounting-bank_account_code": "090"})
    all_sent((invoice, SyncRecord.Kind.INVOICE))
    assert_xero_matches_arena(xero, whitelabel)


def test_payment_whose_answer_was_lost_is_not_paid_twice(xero, sync_worker):
    whitelabel = connected(xero)
    customer = CustomerFactory(whitelabel=whitelabel)
    invoice = issue_invoice(customer, [PLAN])
    all_sent((invoice, SyncRecord.Kind.INVOICE))
    xero.add_fault(method="PUT", path="/api.xro/2.0/Payments", mode="drop_response", count=1)
    payment = record_payment(customer, Decimal("50.00"), invoice=invoice)
    all_sent((payment.allocations.get(), SyncRecord.Kind.PAYMENT))
    assert dropped(xero, "/Payments")
    assert [Decimal(str(p["Amount"])) for p in book(xero, whitelabel).payments()] == [Decimal("50.00")]
    assert_xero_matches_arena(xero, whitelabel)


def test_receipt_whose_answer_was_lost_is_not_deposited_twice(xero, sync_worker):
    whitelabel = connected(xero, payment_type="prepaid")
    customer = CustomerFactory(whitelabel=whitelabel)
    xero.add_fault(method="PUT", path="/api.xro/2.0/BankTransactions", mode="drop_response", count=1)
    top_up = add_credit(customer, "25.00")
    all_sent((top_up.receipt, SyncRecord.Kind.RECEIPT))
    assert dropped(xero, "/BankTransactions")
    assert [t["Reference"] for t in book(xero, whitelabel).bank_transactions()] == [top_up.receipt.number]


def writes(xero) -> list[tuple[str, str]]:
    """The write calls Xero answered 200 since the log was cleared, as (method, path without ids)."""
    calls = [c for c in xero_calls(xero, status=200) if c["method"] != "GET"]
    return [(c["method"], "/".join("{id}" if len(p) == 36 else p for p in c["path"].split("/")[3:])) for c in calls]


def step(xero, whitelabel, operation) -> list[tuple[str, str]]:
    """Do one billing operation, let the worker settle it, check both books agree; the writes it took."""
    xero.clear_requests_log()
    operation()
    wait_for_books(xero, whitelabel).assert_same()
    return writes(xero)


def test_postpaid_money_flowing_back_reaches_xero_step_by_step(xero, sync_worker):
    whitelabel = connected(xero)
    customer = CustomerFactory(whitelabel=whitelabel)
    invoice = issue_invoice(customer, [PLAN])
    first = record_payment(customer, "50.00", invoice=invoice)
    wait_for_books(xero, whitelabel).assert_same()

    note = step(xero, whitelabel, lambda: issue_credit_note(invoice=invoice, amount="22.00", reason="Overcharged"))
    assert note == [("PUT", "CreditNotes"), ("PUT", "CreditNotes/{id}/Allocations")]
    over = step(xero, whitelabel, lambda: record_payment(customer, "60.00", invoice=invoice))  # 38.00 due
    assert over == [("PUT", "Payments"), ("PUT", "BankTransactions")], "the payment, then 22.00 as credit"
    refund = step(xero, whitelabel, lambda: refund_credit(customer=customer, amount="10.00"))
    assert refund == [("PUT", "Payments")], "a refund payment on the overpayment"
    reverse = step(xero, whitelabel, lambda: reverse_payment(payment=first, reason="Chargeback"))
    assert reverse == [("POST", "Payments/{id}")], "the first payment deleted"

    invoice.refresh_from_db()
    assert (invoice.amount_due, customer_credit(customer)) == (Decimal("50.00"), Decimal("12.00"))
    org = book(xero, whitelabel)
    (xero_invoice,) = org.invoices()
    assert Decimal(str(xero_invoice["AmountDue"])) == Decimal("50.00")
    assert sorted(p["Status"] for p in org.payments()) == ["AUTHORISED", "AUTHORISED", "DELETED"]
    (overpayment,) = org.overpayments()
    assert Decimal(str(overpayment["RemainingCredit"])) == Decimal("12.00")
    (skipped,) = SyncRecord.objects.filter(whitelabel=whitelabel).exclude(status=Status.SENT)
    assert (skipped.kind, skipped.status) == (SyncRecord.Kind.DEPOSIT_REVERSAL, Status.SKIPPED)
    assert skipped.reason == "The payment left no credit, so Xero has nothing more to reverse."


def test_prepaid_refunds_and_reversed_top_ups_reach_xero_step_by_step(xero, sync_worker):
    whitelabel = connected(xero, payment_type="prepaid")
    customer = CustomerFactory(whitelabel=whitelabel)
    kept = step(xero, whitelabel, lambda: add_credit(customer, "50.00"))
    assert kept == [("POST", "Contacts"), ("PUT", "BankTransactions")], "the contact, then the receipt"
    bounced = add_credit(customer, "30.00")
    wait_for_books(xero, whitelabel).assert_same()

    refund = step(xero, whitelabel, lambda: refund_credit(customer=customer, amount="20.00"))
    assert refund == [("PUT", "BankTransactions")], "one SPEND with the refund receipt's number"
    reverse = step(xero, whitelabel, lambda: reverse_payment(payment=bounced, reason="Bounced"))
    assert reverse == [("POST", "BankTransactions/{id}")], "its receipt deleted"

    transactions = book(xero, whitelabel).bank_transactions()
    assert sorted((t["Type"], t["Status"], str(t["Total"])) for t in transactions) == [
        ("RECEIVE", "AUTHORISED", "50.0"),
        ("RECEIVE", "DELETED", "30.0"),
        ("SPEND", "AUTHORISED", "20.0"),
    ]
    assert customer_credit(customer) == Decimal("30.00")
