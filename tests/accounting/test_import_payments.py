"""Payments a person enters in Xero against invoices Arena sent become Arena payments, once, and are never
sent back; deleted in Xero, they are reversed in Arena. The engine and the import run in this process against
the sandbox; tests/accounting/test_import_payments_worker.py repeats the main cases with a real worker."""

import datetime
import re
from decimal import Decimal

import pytest

from accounting import imports
from accounting.mapping_services import mapping_set_method
from accounting.models import SyncRecord, XeroImportCursor
from accounting.sync import outbox
from payments.models import CreditNote, Invoice, Payment
from payments.selectors import customer_credit
from payments.services import AlreadyRecorded, BillingError, LineInput, issue_invoice, record_payment
from tests.books import compare_books, xero_calls
from tests.factories import CustomerFactory
from tests.xero import book

from .test_sync_money_back import connected_with, drain, same_books

pytestmark = pytest.mark.django_db
Kind, Status, Origin = SyncRecord.Kind, SyncRecord.Status, SyncRecord.Origin
PLAN = LineInput("Mobile plan", Decimal("1"), Decimal("100.00"), Decimal("10"))  # 110.00


@pytest.fixture
def postpaid(admin_client, whitelabel, xero):
    return connected_with(admin_client, whitelabel, xero)


def sent_invoice(xero, whitelabel):
    customer = CustomerFactory(whitelabel=whitelabel)
    invoice = issue_invoice(customer, [PLAN])
    same_books(xero, whitelabel)
    xero_id = SyncRecord.objects.get(kind=Kind.INVOICE, object_id=invoice.pk).xero_id
    return invoice, xero_id


def read(whitelabel):
    return imports.payments_import(whitelabel=whitelabel)


def test_a_payment_entered_in_xero_pays_the_arena_invoice_once_and_is_not_sent_back(postpaid, xero):
    invoice, xero_invoice_id = sent_invoice(xero, postpaid)
    entered = xero.apply_payment(xero_invoice_id, "110.00", date="2026-03-02", reference="BPAY 5512")
    xero.clear_requests_log()

    first = read(postpaid)
    again = read(postpaid)
    drain(postpaid)

    invoice.refresh_from_db()
    (payment,) = Payment.objects.filter(whitelabel=postpaid)
    assert (invoice.status, invoice.amount_due) == (Invoice.Status.PAID, Decimal("0.00"))
    assert (payment.source, payment.source_id, payment.amount, payment.method) == (
        Payment.Source.XERO,
        entered["PaymentID"],
        Decimal("110.00"),
        Payment.Method.BANK_TRANSFER,
    )
    assert payment.gateway_reference == "Xero payment BPAY 5512"
    assert payment.received_at.astimezone(imports.zone_of(postpaid)).date() == datetime.date(2026, 3, 2)
    (record,) = SyncRecord.objects.filter(kind=Kind.PAYMENT)
    assert (record.status, record.origin, record.xero_id, record.attempts) == (
        Status.SENT,
        Origin.XERO,
        entered["PaymentID"],
        0,
    )
    assert (first.imported, first.payment_calls, again.imported, again.payment_calls) == (1, 1, 0, 1)
    assert {r["method"] for r in xero_calls(xero)} == {"GET"}, "nothing written"
    assert len(xero_calls(xero, path_end="/Payments")) == 2
    assert len(xero_calls(xero)) == 8, "and 2 each of overpayments, prepayments and credit notes"
    assert len(book(xero, postpaid).payments()) == 1
    compare_books(xero, postpaid).assert_same()


def test_the_cursor_asks_xero_only_for_what_changed_since_the_last_read(postpaid, xero):
    invoice, xero_invoice_id = sent_invoice(xero, postpaid)
    xero.apply_payment(xero_invoice_id, "10.00")
    read(postpaid)
    cursor = XeroImportCursor.objects.get(whitelabel=postpaid)
    xero.clear_requests_log()

    read(postpaid)

    (call,) = xero_calls(xero, path_end="/Payments")
    for credits in ("/Overpayments", "/Prepayments", "/CreditNotes"):
        assert len(xero_calls(xero, path_end=credits)) == 1
    assert call["headers"]["If-Modified-Since"].startswith(cursor.payments_since.strftime("%Y-%m-%dT%H:%M:%S"))
    assert cursor.imported == 1 and cursor.tenant_id == xero.tenant_ids["Organisation 1"]


