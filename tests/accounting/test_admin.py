"""Support staff in the Django admin: sync records are visible and can be retried; tokens never show."""

from decimal import Decimal

import pytest
from django.utils import timezone

from accounting.models import SyncRecord, XeroConnection
from payments.services import LineInput, issue_invoice
from tests.factories import AccountingSettingsFactory, CustomerFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def support_client(client):
    client.force_login(UserFactory(username="support", is_staff=True, is_superuser=True))
    return client


def test_failed_records_are_listed_with_reason_and_can_be_retried(support_client, whitelabel):
    AccountingSettingsFactory(whitelabel=whitelabel)
    XeroConnection.objects.create(
        whitelabel=whitelabel,
        tenant_id="t-1",
        tenant_name="Org",
        connection_id="c",
        connected_at=timezone.now(),
        access_token="secret-access",
        refresh_token="secret-refresh",
    )
    issue_invoice(CustomerFactory(whitelabel=whitelabel), [LineInput("Plan", Decimal("1"), Decimal("10.00"))])
    record = SyncRecord.objects.get(kind=SyncRecord.Kind.INVOICE)
    SyncRecord.objects.filter(pk=record.pk).update(
        status=SyncRecord.Status.FAILED,
        attempts=10,
        next_attempt_at=None,
        reason="Xero refused it: Account code '999' is not a valid code",
    )
    page = support_client.get("/admin/accounting/syncrecord/?status__exact=failed").content.decode()
    assert record.label in page and "Account code &#x27;999&#x27; is not a valid code" in page
    support_client.post("/admin/accounting/syncrecord/", {"action": "retry_now", "_selected_action": [record.pk]})
    record.refresh_from_db()
    assert (record.status, record.attempts, record.reason) == (SyncRecord.Status.PENDING, 0, "")
    connection_page = support_client.get(f"/admin/accounting/xeroconnection/{whitelabel.xero_connection.pk}/change/")
    assert connection_page.status_code == 200
    assert "secret-access" not in connection_page.content.decode()
    assert "secret-refresh" not in connection_page.content.decode()
