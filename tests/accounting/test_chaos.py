"""The chaos suite: for each fault, bill a mixed workload with a real worker, let the outbox settle, and
compare Xero's books with Arena's: every invoice once with the right amount due and status, every payment
once, credit equal to unallocated overpayments, contacts one per customer. Zero duplicates, zero lost.

Each case records a line "billed / in Xero / duplicates / lost" that the test run prints at the end.
"""

from decimal import Decimal

import pytest
from django.db import connection as db_connection
from django.utils import timezone

from accounting.models import SyncRecord, SyncState, XeroConnection
from accounting.tasks import sweep_outbox
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
from tests.books import admin_client_for, assert_no_drift, compare_books, connected, outbox_settled, wait_for_books
from tests.factories import CustomerFactory
from tests.services import require
from tests.xero import ORG1, ORG2, callback_path, connect, consent, save_settings, settings_url, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
Kind, Status = SyncRecord.Kind, SyncRecord.Status
API = "/api.xro/2.0"


def bill_mixed(whitelabel, *, customers: int = 3, taxed: bool = True, later: bool = False) -> list:
    """Every kind of record: contacts; invoices with GST and without; a payment in two parts; an
    overpayment that leaves credit; a top-up; credit applied to a later invoice; a voided invoice (or,
    with `later`, one to void later); a credit note; a refund of credit (an overpayment's and a credit
    note's); a reversed payment (or, with `later`, one to reverse later). Returns what is left to do later."""
    rate = Decimal("10") if taxed else Decimal("0")
    to_do = []
    for _ in range(customers):
        customer = CustomerFactory(whitelabel=whitelabel)
        plan = issue_invoice(customer, [LineInput("Mobile plan", Decimal("1"), Decimal("100.00"), rate)])
        record_payment(customer, "50.00", invoice=plan)
        record_payment(customer, plan.total - Decimal("50.00"), invoice=plan)
        extra = issue_invoice(customer, [LineInput("Extra data", Decimal("2"), Decimal("10.00"), rate)])
        record_payment(customer, extra.total + Decimal("18.00"), invoice=extra)  # 18.00 left as credit
        add_credit(customer, "25.00")  # a top-up: 43.00 of credit
        issue_invoice(customer, [LineInput("Handset", Decimal("1"), Decimal("30.00"), Decimal("0"))])  # from credit
        mistake = issue_invoice(
            customer, [LineInput("Wrong plan", Decimal("1"), Decimal("80.00"), rate)], apply_credit=False
        )
        issue_credit_note(invoice=plan, amount="11.00", reason="Goodwill")  # all credit: the plan is paid
        refund_credit(customer=customer, amount="15.00")  # the top-up's rest, then the credit note's
        device = issue_invoice(customer, [LineInput("Device", Decimal("1"), Decimal("50.00"), rate)])
        bounced = record_payment(customer, device.amount_due + Decimal("19.00"), invoice=device)
        undo = [lambda m=mistake: void_invoice(m), lambda p=bounced: reverse_payment(payment=p, reason="Chargeback")]
        if later:
            to_do += undo
        else:
            for action in undo:
                action()
    return to_do


def report(record_property, name: str, comparison) -> None:
    record_property("chaos", comparison.line(name))
    comparison.assert_same()