def test_a_payment_deleted_in_xero_is_reversed_in_arena_and_nothing_is_sent(postpaid, xero):
    invoice, xero_invoice_id = sent_invoice(xero, postpaid)
    entered = xero.apply_payment(xero_invoice_id, "110.00")
    read(postpaid)
    xero.advance_clock(5)
    xero.delete_payment(entered["PaymentID"])
    xero.clear_requests_log()

    result = read(postpaid)
    read(postpaid)
    drain(postpaid)

    invoice.refresh_from_db()
    payment = Payment.objects.get(source_id=entered["PaymentID"])
    assert result.reversed == 1
    assert (payment.reversal_reason, invoice.status, invoice.amount_due) == (
        "deleted in Xero",
        Invoice.Status.ISSUED,
        Decimal("110.00"),
    )
    (reversal,) = SyncRecord.objects.filter(kind=Kind.PAYMENT_REVERSAL)
    assert (reversal.status, reversal.origin) == (Status.SENT, Origin.XERO)
    assert {r["method"] for r in xero_calls(xero)} == {"GET"}, "nothing deleted again in Xero"
    compare_books(xero, postpaid).assert_same()


def test_arenas_own_payments_are_not_recorded_again(postpaid, xero):
    invoice, _ = sent_invoice(xero, postpaid)
    record_payment(invoice.customer, "110.00", invoice=invoice)
    same_books(xero, postpaid)

    result = read(postpaid)

    assert result.imported == 0
    assert Payment.objects.filter(whitelabel=postpaid).count() == 1


def test_arenas_payment_whose_answer_was_lost_is_recognised_by_its_reference(postpaid, xero):
    invoice, _ = sent_invoice(xero, postpaid)
    record_payment(invoice.customer, "110.00", invoice=invoice)
    xero.add_fault(method="PUT", path="/api.xro/2.0/Payments", mode="drop_response")
    drain(postpaid)  # Xero saved it; Arena never heard
    record = SyncRecord.objects.get(kind=Kind.PAYMENT)
    assert (record.xero_id, record.outcome_unknown) == ("", True)

    result = read(postpaid)
    outbox.records_retry(ids=[record.pk])
    drain(postpaid)

    assert (result.read, result.imported) == (1, 0)
    assert Payment.objects.filter(whitelabel=postpaid).count() == 1
    assert len(book(xero, postpaid).payments()) == 1
    record.refresh_from_db()
    assert (record.status, record.origin) == (Status.SENT, Origin.ARENA)


def test_with_the_setting_off_arena_only_sends(admin_client, whitelabel, xero):
    connected_with(admin_client, whitelabel, xero)
    invoice, xero_invoice_id = sent_invoice(xero, whitelabel)
    xero.apply_payment(xero_invoice_id, "110.00")
    whitelabel.accounting_settings.record_xero_payments = False
    whitelabel.accounting_settings.save()

    result = read(whitelabel)

    assert (result.calls, Payment.objects.count()) == (0, 0)


def test_the_poll_waits_while_records_are_still_on_their_way_to_xero(postpaid, xero):
    """Bill-run day: the poll (the backstop for missed webhooks) would page through Arena's own payments while
    they are sent, taking calls from the organisation's share of the app's minute; it waits for the next poll."""
    sent_invoice(xero, postpaid)
    assert imports.whitelabels_to_import() == [postpaid.pk]
    issue_invoice(CustomerFactory(whitelabel=postpaid), [PLAN])  # pending until the engine sends it
    assert SyncRecord.objects.filter(whitelabel=postpaid, status=Status.PENDING).exists()
    assert imports.whitelabels_to_import() == []
    same_books(xero, postpaid)  # sent
    assert imports.whitelabels_to_import() == [postpaid.pk]


