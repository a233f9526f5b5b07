"""What the engine costs per call, counted (not timed: bench/ times it): a batch costs the same number of
queries whatever its size, and a run costs one query per pass to find what is due, not one per kind."""

from collections import Counter
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounting.models import SyncRecord, SyncState
from accounting.sync import engine
from payments.services import LineInput, issue_invoice, record_payment
from tests.books import connected
from tests.factories import CustomerFactory

PLAN = LineInput("NBN 100, monthly", Decimal("1"), Decimal("89.00"), Decimal("10"))


def engine_queries(whitelabel) -> Counter:
    """The queries of one run that sends what is due, by table and statement, without the limiter's own
    (Redis in production, a table here)."""
    with CaptureQueriesContext(connection) as run:
        engine.run_organisation(whitelabel.pk, hold_partial=False)
    statements = [q["sql"] for q in run.captured_queries if "xeroratebucket" not in q["sql"]]
    return Counter(" ".join(sql.split()[:3]) for sql in statements if not sql.startswith(("BEGIN", "COMMIT")))


def runs_are_ours(whitelabel) -> None:
    """Billing asks for no worker's run: one counts as queued already (the test runs it in this process, where
    its queries are counted; a worker of an earlier test may still be up)."""
    SyncState.objects.filter(whitelabel=whitelabel).update(wake_at=timezone.now())


def run_costs(whitelabel, size: int) -> tuple[int, int]:
    runs_are_ours(whitelabel)
    customers = [CustomerFactory(whitelabel=whitelabel) for _ in range(size)]
    engine.run_organisation(whitelabel.pk, hold_partial=False)  # the contacts
    runs_are_ours(whitelabel)
    invoices = [issue_invoice(customer, [PLAN]) for customer in customers]
    invoice_run = engine_queries(whitelabel)
    runs_are_ours(whitelabel)
    for invoice in invoices:
        record_payment(invoice.customer, invoice.total, invoice=invoice)
    payment_run = engine_queries(whitelabel)
    assert SyncRecord.objects.filter(whitelabel=whitelabel).exclude(status=SyncRecord.Status.SENT).count() == 0
    return sum(invoice_run.values()), sum(payment_run.values())


@pytest.mark.django_db(transaction=True)
def test_a_batch_costs_the_same_queries_whatever_its_size(xero, settings):
    assert settings.XERO_SYNC_BATCH_SIZE == 50
    whitelabel = connected(xero)
    run_costs(whitelabel, 5)  # the organisation's chart, tax rates and currencies are read (then cached)
    small, full = run_costs(whitelabel, 5), run_costs(whitelabel, 50)
    assert small == full, "a batch of 50 costs the queries of a batch of 5"
    invoices, payments = full
    # A run: its lease, settings and organisation (about 10), what is due (one query per pass and per batch
    # sent), and the batch (claim, the Arena records and what they need, marking sending, marking sent, waking
    # what waited, the attempts): at most 30 queries for 50 invoices or their 50 payments.
    assert invoices <= 30 and payments <= 30, (invoices, payments)