FAULTS = {
    "answer dropped after commit: contacts": [{"method": "POST", "path": f"{API}/Contacts", "mode": "drop_response"}],
    "answer dropped after commit: invoices": [{"method": "PUT", "path": f"{API}/Invoices", "mode": "drop_response"}],
    "answer dropped after commit: payments": [{"method": "PUT", "path": f"{API}/Payments", "mode": "drop_response"}],
    "answer dropped after commit: overpayments": [
        {"method": "PUT", "path": f"{API}/BankTransactions", "mode": "drop_response"}
    ],
    "answer dropped after commit: credit allocations": [
        {"method": "PUT", "path": f"{API}/Overpayments/*", "mode": "drop_response"}
    ],
    "answer dropped after commit: voids": [{"method": "POST", "path": f"{API}/Invoices", "mode": "drop_response"}],
    "answer dropped after commit: credit notes": [
        {"method": "PUT", "path": f"{API}/CreditNotes", "mode": "drop_response"}
    ],
    "answer dropped after commit: credit note allocations": [
        {"method": "PUT", "path": f"{API}/CreditNotes/*", "mode": "drop_response"}
    ],
    "answer dropped after commit: reversals": [
        {"method": "POST", "path": f"{API}/Payments/*", "mode": "drop_response"},
        {"method": "POST", "path": f"{API}/BankTransactions/*", "mode": "drop_response"},
    ],
    "502 after commit": [
        {"method": "PUT", "path": f"{API}/Invoices", "mode": "status_after", "status": 502},
        {"method": "PUT", "path": f"{API}/Payments", "mode": "status_after", "status": 502},
    ],
    "504 after commit": [
        {"method": "PUT", "path": f"{API}/BankTransactions", "mode": "status_after", "status": 504},
        {"method": "PUT", "path": f"{API}/Overpayments/*", "mode": "status_after", "status": 504},
    ],
    "Xero finishes after XERO_HTTP_TIMEOUT": [
        {"method": "PUT", "path": f"{API}/Invoices", "mode": "slow", "delay": 3},
        {"method": "PUT", "path": f"{API}/Payments", "mode": "slow", "delay": 3},
    ],
    "429 storm": [{"path": f"{API}/*", "mode": "status", "status": 429, "retry_after": 1, "count": 8}],
    "503 burst": [{"path": f"{API}/*", "mode": "status", "status": 503, "count": 5}],
}


@pytest.mark.parametrize("name", FAULTS)
def test_books_match_after(name, xero, sync_worker, record_property):
    whitelabel = connected(xero)
    undo_later = "voids" in name or "reversals" in name  # undone once in Xero, so that the undoing is sent
    if undo_later:
        to_do = bill_mixed(whitelabel, later=True)
        outbox_settled(whitelabel)
    for fault in FAULTS[name]:
        xero.add_fault(**{"count": 2, **fault})
    if undo_later:
        for action in to_do:
            action()
    else:
        bill_mixed(whitelabel)
    report(record_property, name, wait_for_books(xero, whitelabel))
    assert_no_drift(whitelabel)
    modes_hit = {r["fault"] for r in xero.requests_log() if r.get("fault")}
    assert {f["mode"] for f in FAULTS[name]} <= modes_hit, "the faults were hit"


def test_books_match_after_the_worker_is_killed_while_xero_holds_its_request(xero, sync_worker, record_property):
    whitelabel = connected(xero)
    tenant_id = whitelabel.xero_connection.tenant_id
    bill_mixed(whitelabel, customers=1)
    outbox_settled(whitelabel)
    xero.add_fault(method="PUT", path=f"{API}/Invoices", mode="slow", delay=60)
    try:
        bill_mixed(whitelabel, customers=2)
        wait_until(lambda: xero.state()["in_flight"][tenant_id] >= 1, message="Xero to hold the run's request")
        sync_worker.kill()
        xero.clear_faults()  # Xero carries the request out; nobody hears the answer
        wait_until(lambda: len(xero.org_state(tenant_id)["invoices"]) >= 5, message="Xero to save the invoices")
        claimed = SyncRecord.objects.filter(whitelabel=whitelabel, kind=Kind.INVOICE, claimed_until__isnull=False)
        assert claimed.exists() and all(r.outcome_unknown for r in claimed)
    finally:
        sync_worker.start()
    # The dead run's lease lapses with its task's time limit; then the sweeper (beat, every minute) sends on.
    wait_until(
        lambda: SyncState.objects.get(whitelabel=whitelabel).lease_until < timezone.now(),
        timeout=45,
        message="the killed run's lease to lapse",
    )
    sweep_outbox.delay()
    report(record_property, "worker SIGKILLed while Xero holds its request", wait_for_books(xero, whitelabel))


def test_books_match_after_the_broker_was_down_at_save(xero, sync_worker, record_property):
    from arena_xero.celery import app

    whitelabel = connected(xero)
    original = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:9/0"  # nothing listens there: publishing fails
    app._pool = None
    try:
        bill_mixed(whitelabel)
    finally:
        app.conf.broker_url = original
        app._pool = None
    assert SyncRecord.objects.filter(whitelabel=whitelabel, status=Status.PENDING).exists(), "billing saved"
    sweep_outbox.delay()
    report(record_property, "broker down at save", wait_for_books(xero, whitelabel))