def test_money_entered_elsewhere_is_recorded_once_and_becomes_credit_on_a_paid_invoice(postpaid, xero):
    invoice, _ = sent_invoice(xero, postpaid)
    customer = invoice.customer
    record_payment(customer, "110.00", invoice=invoice)

    late = record_payment(customer, "110.00", invoice=invoice, method="bank_transfer", source="xero", source_id="abc")

    assert late.allocations.count() == 0 and customer_credit(customer) == Decimal("110.00")
    with pytest.raises(AlreadyRecorded):
        record_payment(customer, "5.00", invoice=invoice, source="xero", source_id="abc")
    with pytest.raises(BillingError, match="needs its id there"):
        record_payment(customer, "5.00", source="xero")
    with pytest.raises(BillingError, match="source must be one of"):
        record_payment(customer, "5.00", source="bank", source_id="x")
    assert Payment.objects.filter(customer=customer).count() == 2


@pytest.mark.parametrize("arena_sends_first", [False, True])
def test_arena_and_a_person_pay_the_same_invoice_both_books_keep_both_and_the_excess_is_credit(
    postpaid, xero, arena_sends_first
):
    invoice, xero_invoice_id = sent_invoice(xero, postpaid)
    customer = invoice.customer
    ours = record_payment(customer, "110.00", invoice=invoice)  # not in Xero yet
    theirs = xero.apply_payment(xero_invoice_id, "110.00")  # a person, meanwhile
    if arena_sends_first:
        drain(postpaid)  # Xero refuses Arena's: the invoice is paid there
        assert SyncRecord.objects.get(kind=Kind.PAYMENT, object_id=ours.allocations.get().pk).status == Status.FAILED
    xero.clear_requests_log()

    read(postpaid)
    drain(postpaid)

    assert Payment.objects.filter(customer=customer).count() == 2
    assert customer_credit(customer) == Decimal("110.00")
    skipped = SyncRecord.objects.get(kind=Kind.PAYMENT, object_id=ours.allocations.get().pk)
    assert skipped.status == Status.SKIPPED and "a person paid invoice" in skipped.reason
    assert xero_calls(xero, method="PUT", path_end="/Payments") == [], "Arena's payment is not sent (again)"
    assert len(xero_calls(xero, method="PUT", path_end="/BankTransactions")) == 1, "the excess, once"
    org = book(xero, postpaid)
    assert [p["PaymentID"] for p in org.payments()] == [theirs["PaymentID"]]
    assert [o["RemainingCredit"] for o in org.overpayments()] == [110.0]
    comparison = compare_books(xero, postpaid)
    assert comparison.wrong == [] and comparison.duplicates == []
    assert comparison.lost == [f"payment {ours.receipt.number} {invoice.number}"], "held by Xero as credit instead"


def test_the_setting_is_on_the_settings_page_on_by_default_and_saved(postpaid, xero, admin_client):
    from django.urls import reverse

    from tests.xero import save_settings, settings_url

    page = admin_client.get(settings_url(postpaid)).content.decode()
    assert 'name="accounting-record_xero_payments"' in page and "Record payments entered in Xero" in page
    assert 'id="id_accounting-record_xero_payments" checked' in page

    saved = save_settings(
        admin_client, postpaid, **{"accounting-record_xero_payments": None, "accounting-bank_account_code": "090"}
    )

    assert saved.status_code == 302
    postpaid.accounting_settings.refresh_from_db()
    assert postpaid.accounting_settings.record_xero_payments is False
    card = admin_client.get(reverse("accounting:xero_sync", kwargs={"whitelabel": postpaid.slug})).content.decode()
    assert "Payments entered in Xero are not recorded in Arena" in card


