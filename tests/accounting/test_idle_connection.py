"""Xero's refresh token dies after 60 days unused: the daily task, run by a real worker, refreshes a connection
idle for 50 days, so an organisation that billed nothing for two months is still connected (sandbox clock)."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from accounting.models import SyncRecord, XeroConnection
from accounting.tasks import refresh_idle_connections
from payments.services import LineInput, issue_invoice
from tests.books import all_sent, connected
from tests.factories import CustomerFactory
from tests.xero import book, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
DAY = 86400
PLAN = LineInput("Mobile plan", Decimal("1"), Decimal("100.00"), Decimal("10"))


def active_refresh_tokens(xero) -> list[dict]:
    return [t for t in xero.state()["tokens"]["refresh_tokens"] if t["status"] == "active"]


def test_an_idle_connection_is_refreshed_before_xeros_60_days_run_out(xero, sync_worker):
    whitelabel = connected(xero)
    fifty_one_days_ago = timezone.now() - datetime.timedelta(days=51)
    XeroConnection.objects.filter(whitelabel=whitelabel).update(
        refreshed_at=fifty_one_days_ago, connected_at=fifty_one_days_ago
    )
    busy = connected(xero, slug="busy", organisation="Organisation 2")  # used yesterday: left alone
    XeroConnection.objects.filter(whitelabel=busy).update(refreshed_at=timezone.now() - datetime.timedelta(days=1))
    xero.advance_clock(51 * DAY)  # Xero's clock: the idle connection's refresh token has 9 days left

    refresh_idle_connections.delay()
    wait_until(
        lambda: XeroConnection.objects.get(whitelabel=whitelabel).refreshed_at > fifty_one_days_ago,
        message="the idle connection to be refreshed",
    )

    connection = XeroConnection.objects.get(whitelabel=whitelabel)
    assert connection.is_active
    assert XeroConnection.objects.get(whitelabel=busy).refreshed_at < timezone.now() - datetime.timedelta(hours=23)
    now = xero.state()["now"]
    assert any(t["expires_at"] > xero_timestamp(now) + 59 * DAY for t in active_refresh_tokens(xero))

    xero.advance_clock(15 * DAY)  # 66 days after the first consent: the first refresh token is dead
    invoice = issue_invoice(CustomerFactory(whitelabel=whitelabel), [PLAN])
    all_sent((invoice, SyncRecord.Kind.INVOICE))
    assert [i["InvoiceNumber"] for i in book(xero, whitelabel).invoices()] == [invoice.number]
    assert XeroConnection.objects.get(whitelabel=whitelabel).is_active


def xero_timestamp(rfc3339: str) -> float:
    return datetime.datetime.fromisoformat(rfc3339).timestamp()
