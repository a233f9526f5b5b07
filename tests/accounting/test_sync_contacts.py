"""A customer changed in Arena (update_customer) reaches its Xero contact: one update, batched with the other
contacts, never a second contact. A contact a person merged in Xero is followed to the contact it was merged
into; one archived there is updated where it is; both are noted on the customer's sync record. The engine
runs in this process against the sandbox (see test_exactly_once.py)."""

from decimal import Decimal

import pytest

from accounting import services
from accounting.models import SyncRecord, XeroConnection
from accounting.sync import engine
from accounting.xero import client
from payments.services import LineInput, issue_invoice, update_customer
from tests.books import compare_books, xero_calls
from tests.factories import CustomerFactory
from tests.xero import book, connect, save_settings

pytestmark = pytest.mark.django_db
Kind, Status = SyncRecord.Kind, SyncRecord.Status
PLAN = LineInput("Plan", Decimal("1"), Decimal("10.00"), Decimal("0"))


@pytest.fixture
def connected(admin_client, whitelabel, xero):
    connect(admin_client, whitelabel, xero)
    assert save_settings(admin_client, whitelabel, **{"accounting-bank_account_code": "090"}).status_code == 302
    return whitelabel


def drain(whitelabel):
    engine.run_organisation(whitelabel.pk, hold_partial=False)
    stuck = SyncRecord.objects.filter(whitelabel=whitelabel).exclude(status__in=[Status.SENT, Status.SKIPPED])
    assert not stuck.exists(), [(r.kind, r.label, r.status, r.reason) for r in stuck]


def contact_record(customer) -> SyncRecord:
    return SyncRecord.objects.get(kind=Kind.CONTACT, object_id=customer.pk)


def contact_writes(xero) -> list[dict]:
    return xero_calls(xero, method="POST", path_end="/Contacts") + xero_calls(xero, method="PUT", path_end="/Contacts")


def a_person_adds_a_contact(whitelabel, name: str) -> str:
    """A contact entered in Xero by hand (not by Arena); returns its ContactID."""
    connection = XeroConnection.objects.get(whitelabel=whitelabel)
    (element,) = services.xero_call(
        connection,
        lambda creds: client.contacts_upsert(creds, [{"Name": name}], idempotency_key=f"by-hand-{name}"),
        tenant_id=connection.tenant_id,
    )
    return element.data["ContactID"]


def test_a_customer_changed_in_arena_is_changed_in_xero_once(connected, xero):
    customer = CustomerFactory(whitelabel=connected, name="Jane Citizen", email="jane@example.com")
    issue_invoice(customer, [PLAN])
    drain(connected)
    writes_before = len(contact_writes(xero))

    update_customer(
        customer=customer,
        name="Jane Smith",
        email="jane.smith@example.com",
        phone="+61 400 000 001",
        address="1 George St\nSydney NSW 2000",
    )
    drain(connected)

    (write,) = contact_writes(xero)[writes_before:]
    (sent,) = write["body"]["Contacts"]
    assert sent["ContactID"] == contact_record(customer).xero_id, "the same contact, by its id"
    (contact,) = book(xero, connected).contacts()
    assert (contact["Name"], contact["EmailAddress"], contact["ContactNumber"]) == (
        "Jane Smith",
        "jane.smith@example.com",
        customer.account_number,
    )
    assert contact["Phones"][0]["PhoneNumber"] == "+61 400 000 001"
    assert [contact["Addresses"][0].get(f"AddressLine{n}") for n in (1, 2)] == ["1 George St", "Sydney NSW 2000"]
    drain(connected)
    assert len(contact_writes(xero)) == writes_before + 1, "sent once"
    compare_books(xero, connected).assert_same()


def test_changes_to_several_customers_go_in_one_call(connected, xero):
    customers = [CustomerFactory(whitelabel=connected) for _ in range(3)]
    drain(connected)
    writes_before = len(contact_writes(xero))
    for n, customer in enumerate(customers):
        update_customer(customer=customer, email=f"new-{n}@example.com")
    drain(connected)
    (write,) = contact_writes(xero)[writes_before:]
    assert len(write["body"]["Contacts"]) == 3
    assert {c["EmailAddress"] for c in book(xero, connected).contacts()} == {f"new-{n}@example.com" for n in range(3)}


def test_a_contact_merged_in_xero_is_followed_to_the_contact_it_was_merged_into(connected, xero):
    customer = CustomerFactory(whitelabel=connected, name="Jane Citizen")
    issue_invoice(customer, [PLAN])
    drain(connected)
    merged_id = contact_record(customer).xero_id
    kept_id = a_person_adds_a_contact(connected, "J. Citizen (Xero)")
    xero.merge_contacts(merged_id, into=kept_id)

    update_customer(customer=customer, email="jane@example.org")
    drain(connected)

    record = contact_record(customer)
    assert record.xero_id == kept_id, "Arena now knows the customer by the contact it was merged into"
    assert record.changed_in_xero_at is not None and "Merged in Xero into contact 'J. Citizen (Xero)'" in (
        record.xero_change
    )
    contacts = {c["ContactID"]: c for c in book(xero, connected).contacts()}
    assert len(contacts) == 2, "no third contact"
    assert (contacts[kept_id]["Name"], contacts[kept_id]["EmailAddress"]) == ("Jane Citizen", "jane@example.org")
    assert contacts[merged_id]["ContactStatus"] == "ARCHIVED"

    later = issue_invoice(customer, [PLAN])
    drain(connected)
    (xero_invoice,) = [i for i in book(xero, connected).invoices() if i["InvoiceNumber"] == later.number]
    assert xero_invoice["Contact"]["ContactID"] == kept_id, "a new invoice goes to the contact that is left"


def test_a_contact_archived_in_xero_is_updated_where_it_is_and_not_duplicated(connected, xero):
    customer = CustomerFactory(whitelabel=connected, name="Jane Citizen")
    drain(connected)
    contact_id = contact_record(customer).xero_id
    xero.archive_contact(contact_id)

    update_customer(customer=customer, name="Jane Smith")
    drain(connected)

    (contact,) = book(xero, connected).contacts()
    assert (contact["ContactID"], contact["Name"], contact["ContactStatus"]) == (contact_id, "Jane Smith", "ARCHIVED")
    record = contact_record(customer)
    assert record.status == Status.SENT and "Archived in Xero" in record.xero_change