def test_the_sync_card_counts_what_came_in_from_xero(postpaid, xero, admin_client):
    from django.urls import reverse

    invoice, xero_invoice_id = sent_invoice(xero, postpaid)
    entered = xero.apply_payment(xero_invoice_id, "10.00")
    xero.apply_payment(xero_invoice_id, "20.00")
    read(postpaid)
    xero.advance_clock(2)
    xero.delete_payment(entered["PaymentID"])
    read(postpaid)

    card = admin_client.get(reverse("accounting:xero_sync", kwargs={"whitelabel": postpaid.slug})).content.decode()

    assert "From Xero: <strong>2</strong> payments entered in Xero recorded in Arena (1 since deleted" in card
    sent = re.search(r'<li class="sync-sent">[^<]*<strong>(\d+)</strong>', card)
    assert sent and sent.group(1) == "2", "Arena sent the contact and the invoice; what came from Xero is not counted"


def test_the_support_console_lists_payments_entered_in_xero_with_their_xero_link(postpaid, xero):
    from django.test import Client

    from tests.accounting.test_admin import support_user
    from tests.second_factor import log_in_verified

    invoice, xero_invoice_id = sent_invoice(xero, postpaid)
    entered = xero.apply_payment(xero_invoice_id, "10.00")
    read(postpaid)
    support = Client()
    log_in_verified(support, support_user())

    records = support.get("/admin/accounting/syncrecord/?origin=xero").content.decode()
    payments = support.get("/admin/payments/payment/?source=xero").content.decode()

    assert entered["PaymentID"][:8] in records and "Payment on an invoice" in records
    assert re.search(rf'href="[^"]*{entered["PaymentID"]}[^"]*"', records), "opens the payment in Xero"
    assert "Xero" in payments and Payment.objects.get().receipt.number in payments


def test_resync_xero_import_since_reads_again_and_records_only_what_arena_lacks(postpaid, xero):
    from io import StringIO

    from django.core.management import CommandError, call_command
    from django.utils import timezone

    invoice, xero_invoice_id = sent_invoice(xero, postpaid)
    first = xero.apply_payment(xero_invoice_id, "10.00")
    read(postpaid)
    missed = xero.apply_payment(xero_invoice_id, "20.00")
    # As if a read had gone past it without recording it (the setting was off then, say).
    XeroImportCursor.objects.filter(whitelabel=postpaid).update(
        payments_since=timezone.now() + datetime.timedelta(hours=2)
    )
    assert read(postpaid).imported == 0
    today = timezone.localdate(timezone=imports.zone_of(postpaid)).isoformat()

    out = StringIO()
    call_command("resync_xero", "--whitelabel", postpaid.slug, "--import-since", today, stdout=out)
    again = StringIO()
    call_command("resync_xero", "--whitelabel", postpaid.slug, "--import-since", today, stdout=again)

    assert "recorded 1, reversed 0" in out.getvalue() and "recorded 0, reversed 0" in again.getvalue()
    assert sorted(Payment.objects.values_list("source_id", flat=True)) == sorted(
        [first["PaymentID"], missed["PaymentID"]]
    )
    with pytest.raises(CommandError, match="is not a date"):
        call_command("resync_xero", "--whitelabel", postpaid.slug, "--import-since", "yesterday")


def test_the_reconcile_knows_recorded_payments_and_fix_records_one_not_yet_recorded(postpaid, xero):
    from accounting import reconcile
    from accounting.reconcile.books import DriftKind

    invoice, xero_invoice_id = sent_invoice(xero, postpaid)
    xero.apply_payment(xero_invoice_id, "10.00")
    read(postpaid)
    assert reconcile.whitelabel_reconcile(whitelabel=postpaid).differences == [], "recorded: not extra in Xero"
    later = xero.apply_payment(xero_invoice_id, "20.00")

    found = reconcile.whitelabel_reconcile(whitelabel=postpaid)
    fixed = reconcile.whitelabel_reconcile(whitelabel=postpaid, fix=True)
    after = reconcile.whitelabel_reconcile(whitelabel=postpaid)

    assert (DriftKind.EXTRA_IN_XERO, later["PaymentID"]) in [(d.kind, d.xero_id) for d in found.differences]
    assert [d.xero_id for d in fixed.fixed] == [later["PaymentID"]]
    assert after.differences == []
    assert Payment.objects.filter(source_id=later["PaymentID"]).count() == 1
    invoice.refresh_from_db()
    assert invoice.amount_due == Decimal("80.00")
    drain(postpaid)
    compare_books(xero, postpaid).assert_same()


