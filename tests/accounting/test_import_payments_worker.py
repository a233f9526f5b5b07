"""Acceptance, with a real worker: a person pays an Arena invoice on the sandbox's page; Xero's signed webhook
reaches Arena (a live server), the worker reads Xero's payments and Arena marks the invoice paid, once, even when
the webhook arrives twice and the poll runs too; deleting the payment in Xero reverses it; a worker killed while
it reads imports nothing twice. Xero calls and records in both books are counted."""

from decimal import Decimal

import pytest
import requests

from accounting.models import SyncRecord, XeroImportCursor, XeroWebhookDelivery
from accounting.tasks import import_xero_payments, poll_xero_payments
from payments.models import Invoice, Payment
from payments.selectors import customer_credit
from payments.services import LineInput, issue_invoice, record_payment
from tests.accounting.drift import WEBHOOK_KEY, WEBHOOK_PATH
from tests.books import compare_books, connected, outbox_settled, xero_calls
from tests.factories import CustomerFactory
from tests.xero import book, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
Kind, Status, Origin = SyncRecord.Kind, SyncRecord.Status, SyncRecord.Origin
PLAN = LineInput("Mobile plan", Decimal("1"), Decimal("100.00"), Decimal("10"))  # 110.00
READS = ("Payments", "Overpayments", "Prepayments", "CreditNotes")  # what one read asks Xero for, a call each
READ_CALLS = len(READS)


@pytest.fixture
def hooked(xero, sync_worker, live_server, settings):
    settings.XERO_WEBHOOK_KEY = WEBHOOK_KEY
    xero.configure(webhook_url=live_server.url + WEBHOOK_PATH, webhook_key=WEBHOOK_KEY)
    whitelabel = connected(xero)
    invoice = issue_invoice(CustomerFactory(whitelabel=whitelabel), [PLAN])
    outbox_settled(whitelabel)
    xero.flush_webhooks()  # Arena's own writes
    wait_until(lambda: not unprocessed(), message="Arena's own events to be processed")
    record = SyncRecord.objects.get(kind=Kind.INVOICE, object_id=invoice.pk)
    return whitelabel, invoice, record.xero_id, live_server


def reads_so_far(whitelabel) -> int:
    return XeroImportCursor.objects.filter(whitelabel=whitelabel).values_list("reads", flat=True).first() or 0


def unprocessed():
    return XeroWebhookDelivery.objects.filter(verified=True, processed_at__isnull=True).exists()


def on_the_page(xero, whitelabel, **form):
    page = requests.post(
        f"{xero.url}/edits", data={"tenant_id": whitelabel.xero_connection.tenant_id, **form}, timeout=10
    )
    assert page.status_code == 200, page.text[:500]
    return page


def paid_in_arena(invoice):
    invoice.refresh_from_db()
    return invoice.status == Invoice.Status.PAID


def test_a_person_pays_in_xero_and_arena_records_it_once(hooked, xero):
    whitelabel, invoice, xero_invoice_id, live_server = hooked
    xero.clear_requests_log()
    reads = reads_so_far(whitelabel)

    on_the_page(xero, whitelabel, action="apply_payment", invoice=xero_invoice_id, amount="110.00", date="")
    delivery = xero.flush_webhooks()[-1]
    wait_until(lambda: paid_in_arena(invoice), message="Arena to mark the invoice paid")
    # Xero delivers at least once: the same delivery again; and the poll runs too.
    again = requests.post(
        live_server.url + WEBHOOK_PATH,
        data=delivery["body"].encode(),
        headers={"x-xero-signature": delivery["signature"], "Content-Type": "application/json"},
        timeout=10,
    )
    assert again.status_code == 200
    poll_xero_payments.delay()
    wait_until(
        lambda: reads_so_far(whitelabel) >= reads + 2 * READ_CALLS and not unprocessed(),
        message="the poll and the repeated delivery to be handled",
    )
    outbox_settled(whitelabel)

    (payment,) = Payment.objects.filter(whitelabel=whitelabel)
    assert (payment.source, payment.amount) == (Payment.Source.XERO, Decimal("110.00"))
    assert SyncRecord.objects.get(kind=Kind.PAYMENT).origin == Origin.XERO
    assert xero_calls(xero, method="PUT") == [] and xero_calls(xero, method="POST") == [], "nothing sent back"
    reads_made = sum(len(xero_calls(xero, method="GET", path_end=f"/{kind}")) for kind in READS)
    assert reads_made == reads_so_far(whitelabel) - reads, "each read counted: payments, then the credits"
    assert not SyncRecord.objects.filter(changed_in_xero_at__isnull=False).exists(), "Arena agrees: no drift"
    compare_books(xero, whitelabel).assert_same()

    # A person deletes it in Xero: Arena reverses it, and sends nothing.
    on_the_page(xero, whitelabel, action="delete_payment", payment=payment.source_id)
    xero.flush_webhooks()
    wait_until(lambda: Payment.objects.filter(pk=payment.pk, reversed_at__isnull=False).exists(), message="reversal")
    outbox_settled(whitelabel)
    payment.refresh_from_db()
    invoice.refresh_from_db()
    assert (payment.reversal_reason, invoice.status, invoice.amount_due) == (
        "deleted in Xero",
        Invoice.Status.ISSUED,
        Decimal("110.00"),
    )
    assert xero_calls(xero, method="PUT") == [] and xero_calls(xero, method="POST") == []
    compare_books(xero, whitelabel).assert_same()


