"""Sync under load, with a real worker: batches form from bursts, waiting costs nothing, and Xero's rate
limits are never hit. These tests count calls and tasks; speed is measured by bench/, not here."""

import math
import re
import threading
from decimal import Decimal

import pytest
from django.utils import timezone

from accounting.models import SyncRecord, SyncState
from accounting.services import xero_call
from accounting.sync import outbox
from accounting.tasks import sweep_outbox
from accounting.xero import client, limits
from payments.services import LineInput, issue_invoice, record_payment
from tests.books import admin_client_for, all_sent, compare_books, connected, outbox_settled, xero_calls
from tests.factories import CustomerFactory
from tests.services import require
from tests.xero import ORG2, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
PLAN = LineInput("Mobile plan", Decimal("1"), Decimal("100.00"), Decimal("10"))
Kind, Status = SyncRecord.Kind, SyncRecord.Status
TASK_RECEIVED = re.compile(r"Task accounting\.tasks\.sync_organisation\[[^\]]+\] received")


class WorkerLog:
    """Counts what the real worker did from now on (its own log lines, not our code's say-so)."""

    def __init__(self, worker):
        self.path = worker.log_path
        self.start = len(self.path.read_text())

    def sync_tasks(self) -> int:
        return len(TASK_RECEIVED.findall(self.path.read_text()[self.start :]))


def test_a_burst_of_billing_becomes_full_batches_and_few_tasks(xero, sync_worker):
    whitelabel = connected(xero)
    customers = [CustomerFactory(whitelabel=whitelabel) for _ in range(20)]
    outbox_settled(whitelabel)
    xero.clear_requests_log()
    worker = WorkerLog(sync_worker)

    invoices = []
    for n in range(120):  # billed by one process as fast as the services allow
        invoice = issue_invoice(customers[n % 20], [PLAN])
        record_payment(invoice.customer, "110.00", invoice=invoice)
        invoices.append(invoice)

    comparison = compare_books_when_settled(xero, whitelabel)
    print(comparison.line("burst of 120 invoices with payments"))
    comparison.assert_same()
    floor = math.ceil(120 / 50)
    invoice_calls = xero_calls(xero, method="PUT", path_end="/Invoices")
    payment_calls = xero_calls(xero, method="PUT", path_end="/Payments")
    print(f"invoice calls {len(invoice_calls)}, payment calls {len(payment_calls)}, floor {floor} each")
    assert len(invoice_calls) <= floor + 1 and len(payment_calls) <= floor + 1
    assert not xero_calls(xero, status=429), "the limiter kept us under Xero's limits"
    assert worker.sync_tasks() <= 2 * (floor + 1) + 2, "one run per batch at most, not one per billing event"


def compare_books_when_settled(xero, whitelabel):
    outbox_settled(whitelabel, timeout=120)
    return compare_books(xero, whitelabel)


