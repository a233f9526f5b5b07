"""Customers are made and changed through payments.services (create_customer, update_customer), checked
as billing is (tests/payments/test_bad_input.py tries their bad input; tests/accounting/test_outbox.py and
test_sync_contacts.py what a change sends to Xero)."""

import pytest

from accounting.models import SyncRecord
from payments.models import Customer
from payments.services import BillingError, create_customer, update_customer
from tests.factories import WhitelabelFactory

pytestmark = pytest.mark.django_db
Kind, Status = SyncRecord.Kind, SyncRecord.Status


@pytest.fixture
def acme():
    return WhitelabelFactory(slug="acme", name="Acme")


def test_a_customer_is_created_with_its_details_tidied(acme):
    customer = create_customer(
        whitelabel=acme,
        account_number=" C-1001 ",
        name="  Jane Citizen ",
        email="jane@example.com",
        phone="+61 400 000 001",
        address="1 George St\r\n  Sydney NSW 2000 ",
    )
    customer.refresh_from_db()
    assert (customer.account_number, customer.name, customer.address) == (
        "C-1001",
        "Jane Citizen",
        "1 George St\nSydney NSW 2000",
    )
    record = SyncRecord.objects.get(kind=Kind.CONTACT, object_id=customer.pk)
    assert record.status == Status.SKIPPED, "not connected: its contact goes when the whitelabel connects"


def test_an_account_number_is_used_once_per_whitelabel(acme):
    create_customer(whitelabel=acme, account_number="C-1001", name="Jane Citizen")
    with pytest.raises(BillingError, match="C-1001 is already used by Jane Citizen in Acme"):
        create_customer(whitelabel=acme, account_number="C-1001", name="John Smith")
    create_customer(whitelabel=WhitelabelFactory(), account_number="C-1001", name="John Smith")
    assert Customer.objects.count() == 2


def test_updating_changes_only_what_is_given(acme):
    customer = create_customer(whitelabel=acme, account_number="C-1001", name="Jane", email="jane@example.com")
    update_customer(customer=customer, phone="02 9000 0000", address="5 Circular Quay\nSydney")
    customer.refresh_from_db()
    assert (customer.name, customer.email, customer.phone, customer.address) == (
        "Jane",
        "jane@example.com",
        "02 9000 0000",
        "5 Circular Quay\nSydney",
    )
    update_customer(customer=customer, email="")
    customer.refresh_from_db()
    assert customer.email == "", "an email address can be taken away"