def test_a_worker_killed_while_it_reads_imports_nothing_twice(hooked, xero, sync_worker, settings):
    whitelabel, invoice, xero_invoice_id, _ = hooked
    settings.XERO_WEBHOOK_KEY = ""  # no webhooks: only the poll hears of it
    xero.configure(webhook_url="")
    xero.apply_payment(xero_invoice_id, "60.00")
    xero.add_fault(method="GET", path="/api.xro/2.0/Payments", mode="slow", delay=3)
    log_start = len(sync_worker.log_path.read_text())
    reads = reads_so_far(whitelabel)
    try:
        import_xero_payments.delay(whitelabel.pk)
        wait_until(
            lambda: "import_xero_payments" in sync_worker.log_path.read_text()[log_start:],
            message="the worker to be reading Xero's payments",
        )
        sync_worker.kill()
    finally:
        xero.clear_faults()
        sync_worker.start()
    import_xero_payments.delay(whitelabel.pk)
    import_xero_payments.delay(whitelabel.pk)
    wait_until(lambda: reads_so_far(whitelabel) >= reads + 2 * READ_CALLS, message="both reads after the restart")
    outbox_settled(whitelabel)

    assert Payment.objects.filter(whitelabel=whitelabel).count() == 1
    invoice.refresh_from_db()
    assert invoice.amount_due == Decimal("50.00")
    compare_books(xero, whitelabel).assert_same()


def test_arena_and_a_person_pay_the_same_invoice_at_once_both_books_agree_and_the_excess_is_credit(hooked, xero):
    """The customer pays by card in Arena while the accountant reconciles their bank transfer in Xero: Arena's
    call is on its way (slowed in the sandbox) when the person's payment lands, so Xero refuses Arena's. The
    worker hears of the person's payment (the webhook), records it in Arena, where the invoice is paid already:
    its money is the customer's credit, and goes to Xero as an overpayment. Both books hold both payments'
    money, once."""
    whitelabel, invoice, xero_invoice_id, _ = hooked
    xero.clear_requests_log()
    # Arena's call is held until the faults are cleared (at most the fault's 30 s), then processed as usual.
    xero.add_fault(method="PUT", path="/api.xro/2.0/Payments", mode="slow", delay=30)
    try:
        ours = record_payment(invoice.customer, "110.00", invoice=invoice)  # the worker sends it
        wait_until(lambda: _held(xero), timeout=30, message="Arena's call to reach Xero")
        on_the_page(xero, whitelabel, action="apply_payment", invoice=xero_invoice_id, amount="110.00", date="")
    finally:
        xero.clear_faults()
    ours_record = SyncRecord.objects.filter(kind=Kind.PAYMENT, object_id=ours.allocations.get().pk)
    # Xero's answer reaches Arena: refused (failed), and settled as not sent if the person's payment was read
    # meanwhile (the webhook is delivered at once; the worker may read it as soon as the refusal is marked).
    answered = [Status.FAILED, Status.SKIPPED]
    wait_until(lambda: ours_record.filter(status__in=answered).exists(), message="Xero to refuse Arena's payment")
    xero.flush_webhooks()
    wait_until(lambda: Payment.objects.filter(whitelabel=whitelabel).count() == 2, message="the person's payment")
    outbox_settled(whitelabel)
    xero.flush_webhooks()
    wait_until(lambda: not unprocessed(), message="the webhooks of Arena's own writes")

    customer = invoice.customer
    assert customer_credit(customer) == Decimal("110.00")
    theirs = Payment.objects.get(whitelabel=whitelabel, source=Payment.Source.XERO)
    org = book(xero, whitelabel)
    assert [p["PaymentID"] for p in org.payments() if p["Status"] != "DELETED"] == [theirs.source_id]
    assert [o["RemainingCredit"] for o in org.overpayments()] == [110.0], "the excess, once"
    assert len(xero_calls(xero, method="PUT", path_end="/BankTransactions")) == 1
    record = ours_record.get()
    assert (record.status, record.attempts) == (Status.SKIPPED, 1), "refused once by Xero, then not sent again"
    assert f"Xero payment {theirs.source_id}" in record.reason
    comparison = compare_books(xero, whitelabel)
    assert comparison.wrong == [] and comparison.duplicates == []
    assert comparison.lost == [f"payment {ours.receipt.number} {invoice.number}"], "held by Xero as credit instead"


def _held(xero) -> bool:
    """The fault (one call) was taken: Arena's call is being held."""
    return not xero.state()["faults"]