def test_reading_n_payments_costs_ceil_n_over_100_calls(postpaid, xero):
    invoice, xero_invoice_id = sent_invoice(xero, postpaid)
    for _ in range(101):
        xero.apply_payment(xero_invoice_id, "1.00")
    xero.clear_requests_log()

    result = read(postpaid)

    assert (result.read, result.imported, result.payment_calls) == (101, 101, 2), "ceil(101 / 100), no empty third"
    assert len(xero_calls(xero, path_end="/Payments")) == 2
    invoice.refresh_from_db()
    assert invoice.amount_paid == Decimal("101.00")
    assert Payment.objects.filter(whitelabel=postpaid, source=Payment.Source.XERO).count() == 101


def test_credit_entered_in_xero_becomes_the_customers_credit_and_arena_allocates_it_there(postpaid, xero):
    invoice, _ = sent_invoice(xero, postpaid)
    customer = invoice.customer
    contact_id = SyncRecord.objects.get(kind=Kind.CONTACT, object_id=customer.pk).xero_id
    entered = xero.enter_overpayment(contact_id, "50.00", date="2026-03-03")
    xero.clear_requests_log()

    read(postpaid)
    read(postpaid)
    drain(postpaid)

    (credit,) = Payment.objects.filter(source=Payment.Source.XERO)
    assert (credit.kind, credit.amount, credit.source_id) == (
        Payment.Kind.TOP_UP,
        Decimal("50.00"),
        entered["OverpaymentID"],
    )
    assert customer_credit(customer) == Decimal("50.00")
    record = SyncRecord.objects.get(kind=Kind.OVERPAYMENT, object_id=credit.pk)
    assert (record.status, record.origin, record.xero_id) == (Status.SENT, Origin.XERO, entered["OverpaymentID"])
    assert {r["method"] for r in xero_calls(xero)} == {"GET"}, "nothing sent back"

    later = issue_invoice(customer, [PLAN])  # Arena applies the credit first: allocated from that overpayment
    same_books(xero, postpaid)
    later.refresh_from_db()
    assert later.amount_due == Decimal("60.00")
    assert [o["RemainingCredit"] for o in book(xero, postpaid).overpayments()] == [0.0]


def test_a_reconnect_asks_for_a_read_and_a_first_connect_does_not(admin_client, whitelabel, xero):
    from django.core.cache import cache

    from accounting.models import XeroConnection
    from tests.xero import connect

    key = f"xero-import-queued:{whitelabel.pk}"
    cache.delete(key)
    connected_with(admin_client, whitelabel, xero)
    assert cache.get(key) is None, "nothing was entered in Xero for Arena yet"
    read(whitelabel)
    XeroConnection.objects.filter(whitelabel=whitelabel).update(status=XeroConnection.Status.NEEDS_RECONNECT)

    connect(admin_client, whitelabel, xero)

    assert cache.get(key), "what people entered in Xero meanwhile is read"


def test_a_payment_into_an_account_mapped_to_a_method_is_recorded_with_that_method(postpaid, xero):
    """The mapping's money in, read backwards: money a person entered into the card clearing account (092,
    mapped to card payments) is a card payment in Arena; into the bank account nothing is mapped to, a bank
    transfer."""
    mapping_set_method(whitelabel=postpaid, method=Payment.Method.CARD, account="092")
    by_card, card_invoice_id = sent_invoice(xero, postpaid)
    by_transfer, transfer_invoice_id = sent_invoice(xero, postpaid)
    xero.apply_payment(card_invoice_id, "110.00", account="092")
    xero.apply_payment(transfer_invoice_id, "110.00", account="090")

    assert read(postpaid).imported == 2

    methods = dict(Payment.objects.filter(whitelabel=postpaid).values_list("allocations__invoice_id", "method"))
    assert methods == {by_card.pk: Payment.Method.CARD, by_transfer.pk: Payment.Method.BANK_TRANSFER}