def test_a_payment_waiting_for_a_refused_invoice_makes_no_calls_and_runs_no_task(xero, sync_worker):
    whitelabel = connected(xero)
    other = connected(xero, slug="other", organisation=ORG2)
    nz_plan = LineInput("Plan", Decimal("1"), Decimal("100.00"), Decimal("15"))
    customer = CustomerFactory(whitelabel=whitelabel)
    all_sent((customer, Kind.CONTACT))
    whitelabel.accounting_settings.__class__.objects.filter(whitelabel=whitelabel).update(revenue_code="210")
    invoice = issue_invoice(customer, [PLAN])  # account 210 is archived: the invoice fails (Xero would refuse it)
    invoice_record = wait_until(
        lambda: SyncRecord.objects.filter(kind=Kind.INVOICE, object_id=invoice.pk, status=Status.FAILED).first(),
        message="the invoice to fail",
    )
    payment = record_payment(customer, "50.00", invoice=invoice)
    record = wait_until(
        lambda: SyncRecord.objects.filter(kind=Kind.PAYMENT, status=Status.WAITING).first(),
        message="the payment to park on its invoice",
    )
    assert record.blocked_by_id == invoice_record.pk and record.next_attempt_at is None
    assert f"Waiting for invoice {invoice.number}, which failed: Revenue code 210 " in record.reason
    outbox_settled(whitelabel)
    runs_before = SyncState.objects.get(whitelabel=whitelabel).runs
    calls_before = len(xero_calls(xero))
    state = SyncState.objects.get(whitelabel=whitelabel)
    assert state.wake_at is None or state.wake_at > timezone.now() + timezone.timedelta(minutes=30)

    # Time passes: another whitelabel bills and syncs twice, and the sweeper runs.
    for _ in range(2):
        all_sent((issue_invoice(CustomerFactory(whitelabel=other), [nz_plan]), Kind.INVOICE))
    sweep_outbox.delay()
    all_sent((issue_invoice(CustomerFactory(whitelabel=other), [nz_plan]), Kind.INVOICE))

    assert SyncState.objects.get(whitelabel=whitelabel).runs == runs_before, "no run for the waiting payment"
    others = {r["headers"].get("xero-tenant-id") for r in xero_calls(xero)[calls_before:]}
    assert whitelabel.xero_connection.tenant_id not in others
    assert not xero_calls(xero, path_end="/Payments")
    assert payment.allocations.count() == 1


@pytest.mark.parametrize("backend", ["database", "redis"])
def test_the_limiter_never_lets_workers_exceed_xeros_minute_or_concurrency_limits(xero, settings, backend):
    require(backend != "redis" or bool(settings.REDIS_URL), "the Redis limiter needs REDIS_URL")
    settings.XERO_RATE_LIMIT_BACKEND = backend
    # A Xero minute lasts 2 real seconds in the sandbox and in the limiter, so 150 calls span 5 minutes.
    xero.configure(time_scale=30)
    settings.XERO_LIMIT_TIME_SCALE = 30
    settings.XERO_RATE_LIMIT_MAX_WAIT_SECONDS = 60
    limits.backend().reset()
    whitelabel = connected(xero)
    connection = whitelabel.xero_connection
    xero.clear_stats()
    # Each call takes a moment in Xero, so ten threads press against the limit of five at once.
    xero.add_fault(method="GET", path="/api.xro/2.0/Currencies", mode="slow", delay=0.1, count=None)
    errors = []

    def caller():
        from django.db import connection as db

        try:
            for _ in range(15):
                xero_call(connection, client.currencies_list)
        except Exception as exc:  # noqa: BLE001 - collected and reported below
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=caller) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors
    stats = xero.tenant_stats(connection.tenant_id)
    print(f"{backend}: {stats}")
    assert sum(stats["rate_limited"].values()) == 0, "no 429s"
    assert 3 <= stats["peak_in_flight"] <= 5, "pressed against, and never past, five at once"
    # Xero allows 60 a minute; the limiter grants 57 of them (XERO_RATE_LIMIT_HEADROOM, 5%), so a loaded
    # machine's late arrivals stay clear of Xero's count.
    usable = limits.Limits.from_settings().usable(settings.XERO_MINUTE_LIMIT)
    assert usable == 57
    assert 45 <= stats["peak_calls_per_minute"] <= usable, "pressed against, and never past, the headroom"
    assert stats["calls"] >= 150


