"""Xero's lock dates with a real worker: a record dated in a locked period is held with its reason and no call
is made for it until the lock date moves, then it is sent once; or, under the *post on the first open day*
policy, it lands dated the day after the lock date with Arena's date in its reference. A plan that refuses
invoices holds them with what the admin can do, instead of retrying them every hour."""

import datetime
from decimal import Decimal

import pytest

from accounting.models import AccountingSettings, SyncRecord, XeroConnection
from accounting.xero.client import parse_xero_date
from payments.services import LineInput, issue_invoice, record_payment
from tests.books import admin_client_for, all_sent, connected, outbox_settled, xero_calls
from tests.factories import CustomerFactory
from tests.xero import book, save_settings, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
Status, Hold = SyncRecord.Status, SyncRecord.Hold
PLAN = LineInput("Mobile plan", Decimal("1"), Decimal("100.00"), Decimal("10"))  # 110.00
SETTINGS = {"accounting-bank_account_code": "090"}


def days_ago(days: int) -> datetime.date:
    return datetime.date.today() - datetime.timedelta(days=days)


def noon(day: datetime.date) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(12), tzinfo=datetime.UTC)


def record_of(obj, kind) -> SyncRecord:
    return SyncRecord.objects.get(kind=kind, object_id=obj.pk)


def held(obj, kind) -> bool:
    return record_of(obj, kind).status == Status.HELD


def invoice_sent(xero, whitelabel, days: int = 30):
    customer = CustomerFactory(whitelabel=whitelabel)
    invoice = issue_invoice(customer, [PLAN], issue_date=days_ago(days), due_date=days_ago(days - 14))
    all_sent((invoice, SyncRecord.Kind.INVOICE))
    return customer, invoice


def lock(xero, whitelabel, day: datetime.date | None, *, policy: str = "hold"):
    """The accountant locks the books in Xero; an admin saves the settings page (Arena reads the lock dates)."""
    xero.set_lock_dates(period_lock_date=day)
    client = admin_client_for(whitelabel)
    response = save_settings(client, whitelabel, **SETTINGS, **{"accounting-lock_date_policy": policy})
    assert response.status_code == 302, response.content.decode()[:2000]


def test_a_payment_dated_before_the_lock_date_waits_without_a_call_then_goes_once(xero, sync_worker):
    whitelabel = connected(xero)
    customer, invoice = invoice_sent(xero, whitelabel)
    lock(xero, whitelabel, days_ago(10))
    assert XeroConnection.objects.get(whitelabel=whitelabel).period_lock_date == days_ago(10)
    xero.clear_requests_log()

    payment = record_payment(customer, Decimal("110.00"), invoice=invoice, received_at=noon(days_ago(20)))
    allocation = payment.allocations.get()
    wait_until(lambda: held(allocation, SyncRecord.Kind.PAYMENT), message="the payment to be held")
    outbox_settled(whitelabel)

    record = record_of(allocation, SyncRecord.Kind.PAYMENT)
    assert record.reason.startswith(f"Dated {days_ago(20).day} {days_ago(20):%b %Y}, before Xero's lock date ")
    assert (record.held_by, record.held_lock_date, record.attempts) == (Hold.LOCK_DATE, days_ago(10), 0)
    assert xero_calls(xero, path_end="/Payments") == [], "no call for a held record"
    assert not book(xero, whitelabel).payments()

    lock(xero, whitelabel, days_ago(25))  # the accountant opens the period again
    all_sent((allocation, SyncRecord.Kind.PAYMENT))

    (xero_payment,) = book(xero, whitelabel).payments()
    assert Decimal(str(xero_payment["Amount"])) == Decimal("110.00")
    assert len(xero_calls(xero, method="PUT", path_end="/Payments")) == 1, "sent once"
    assert record_of(allocation, SyncRecord.Kind.PAYMENT).attempts == 1


