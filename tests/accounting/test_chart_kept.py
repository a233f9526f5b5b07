"""The engine keeps the organisation's chart of accounts while Xero accepts what it sends, and reads it again
once anything is refused (issue 24: a bill-run backlog outlasting the settings page's five-minute chart read
it again every five minutes, in the organisation's share of calls).

The runs go in this process (engine.run_organisation), so the chart's age can be set here: the settings page's
limit, CHART_CACHE_SECONDS, is set to 0 so that every chart read counts as older than it, instead of waiting
five minutes."""

from decimal import Decimal

import pytest
from django.utils import timezone

from accounting import connection
from accounting.models import SyncRecord, SyncState, XeroConnection
from accounting.sync import engine
from payments.services import LineInput, issue_invoice
from tests.books import connected, xero_calls
from tests.factories import CustomerFactory
from tests.xero import ORG1, book

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PLAN = LineInput("NBN 100, monthly", Decimal("1"), Decimal("89.00"), Decimal("10"))
Status = SyncRecord.Status


def send_due(whitelabel) -> None:
    """One run in this process (billing's change counts as queued already, so no worker runs it)."""
    SyncState.objects.filter(whitelabel=whitelabel).update(wake_at=timezone.now())
    engine.run_organisation(whitelabel.pk, hold_partial=False)


def chart_reads(xero) -> int:
    return len(xero_calls(xero, method="GET", path_end="/Accounts"))


def invoice_writes(xero) -> int:
    return len([c for c in xero_calls(xero, path_end="/Invoices") if c["method"] != "GET"])


def invoice_record(invoice) -> SyncRecord:
    return SyncRecord.objects.get(kind=SyncRecord.Kind.INVOICE, object_id=invoice.pk)


def test_the_chart_is_kept_while_xero_accepts_and_read_again_after_a_refusal(xero, monkeypatch):
    whitelabel = connected(xero)
    customer = CustomerFactory(whitelabel=whitelabel)
    SyncState.objects.filter(whitelabel=whitelabel).update(wake_at=timezone.now())
    first = issue_invoice(customer, [PLAN])
    send_due(whitelabel)
    assert invoice_record(first).status == Status.SENT
    reads = chart_reads(xero)
    assert reads >= 1

    monkeypatch.setattr(connection, "CHART_CACHE_SECONDS", 0)  # the chart is older than the settings page's
    second = issue_invoice(customer, [PLAN])
    send_due(whitelabel)
    assert invoice_record(second).status == Status.SENT
    assert chart_reads(xero) == reads, "kept while Xero accepts what is coded with it"
    assert connection.chart_of_accounts(XeroConnection.objects.get(whitelabel=whitelabel))
    assert chart_reads(xero) == reads + 1, "the settings page's chart is never older than CHART_CACHE_SECONDS"
    reads += 1

    xero.archive_account("200")  # the revenue code, archived in Xero after the chart was read
    third = issue_invoice(customer, [PLAN])
    send_due(whitelabel)
    record = invoice_record(third)
    assert record.status == Status.FAILED and record.reason.startswith("Xero refused it: "), record.reason
    assert "Account code '200' is not a valid code" in record.reason
    assert chart_reads(xero) == reads and invoice_writes(xero) == 3

    SyncRecord.objects.filter(pk=record.pk).update(next_attempt_at=timezone.now())  # its retry is due
    send_due(whitelabel)
    record.refresh_from_db()
    assert chart_reads(xero) == reads + 1, "the retry read the chart again"
    assert record.status == Status.FAILED and record.reason == (
        f"Revenue code 200 on the Accounting System Settings page can't be used with {ORG1}: Account 200 – Sales "
        "is archived in Xero. Use one of: 201, 202, 203, 260, 270."
    )
    assert invoice_writes(xero) == 3, "nothing more that Xero would refuse"
    assert {i["InvoiceNumber"] for i in book(xero, whitelabel).invoices()} == {first.number, second.number}