def test_retry_after_pauses_the_organisation_and_the_page_says_so(xero, sync_worker):
    whitelabel = connected(xero)
    customer = CustomerFactory(whitelabel=whitelabel)
    all_sent((customer, Kind.CONTACT))
    xero.add_fault(method="PUT", path="/api.xro/2.0/Invoices", mode="status", status=429, retry_after=3600, count=1)
    invoice = issue_invoice(customer, [PLAN])
    state = wait_until(
        lambda: SyncState.objects.filter(whitelabel=whitelabel, paused_until__isnull=False).first(),
        message="the organisation to pause",
    )
    assert state.paused_until > timezone.now() + timezone.timedelta(minutes=55)
    assert "Waiting for Xero's limit of calls per minute" in state.pause_reason
    record = SyncRecord.objects.get(kind=Kind.INVOICE, object_id=invoice.pk)
    assert record.status == Status.PENDING and record.attempts == 0, "a 429 is not an attempt"
    page = admin_client_for(whitelabel).get(f"/account/{whitelabel.slug}/settings/components/accounting-system/")
    assert "Waiting for Xero&#x27;s limit of calls per minute" in page.content.decode()
    assert len(xero_calls(xero, method="PUT", path_end="/Invoices")) == 1, "nothing sent while paused"


def test_the_daily_limit_pauses_until_xeros_reset_and_is_shown(xero, sync_worker):
    whitelabel = connected(xero)
    customer = CustomerFactory(whitelabel=whitelabel)
    all_sent((customer, Kind.CONTACT))
    used = xero.tenant_stats(whitelabel.xero_connection.tenant_id)["calls"]
    xero.configure(day_limit=used)  # today's budget is spent
    invoice = issue_invoice(customer, [PLAN])
    state = wait_until(
        lambda: SyncState.objects.filter(whitelabel=whitelabel, paused_until__isnull=False).first(),
        message="the daily limit to pause the organisation",
    )
    assert "daily limit" in state.pause_reason
    assert state.paused_until > timezone.now() + timezone.timedelta(hours=20), "until Xero's day is over"
    assert len(xero_calls(xero, status=429)) == 1, "refused once, then nothing more is tried"
    record = SyncRecord.objects.get(kind=Kind.INVOICE, object_id=invoice.pk)
    assert record.status == Status.PENDING and record.attempts == 0, "held, not failed"
    page = admin_client_for(whitelabel).get(f"/account/{whitelabel.slug}/settings/components/accounting-system/")
    assert "daily limit" in page.content.decode()
    assert outbox.skip_reason(whitelabel.pk) is None


@pytest.mark.parametrize("backend", ["database", "redis"])
def test_the_limiter_stops_before_xero_once_its_headers_say_the_day_is_spent(settings, backend):
    require(backend != "redis" or bool(settings.REDIS_URL), "the Redis limiter needs REDIS_URL")
    settings.XERO_RATE_LIMIT_BACKEND = backend
    limiter = limits.backend()
    limiter.reset()
    permit = limits.acquire("tenant-a")
    limits.release(permit, {"X-DayLimit-Remaining": "0", "X-MinLimit-Remaining": "59"})
    with pytest.raises(limits.XeroRateLimited) as refused:
        limits.acquire("tenant-a", max_wait=0)
    assert refused.value.problem == "day" and refused.value.retry_after > 20 * 3600
    assert isinstance(limits.acquire("tenant-b", max_wait=0), limits.Permit), "other organisations go on"


def test_a_single_invoice_on_a_quiet_system_goes_after_the_coalescing_window(xero, sync_worker):
    whitelabel = connected(xero)
    customer = CustomerFactory(whitelabel=whitelabel)
    outbox_settled(whitelabel)
    worker = WorkerLog(sync_worker)
    invoice = issue_invoice(customer, [PLAN])
    all_sent((invoice, Kind.INVOICE))
    assert worker.sync_tasks() == 1, "one run sent the contact and the invoice"
    assert len(xero_calls(xero, method="PUT", path_end="/Invoices")) == 1


@pytest.mark.parametrize(
    "headroom, limit, usable", [(0.05, 60, 57), (0.05, 5000, 4750), (0.05, 10000, 9500), (0.0, 60, 60), (0.5, 1, 1)]
)
def test_the_limiter_leaves_its_headroom_of_each_counted_limit(settings, headroom, limit, usable):
    settings.XERO_RATE_LIMIT_HEADROOM = headroom
    assert limits.Limits.from_settings().usable(limit) == usable

