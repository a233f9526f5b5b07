"""Xero's daily limit with a real worker: an organisation whose day of calls is spent (429 with
`X-Rate-Limit-Problem: day`) pauses until the time Xero gives, its card says when sending resumes, and
another organisation keeps syncing meanwhile."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from accounting.models import SyncRecord, SyncState
from payments.services import LineInput, issue_invoice
from tests.books import admin_client_for, all_sent, connected, xero_calls
from tests.factories import CustomerFactory
from tests.xero import ORG2, book, settings_url, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
PLAN = LineInput("Mobile plan", Decimal("1"), Decimal("100.00"), Decimal("10"))
NZ_PLAN = LineInput("Mobile plan", Decimal("1"), Decimal("100.00"), Decimal("15"))  # Organisation 2 is in NZ


def calls_to(xero, tenant_id: str) -> list[dict]:
    return [r for r in xero_calls(xero) if (r.get("headers") or {}).get("xero-tenant-id") == tenant_id]


def test_an_organisation_at_its_daily_limit_pauses_while_another_keeps_syncing(xero, sync_worker, smtp_server):
    spent = connected(xero, slug="spent")
    other = connected(xero, slug="other", organisation=ORG2)
    spent_tenant, other_tenant = xero.tenant_ids["Organisation 1"], xero.tenant_ids[ORG2]
    xero.set_day_limit(0, spent_tenant)  # its day of calls is used up
    xero.clear_requests_log()

    held_back = issue_invoice(CustomerFactory(whitelabel=spent), [PLAN])
    wait_until(
        lambda: SyncState.objects.filter(whitelabel=spent, paused_until__isnull=False).exists(),
        message="the spent organisation to pause",
    )
    goes = [issue_invoice(CustomerFactory(whitelabel=other), [NZ_PLAN]) for _ in range(2)]
    all_sent(*[(invoice, SyncRecord.Kind.INVOICE) for invoice in goes])

    state = SyncState.objects.get(whitelabel=spent)
    assert state.paused_until > timezone.now() + datetime.timedelta(hours=23), "until the time Xero gives"
    assert "daily limit" in state.pause_reason
    assert SyncRecord.objects.get(kind=SyncRecord.Kind.INVOICE, object_id=held_back.pk).status != SyncRecord.Status.SENT
    refused = calls_to(xero, spent_tenant)
    assert refused and all(r["status"] == 429 for r in refused)
    assert len(refused) <= 2, "it stops calling once Xero says the day is spent"
    assert sorted(i["InvoiceNumber"] for i in book(xero, other).invoices()) == sorted(i.number for i in goes)
    assert all(r["status"] == 200 for r in calls_to(xero, other_tenant))

    page = admin_client_for(spent).get(settings_url(spent)).content.decode()
    assert "Sending resumes" in page and "daily limit" in page
    (email,) = smtp_server.wait_for(1)  # support is told, once; the other organisation is not mentioned
    assert "Xero's daily limit paused the sync" in email["Subject"] and "Spent" in email["Subject"]
    assert "resumes at" in email.get_payload(decode=True).decode()
