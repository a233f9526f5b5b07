"""The sync engine run in-process against the sandbox, for races a worker can't be timed into."""

import pytest

from accounting.models import SyncRecord
from accounting.sync import engine, outbox
from tests.factories import CustomerFactory
from tests.xero import book, connect

pytestmark = pytest.mark.django_db


@pytest.fixture
def connected(admin_client, whitelabel, xero):
    connect(admin_client, whitelabel, xero, **{"accounting-bank_account_code": "090"})
    return whitelabel


def test_customer_changed_while_its_contact_was_in_flight_is_sent_again(connected, xero):
    customer = CustomerFactory(whitelabel=connected, email="old@example.com")
    (claimed,) = outbox.records_claim(whitelabel_id=connected.pk, limit=10)
    customer.email = "new@example.com"
    customer.save()  # arrives while the worker is sending the old version
    run = engine.Run(connected.xero_connection, connected.accounting_settings)
    engine.sync_contacts(run, [claimed])
    record = SyncRecord.objects.get(pk=claimed.pk)
    assert record.status == SyncRecord.Status.PENDING and record.xero_id, "the old version doesn't count as sent"
    engine.sync_whitelabel(connected.pk)
    record.refresh_from_db()
    assert record.status == SyncRecord.Status.SENT
    (contact,) = book(xero, connected).contacts(contact_number=customer.account_number)
    assert contact["EmailAddress"] == "new@example.com" and contact["ContactID"] == record.xero_id


def test_contact_claimed_by_another_worker_is_waited_for_not_sent_twice(connected, xero):
    from decimal import Decimal

    from payments.services import LineInput, issue_invoice

    customer = CustomerFactory(whitelabel=connected)
    outbox.records_claim(whitelabel_id=connected.pk, limit=10)  # "another worker" holds the contact
    invoice = issue_invoice(customer, [LineInput("Plan", Decimal("1"), Decimal("10.00"))])
    engine.sync_whitelabel(connected.pk)
    record = SyncRecord.objects.get(kind=SyncRecord.Kind.INVOICE, object_id=invoice.pk)
    assert record.status == SyncRecord.Status.PENDING and "Waiting for contact" in record.reason
    assert not book(xero, connected).contacts(), "nothing sent behind the other worker's back"


def test_records_due_after_the_admin_turns_accounting_off_are_skipped_not_left_waiting(connected, xero):
    from accounting.models import AccountingSettings

    customer = CustomerFactory(whitelabel=connected)
    AccountingSettings.objects.filter(whitelabel=connected).update(accounting_system=AccountingSettings.System.NONE)
    engine.sync_whitelabel(connected.pk)
    record = SyncRecord.objects.get(kind=SyncRecord.Kind.CONTACT, object_id=customer.pk)
    assert record.status == SyncRecord.Status.SKIPPED and "No accounting system" in record.reason
    assert not engine.whitelabels_due()
    assert not book(xero, connected).contacts()