def test_a_credit_note_entered_in_xero_becomes_an_arena_credit_note_once_and_is_not_sent_back(postpaid, xero):
    invoice, xero_invoice_id = sent_invoice(xero, postpaid)
    entered = xero.enter_credit_note(xero_invoice_id, "33.00", date="2026-03-04")
    xero.clear_requests_log()

    first = read(postpaid)
    again = read(postpaid)
    drain(postpaid)

    (note,) = CreditNote.objects.filter(whitelabel=postpaid)
    assert (note.source, note.source_id, note.total, note.invoice_id, note.issue_date) == (
        Payment.Source.XERO,
        entered["CreditNoteID"],
        Decimal("33.00"),
        invoice.pk,
        datetime.date(2026, 3, 4),
    )
    assert note.reason == f"Xero credit note {entered['CreditNoteNumber']}"
    invoice.refresh_from_db()
    assert invoice.amount_due == Decimal("77.00")
    records = SyncRecord.objects.filter(kind__in=[Kind.CREDIT_NOTE, Kind.CREDIT_NOTE_ALLOCATION])
    assert sorted((r.kind, r.status, r.origin, r.attempts) for r in records) == [
        (Kind.CREDIT_NOTE, Status.SENT, Origin.XERO, 0),
        (Kind.CREDIT_NOTE_ALLOCATION, Status.SENT, Origin.XERO, 0),
    ]
    assert (first.imported, again.imported) == (1, 0)
    assert {r["method"] for r in xero_calls(xero)} == {"GET"}, "nothing written"
    assert len(xero_calls(xero, path_end="/CreditNotes")) == 2
    assert len(book(xero, postpaid).credit_notes()) == 1
    compare_books(xero, postpaid).assert_same()


def test_a_credit_note_larger_than_what_the_invoice_owes_leaves_the_rest_as_credit_in_both_books(postpaid, xero):
    invoice, xero_invoice_id = sent_invoice(xero, postpaid)
    record_payment(invoice.customer, "100.00", invoice=invoice, method=Payment.Method.BANK_TRANSFER)
    same_books(xero, postpaid)
    xero.enter_credit_note(xero_invoice_id, "50.00")  # 10.00 of it pays the invoice, 40.00 stays credit

    assert read(postpaid).imported == 1
    drain(postpaid)

    invoice.refresh_from_db()
    assert (invoice.status, customer_credit(invoice.customer)) == (Invoice.Status.PAID, Decimal("40.00"))
    later = issue_invoice(invoice.customer, [PLAN])  # the rest is applied from the Xero credit note
    same_books(xero, postpaid)
    later.refresh_from_db()
    assert later.amount_due == Decimal("70.00")
    (note,) = book(xero, postpaid).credit_notes()
    assert (note["RemainingCredit"], len(note["Allocations"])) == (0.0, 2)


def test_a_credit_note_for_more_than_the_invoice_is_not_recorded_and_says_why(postpaid, xero):
    _, xero_invoice_id = sent_invoice(xero, postpaid)
    xero.enter_credit_note(xero_invoice_id, "150.00")

    result = read(postpaid)

    assert (result.imported, CreditNote.objects.count()) == (0, 0)
    (problem,) = result.problems
    assert "at most 110.00 can be" in problem and problem.startswith("Xero credit note CN-")
    assert XeroImportCursor.objects.get(whitelabel=postpaid).last_error == problem


def test_a_credit_note_voided_in_xero_after_arena_recorded_it_is_reported_not_undone(postpaid, xero):
    """Arena never undoes a credit note: one Xero lists as voided after Arena recorded it is named in the
    import's last error (shown on the sync card), and Arena's credit note stays."""
    _, xero_invoice_id = sent_invoice(xero, postpaid)
    entered = xero.enter_credit_note(xero_invoice_id, "10.00")
    read(postpaid)
    voided = {**entered, "Status": "VOIDED"}  # as Xero would list it once a person voided it

    outcome = imports.credit_note_from_xero(
        whitelabel=postpaid, tenant_id=xero.tenant_ids["Organisation 1"], row=voided, tz=imports.zone_of(postpaid)
    )

    assert outcome.startswith("problem:Xero credit note") and "was voided in Xero; Arena keeps CN-" in outcome
    assert CreditNote.objects.filter(source_id=entered["CreditNoteID"]).count() == 1