def test_a_lock_date_set_since_the_last_read_is_learnt_from_xeros_refusal(xero, sync_worker):
    whitelabel = connected(xero)
    customer, invoice = invoice_sent(xero, whitelabel)
    xero.set_lock_dates(period_lock_date=days_ago(10))  # Arena has not read it yet
    xero.clear_requests_log()

    payment = record_payment(customer, Decimal("110.00"), invoice=invoice, received_at=noon(days_ago(20)))
    allocation = payment.allocations.get()
    wait_until(lambda: held(allocation, SyncRecord.Kind.PAYMENT), message="the payment to be held")
    outbox_settled(whitelabel)

    record = record_of(allocation, SyncRecord.Kind.PAYMENT)
    assert (record.held_lock_date, record.attempts) == (days_ago(10), 0), "no attempt burned"
    assert len(xero_calls(xero, method="PUT", path_end="/Payments")) == 1, "only the refused one"
    assert len(xero_calls(xero, method="GET", path_end="/Organisation")) == 1, "read again after the refusal"
    assert XeroConnection.objects.get(whitelabel=whitelabel).period_lock_date == days_ago(10)

    lock(xero, whitelabel, None)  # the accountant removes the lock date
    all_sent((allocation, SyncRecord.Kind.PAYMENT))
    calls = xero_calls(xero, method="PUT", path_end="/Payments")
    assert len(calls) == 2 and not calls[-1].get("idempotent_replay"), "a new call, not the old refusal replayed"
    assert len(book(xero, whitelabel).payments()) == 1


def test_first_open_day_policy_posts_the_day_after_the_lock_date_naming_arenas_date(xero, sync_worker):
    whitelabel = connected(xero)
    lock(xero, whitelabel, days_ago(10), policy="first_open_day")
    assert AccountingSettings.objects.get(whitelabel=whitelabel).lock_date_policy == "first_open_day"
    customer = CustomerFactory(whitelabel=whitelabel)
    invoice = issue_invoice(customer, [PLAN], issue_date=days_ago(20), due_date=days_ago(13))
    payment = record_payment(customer, Decimal("110.00"), invoice=invoice, received_at=noon(days_ago(15)))
    all_sent((invoice, SyncRecord.Kind.INVOICE), (payment.allocations.get(), SyncRecord.Kind.PAYMENT))

    org = book(xero, whitelabel)
    (xero_invoice,) = org.invoices()
    (xero_payment,) = org.payments()
    opens = days_ago(9)
    assert (parse_xero_date(xero_invoice["Date"]), xero_invoice["Status"]) == (opens, "PAID")
    assert parse_xero_date(xero_invoice["DueDate"]) == opens, "never due before its date"
    assert xero_invoice["Reference"] == f"Arena date {days_ago(20).day} {days_ago(20):%b %Y}"
    assert parse_xero_date(xero_payment["Date"]) == opens
    assert xero_payment["Reference"].endswith(f"(Arena date {days_ago(15).day} {days_ago(15):%b %Y})")
    assert xero_calls(xero, status=400) == []


def test_a_plan_without_invoices_holds_them_with_what_to_do(xero, sync_worker):
    whitelabel = connected(xero)
    xero.set_plan("GST_CASHBOOK")
    customer = CustomerFactory(whitelabel=whitelabel)
    invoice = issue_invoice(customer, [PLAN])
    wait_until(lambda: held(invoice, SyncRecord.Kind.INVOICE), message="the invoice to be held by the plan")
    outbox_settled(whitelabel)

    record = record_of(invoice, SyncRecord.Kind.INVOICE)
    assert (record.held_by, record.attempts, record.next_attempt_at) == (Hold.PLAN, 0, None)
    assert "upgrade the plan in Xero" in record.reason
    assert len(xero_calls(xero, method="PUT", path_end="/Invoices")) == 1

    xero.set_plan("STANDARD")
    response = save_settings(admin_client_for(whitelabel), whitelabel, **SETTINGS)
    assert response.status_code == 302
    all_sent((invoice, SyncRecord.Kind.INVOICE))
    assert [i["InvoiceNumber"] for i in book(xero, whitelabel).invoices()] == [invoice.number]
