"""Support staff find the records a person changed in Xero in the admin, and resolve them there."""

from decimal import Decimal

import pytest
from django.utils import timezone

from accounting.models import SyncRecord
from accounting.sync import outbox
from payments.services import LineInput, issue_invoice
from tests.factories import AccountingSettingsFactory, CustomerFactory, UserFactory
from tests.second_factor import log_in_verified

pytestmark = pytest.mark.django_db
LIST = "/admin/accounting/syncrecord/"


def test_changed_in_xero_filter_column_and_resolve_action(client, whitelabel):
    log_in_verified(client, UserFactory(username="support", is_staff=True, is_superuser=True))
    AccountingSettingsFactory(whitelabel=whitelabel)
    customer = CustomerFactory(whitelabel=whitelabel)
    for amount in ("10.00", "20.00"):
        issue_invoice(customer, [LineInput("Plan", Decimal("1"), Decimal(amount))])
    voided, untouched = SyncRecord.objects.filter(kind=SyncRecord.Kind.INVOICE).order_by("id")
    SyncRecord.objects.filter(pk=voided.pk).update(status=SyncRecord.Status.SENT, sent_at=timezone.now())
    assert outbox.records_mark_changed_in_xero({voided.pk: ["Voided in Xero after Arena sent it."]}) == 1
    assert outbox.records_mark_changed_in_xero({voided.pk: ["Voided in Xero after Arena sent it."]}) == 0

    changed = client.get(LIST + "?changed_in_xero=yes").content.decode()
    assert "Changed in Xero" in changed and voided.label in changed and untouched.label not in changed
    assert untouched.label in client.get(LIST + "?changed_in_xero=no").content.decode()

    client.post(LIST, {"action": "resolve_changes_in_xero", "_selected_action": [voided.pk, untouched.pk]})
    voided.refresh_from_db()
    assert (voided.changed_in_xero_at, voided.xero_change, voided.status) == (None, "", SyncRecord.Status.SENT)
    assert voided.label not in client.get(LIST + "?changed_in_xero=yes").content.decode()