def test_a_prepayment_entered_in_xero_becomes_credit_and_arena_allocates_it_from_the_prepayment(postpaid, xero):
    invoice, _ = sent_invoice(xero, postpaid)
    customer = invoice.customer
    contact_id = SyncRecord.objects.get(kind=Kind.CONTACT, object_id=customer.pk).xero_id
    entered = xero.enter_prepayment(contact_id, "200.00", date="2026-03-05")
    xero.clear_requests_log()

    assert read(postpaid).imported == 1
    assert read(postpaid).imported == 0
    drain(postpaid)

    (credit,) = Payment.objects.filter(source=Payment.Source.XERO)
    assert (credit.amount, credit.source_id, credit.gateway_reference) == (
        Decimal("200.00"),
        entered["PrepaymentID"],
        f"Xero prepayment {entered['PrepaymentID']}",
    )
    assert customer_credit(customer) == Decimal("200.00")
    assert {r["method"] for r in xero_calls(xero)} == {"GET"}, "nothing sent back"
    assert len(xero_calls(xero, path_end="/Prepayments")) == 2

    later = issue_invoice(customer, [PLAN])  # Arena applies the credit: allocated from that prepayment
    same_books(xero, postpaid)
    later.refresh_from_db()
    assert later.amount_due == Decimal("0.00")
    (prepayment,) = book(xero, postpaid).prepayments()
    assert (prepayment["RemainingCredit"], len(prepayment["Allocations"])) == (90.0, 1)
    assert len(xero_calls(xero, method="PUT", path_end="/Allocations")) == 1
    from accounting import reconcile

    report = reconcile.whitelabel_reconcile(whitelabel=postpaid)
    assert report.differences == [], [d.detail for d in report.differences]
    assert len(xero_calls(xero, path_end="/Prepayments")) == 3, "and one look-up of the prepayment it compared"


def test_what_could_not_be_recorded_stays_on_the_card_and_support_clears_it(postpaid, xero, admin_client):
    from django.test import Client
    from django.urls import reverse

    from tests.accounting.test_admin import support_user
    from tests.second_factor import log_in_verified

    _, xero_invoice_id = sent_invoice(xero, postpaid)
    xero.enter_credit_note(xero_invoice_id, "150.00")  # more than Arena can credit on the invoice
    read(postpaid)
    other = issue_invoice(CustomerFactory(whitelabel=postpaid), [PLAN])
    drain(postpaid)  # the books differ now (the credit note not recorded): only sent
    xero.advance_clock(2)
    xero.enter_credit_note(SyncRecord.objects.get(kind=Kind.INVOICE, object_id=other.pk).xero_id, "11.00")
    read(postpaid)  # sees the first again (its cursor's boundary) and the second
    assert read(postpaid).problems == [], "a later read without problems"
    card_url = reverse("accounting:xero_sync", kwargs={"whitelabel": postpaid.slug})

    card = admin_client.get(card_url).content.decode()

    assert ", and <strong>1</strong> credit note." in card
    assert re.search(r"Not recorded from Xero \(read [^)]+\): Xero credit note CN-\d+ on invoice INV-000001:", card)
    support = Client()
    log_in_verified(support, support_user())
    (cursor,) = XeroImportCursor.objects.all()
    listed = support.get("/admin/accounting/xeroimportcursor/").content.decode()
    assert "at most 110.00 can be" in listed
    cleared = support.post(
        "/admin/accounting/xeroimportcursor/", {"action": "clear_problem", "_selected_action": [cursor.pk]}
    )
    assert cleared.status_code == 302
    cursor.refresh_from_db()
    assert (cursor.last_error, cursor.last_error_at) == ("", None)
    assert "Not recorded from Xero" not in admin_client.get(card_url).content.decode()
