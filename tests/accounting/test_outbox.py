"""The outbox rows that billing changes write, in the same transaction."""

from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from accounting.models import AccountingSettings, SyncRecord, XeroConnection
from accounting.sync import outbox
from payments.models import Customer
from payments.services import LineInput, add_credit, issue_invoice, record_payment, update_customer, void_invoice
from tests.factories import AccountingSettingsFactory, CustomerFactory

pytestmark = pytest.mark.django_db
Kind, Status = SyncRecord.Kind, SyncRecord.Status
PLAN = LineInput("Plan", Decimal("1"), Decimal("100.00"), Decimal("10"))


def connect_row(whitelabel, status=XeroConnection.Status.ACTIVE):
    return XeroConnection.objects.create(
        whitelabel=whitelabel,
        tenant_id=f"tenant-{whitelabel.pk}",
        tenant_name="Org",
        connection_id="c",
        status=status,
        connected_at=timezone.now(),
    )


def kinds(whitelabel, status=None):
    records = SyncRecord.objects.filter(whitelabel=whitelabel)
    if status:
        records = records.filter(status=status)
    return sorted(records.values_list("kind", flat=True))


def test_no_accounting_system_records_are_skipped_with_reason(whitelabel):
    customer = CustomerFactory(whitelabel=whitelabel)
    issue_invoice(customer, [PLAN])
    assert kinds(whitelabel, Status.SKIPPED) == [Kind.CONTACT, Kind.INVOICE]
    assert SyncRecord.objects.filter(reason__icontains="No accounting system").count() == 2


def test_xero_chosen_but_not_connected_is_skipped(whitelabel):
    AccountingSettingsFactory(whitelabel=whitelabel)
    issue_invoice(CustomerFactory(whitelabel=whitelabel), [PLAN])
    assert set(SyncRecord.objects.values_list("status", flat=True)) == {Status.SKIPPED}
    assert "not connected to Xero" in SyncRecord.objects.first().reason


def test_postpaid_connected_writes_pending_invoice_payment_overpayment_and_credit(whitelabel):
    AccountingSettingsFactory(whitelabel=whitelabel, payment_type="postpaid")
    connect_row(whitelabel)
    customer = CustomerFactory(whitelabel=whitelabel)
    invoice = issue_invoice(customer, [PLAN])
    record_payment(customer, "150.00", invoice=invoice)
    issue_invoice(customer, [LineInput("Extra", Decimal("1"), Decimal("20.00"))])
    void_invoice(issue_invoice(customer, [LineInput("Oops", Decimal("1"), Decimal("500.00"))], apply_credit=False))
    assert kinds(whitelabel, Status.PENDING) == sorted(
        [
            Kind.CONTACT,
            Kind.INVOICE,
            Kind.INVOICE,
            Kind.INVOICE,
            Kind.PAYMENT,
            Kind.OVERPAYMENT,
            Kind.CREDIT_ALLOCATION,
            Kind.INVOICE_VOID,
        ]
    )
    assert not SyncRecord.objects.filter(kind=Kind.RECEIPT).exists(), "post-paid sends no receipts"


def test_exact_payment_writes_no_overpayment(whitelabel):
    AccountingSettingsFactory(whitelabel=whitelabel)
    connect_row(whitelabel)
    customer = CustomerFactory(whitelabel=whitelabel)
    record_payment(customer, "110.00", invoice=issue_invoice(customer, [PLAN]))
    assert not SyncRecord.objects.filter(kind=Kind.OVERPAYMENT).exists()


def test_prepaid_writes_a_receipt_per_payment_and_top_up_and_no_invoices(whitelabel):
    AccountingSettingsFactory(whitelabel=whitelabel, payment_type=AccountingSettings.PaymentType.PREPAID)
    connect_row(whitelabel)
    customer = CustomerFactory(whitelabel=whitelabel)
    add_credit(customer, "50")
    issue_invoice(customer, [PLAN])
    add_credit(customer, "5")
    assert kinds(whitelabel) == [Kind.CONTACT, Kind.RECEIPT, Kind.RECEIPT]


def test_needs_reconnect_keeps_records_pending(whitelabel):
    AccountingSettingsFactory(whitelabel=whitelabel)
    connect_row(whitelabel, XeroConnection.Status.NEEDS_RECONNECT)
    issue_invoice(CustomerFactory(whitelabel=whitelabel), [PLAN])
    assert kinds(whitelabel, Status.PENDING) == [Kind.CONTACT, Kind.INVOICE]


def test_rolled_back_billing_change_leaves_no_outbox_row(whitelabel):
    AccountingSettingsFactory(whitelabel=whitelabel)
    connect_row(whitelabel)
    customer = CustomerFactory(whitelabel=whitelabel)
    with pytest.raises(RuntimeError), transaction.atomic():
        issue_invoice(customer, [PLAN])
        raise RuntimeError("the billing transaction failed")
    assert not SyncRecord.objects.filter(kind=Kind.INVOICE).exists()