def test_books_match_after_the_database_connection_drops_mid_run(xero, sync_worker, record_property):
    require(db_connection.vendor == "postgresql", "dropping the worker's database connection needs PostgreSQL")
    whitelabel = connected(xero)
    tenant_id = whitelabel.xero_connection.tenant_id
    xero.add_fault(method="PUT", path=f"{API}/Invoices", mode="slow", delay=60)
    bill_mixed(whitelabel)
    wait_until(lambda: xero.state()["in_flight"][tenant_id] >= 1, message="a run to be waiting on Xero")
    with db_connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    xero.clear_faults()
    report(record_property, "database connection dropped mid-run", wait_for_books(xero, whitelabel))


def test_books_match_after_the_connection_is_revoked_mid_run(xero, sync_worker, record_property):
    whitelabel = connected(xero)
    bill_mixed(whitelabel, customers=1)
    connection = XeroConnection.objects.get(whitelabel=whitelabel)
    xero.revoke_connection(connection.connection_id)
    bill_mixed(whitelabel, customers=2)
    wait_until(
        lambda: XeroConnection.objects.get(pk=connection.pk).status == XeroConnection.Status.NEEDS_RECONNECT,
        message="the run to find the connection revoked",
    )
    client = admin_client_for(whitelabel)
    connect(client, whitelabel, xero, organisations=(ORG1,))
    report(record_property, "connection revoked mid-run", wait_for_books(xero, whitelabel))


def test_books_match_after_switching_to_another_organisation(xero, sync_worker, record_property):
    whitelabel = connected(xero)
    bill_mixed(whitelabel, customers=2, taxed=False)
    outbox_settled(whitelabel)
    client = admin_client_for(whitelabel)
    client.post(settings_url(whitelabel) + "xero/disconnect/")
    response = save_settings(client, whitelabel, **{"accounting-bank_account_code": "090"})
    picker = client.get(callback_path(consent(xero, response["Location"], organisations=(ORG2,))), follow=True)
    client.post(
        picker.redirect_chain[-1][0],
        {"action": "choose", "tenant_id": xero.tenant_ids[ORG2], "confirm_switch": xero.tenant_ids[ORG2]},
    )
    bill_mixed(whitelabel, customers=1, taxed=False)
    report(record_property, "switched to another organisation", wait_for_books(xero, whitelabel, tenant_name=ORG2))
    first = compare_books(xero, whitelabel, tenant_name=ORG1)
    assert not first.duplicates, "Organisation 1 keeps what it had, once"


def test_books_match_after_a_person_pays_in_xero_while_xero_limits_the_reads(xero, sync_worker, record_property):
    from accounting.tasks import poll_xero_payments
    from payments.models import Invoice, Payment

    whitelabel = connected(xero)
    bill_mixed(whitelabel)
    outbox_settled(whitelabel)
    owed = list(Invoice.objects.filter(whitelabel=whitelabel, status=Invoice.Status.ISSUED))
    assert owed, "the reversed payments left their invoices owed"
    for invoice in owed:  # a person reconciles the customers' bank transfers in Xero
        record = SyncRecord.objects.get(kind=Kind.INVOICE, object_id=invoice.pk)
        xero.apply_payment(record.xero_id, str(invoice.amount_due))
    xero.add_fault(path=f"{API}/Payments", method="GET", mode="status", status=429, retry_after=1, count=2)
    poll_xero_payments.delay()
    poll_xero_payments.delay()

    wait_until(
        lambda: not Invoice.objects.filter(whitelabel=whitelabel, status=Invoice.Status.ISSUED).exists(),
        timeout=60,
        message="Arena to record the payments entered in Xero",
    )
    outbox_settled(whitelabel)
    assert Payment.objects.filter(whitelabel=whitelabel, source=Payment.Source.XERO).count() == len(owed)
    report(record_property, "a person pays in Xero, reads limited", wait_for_books(xero, whitelabel))
    assert_no_drift(whitelabel)
    assert any(r.get("fault") for r in xero.requests_log()), "the fault was hit"