def test_customer_change_sends_the_contact_again(whitelabel):
    AccountingSettingsFactory(whitelabel=whitelabel)
    connect_row(whitelabel)
    customer = CustomerFactory(whitelabel=whitelabel)
    SyncRecord.objects.filter(kind=Kind.CONTACT).update(status=Status.SENT, xero_id="contact-1", next_attempt_at=None)
    update_customer(customer=customer, email="new@example.com")
    record = SyncRecord.objects.get(kind=Kind.CONTACT)
    assert record.status == Status.PENDING and record.xero_id == "contact-1"


def test_a_customer_change_re_arms_its_sent_contact_once_and_no_change_sends_nothing(whitelabel):
    AccountingSettingsFactory(whitelabel=whitelabel)
    connect_row(whitelabel)
    customer = CustomerFactory(whitelabel=whitelabel, name="Jane", email="")
    SyncRecord.objects.filter(kind=Kind.CONTACT).update(status=Status.SENT, xero_id="contact-1", next_attempt_at=None)
    before = Customer.objects.get(pk=customer.pk).updated_at

    update_customer(customer=customer, name=" Jane ", email=None)  # what it already is
    record = SyncRecord.objects.get(kind=Kind.CONTACT)
    assert (record.status, record.version) == (Status.SENT, 0), "nothing changed: nothing to send"
    assert Customer.objects.get(pk=customer.pk).updated_at == before, "and nothing saved"

    update_customer(customer=customer, name="Jane Citizen", email="jane@example.com")
    record.refresh_from_db()
    assert (record.status, record.version, record.xero_id) == (Status.PENDING, 1, "contact-1")
    assert SyncRecord.objects.filter(kind=Kind.CONTACT).count() == 1, "the same contact, a new version"


def test_a_save_that_changes_no_contact_field_sends_nothing(whitelabel):
    AccountingSettingsFactory(whitelabel=whitelabel)
    connect_row(whitelabel)
    customer = CustomerFactory(whitelabel=whitelabel)
    SyncRecord.objects.filter(kind=Kind.CONTACT).update(status=Status.SENT, xero_id="contact-1", next_attempt_at=None)
    customer.save(update_fields=["updated_at"])
    assert SyncRecord.objects.get(kind=Kind.CONTACT).status == Status.SENT


def test_support_skips_with_a_reason_never_a_sent_record_or_one_being_sent(whitelabel):
    AccountingSettingsFactory(whitelabel=whitelabel)
    connect_row(whitelabel)
    customer = CustomerFactory(whitelabel=whitelabel)
    first, second = issue_invoice(customer, [PLAN]), issue_invoice(customer, [PLAN])
    contact = SyncRecord.objects.get(kind=Kind.CONTACT)
    SyncRecord.objects.filter(pk=contact.pk).update(status=Status.SENT)
    sending = SyncRecord.objects.get(kind=Kind.INVOICE, object_id=second.pk)
    SyncRecord.objects.filter(pk=sending.pk).update(claimed_until=timezone.now() + timezone.timedelta(minutes=1))
    with pytest.raises(ValueError, match="Say why"):
        outbox.records_skip(ids=[contact.pk], reason="  ")
    ids = SyncRecord.objects.values_list("id", flat=True)
    assert outbox.records_skip(ids=ids, reason="Entered in Xero by hand.", by="jo") == 1
    record = SyncRecord.objects.get(kind=Kind.INVOICE, object_id=first.pk)
    assert (record.status, record.reason) == (Status.SKIPPED, "Skipped by jo: Entered in Xero by hand.")
    assert SyncRecord.objects.get(pk=contact.pk).status == Status.SENT
    assert SyncRecord.objects.get(pk=sending.pk).status == Status.PENDING


def test_a_recheck_makes_sent_records_unclear_new_versions_but_not_void_invoices_or_records_being_sent(whitelabel):
    AccountingSettingsFactory(whitelabel=whitelabel)
    customer = CustomerFactory(whitelabel=whitelabel)
    kept, voided, sending = (issue_invoice(customer, [PLAN]) for _ in range(3))
    void_invoice(voided)
    SyncRecord.objects.update(status=Status.SENT, xero_id="x", next_attempt_at=None)
    SyncRecord.objects.filter(kind=Kind.INVOICE, object_id=sending.pk).update(
        claimed_until=timezone.now() + timezone.timedelta(minutes=1)
    )
    ids = SyncRecord.objects.values_list("id", flat=True)
    assert outbox.records_recheck(whitelabel_id=whitelabel.pk, ids=ids) == 0, "not connected: nothing to check with"
    connect_row(whitelabel)
    assert outbox.records_recheck(whitelabel_id=whitelabel.pk, ids=ids) == 3  # the contact, one invoice, the void
    record = SyncRecord.objects.get(kind=Kind.INVOICE, object_id=kept.pk)
    assert (record.status, record.outcome_unknown, record.version, record.xero_id) == (Status.PENDING, True, 1, "x")
    assert SyncRecord.objects.get(kind=Kind.INVOICE, object_id=voided.pk).status == Status.SENT
    assert SyncRecord.objects.get(kind=Kind.INVOICE_VOID, object_id=voided.pk).status == Status.PENDING
    assert SyncRecord.objects.get(kind=Kind.INVOICE, object_id=sending.pk).status == Status.SENT
