"""Exactly once on the paths the worker tests don't walk. The engine runs in this process (no worker),
against the sandbox over HTTP, so each step happens exactly when the test says."""

import datetime
import zoneinfo
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.utils import timezone

from accounting.models import SyncRecord, XeroConnection
from accounting.sync import engine, outbox
from payments.models import Invoice
from payments.services import (
    LineInput,
    add_credit,
    issue_credit_note,
    issue_invoice,
    record_payment,
    update_customer,
    void_invoice,
)
from tests.books import compare_books, xero_calls
from tests.factories import CustomerFactory
from tests.xero import ORG1, ORG2, book, callback_path, connect, consent, save_settings, settings_url

pytestmark = pytest.mark.django_db
Kind, Status = SyncRecord.Kind, SyncRecord.Status
GST_FREE = Decimal("0")  # 0% lines: both sandbox organisations have a 0% sales tax rate


def line(amount: str, tax_rate=GST_FREE, description="Plan") -> LineInput:
    return LineInput(description, Decimal("1"), Decimal(amount), Decimal(tax_rate))


@pytest.fixture
def connected(admin_client, whitelabel, xero):
    connect(admin_client, whitelabel, xero)
    assert save_settings(admin_client, whitelabel, **{"accounting-bank_account_code": "090"}).status_code == 302
    return whitelabel


def drain(whitelabel):
    """One sync run now, without waiting for more billing to batch up."""
    engine.run_organisation(whitelabel.pk, hold_partial=False)


def due_now(*records):
    SyncRecord.objects.filter(pk__in=[r.pk for r in records]).update(next_attempt_at=timezone.now())


def record_of(obj, kind) -> SyncRecord:
    return SyncRecord.objects.get(kind=kind, object_id=obj.pk)


def test_two_equal_credits_on_one_invoice_both_reach_xero(connected, xero):
    customer = CustomerFactory(whitelabel=connected)
    add_credit(customer, "10.00")
    add_credit(customer, "10.00")
    drain(connected)
    invoice = issue_invoice(customer, [line("20.00")])
    assert invoice.status == Invoice.Status.PAID
    drain(connected)

    allocations = list(invoice.allocations.all())
    assert [record_of(a, Kind.CREDIT_ALLOCATION).status for a in allocations] == [Status.SENT, Status.SENT]
    (xero_invoice,) = book(xero, connected).invoices()
    assert xero_invoice["Status"] == "PAID"
    keys = [r["headers"]["Idempotency-Key"] for r in xero_calls(xero, path_end="/Allocations")]
    assert len(keys) == 2 and keys[0] != keys[1], "two actions, two keys, though their bodies are equal"
    compare_books(xero, connected).assert_same()


@pytest.mark.parametrize("zone", ["Australia/Sydney", "Pacific/Auckland"])
def test_payments_are_dated_in_the_whitelabels_time_zone(connected, xero, zone):
    connected.time_zone = zone
    connected.save()
    customer = CustomerFactory(whitelabel=connected)
    invoice = issue_invoice(customer, [line("100.00")])
    received = datetime.datetime(2026, 7, 1, 8, 0, tzinfo=zoneinfo.ZoneInfo(zone))  # 30 June in UTC
    record_payment(customer, "150.00", invoice=invoice, received_at=received)
    drain(connected)
    org = book(xero, connected)
    (payment,) = org.payments()
    (overpayment,) = org.overpayments()
    assert payment["Date"].startswith("/Date(1782864000000"), "1 July 2026, the first day of the financial year"
    assert overpayment["DateString"].startswith("2026-07-01")


def test_an_invoice_voided_after_an_unclear_send_is_voided_in_xero(connected, xero):
    customer = CustomerFactory(whitelabel=connected)
    drain(connected)
    xero.add_fault(method="PUT", path="/api.xro/2.0/Invoices", mode="drop_response")
    invoice = issue_invoice(customer, [line("50.00")])
    drain(connected)
    record = record_of(invoice, Kind.INVOICE)
    assert record.status == Status.FAILED and record.outcome_unknown, "Xero saved it; Arena doesn't know"

    void_invoice(invoice)
    due_now(record)
    drain(connected)

    (xero_invoice,) = book(xero, connected).invoices()
    assert xero_invoice["Status"] == "VOIDED", "found by its number, then voided: nothing left owing"
    assert record_of(invoice, Kind.INVOICE).status == Status.SENT
    assert record_of(invoice, Kind.INVOICE_VOID).status == Status.SENT


def test_unit_prices_of_four_decimal_places_reach_xero_as_they_are(connected, xero):
    customer = CustomerFactory(whitelabel=connected)
    minutes = LineInput("Calls, per minute", Decimal("1234"), Decimal("0.0125"), Decimal("10"))  # 15.43
    invoice = issue_invoice(customer, [minutes, line("49.00", tax_rate="10")])
    note = issue_credit_note(
        invoice=invoice,
        lines=[LineInput("Dropped calls", Decimal("77"), Decimal("0.0125"), Decimal("10"))],  # 0.9625: 0.96
        reason="Dropped calls",
    )
    drain(connected)

    for path_end in ("/Invoices", "/CreditNotes"):
        (call,) = xero_calls(xero, method="PUT", path_end=path_end)
        assert "unitdp=4" in call["query"], "else Xero keeps two decimal places"
    answer = record_of(invoice, Kind.INVOICE).response
    assert [Decimal(str(li["UnitAmount"])) for li in answer["LineItems"]] == [Decimal("0.0125"), Decimal("49")]
    assert Decimal(str(answer["Total"])) == invoice.total == Decimal("70.87")
    assert str(record_of(note, Kind.CREDIT_NOTE).response["LineItems"][0]["UnitAmount"]) == "0.0125"
    compare_books(xero, connected).assert_same()


def test_a_contact_renamed_a_to_b_to_a_ends_as_a_in_xero(connected, xero):
    customer = CustomerFactory(whitelabel=connected, name="Alice Able")
    drain(connected)
    for name in ("Bob Baker", "Alice Able"):
        update_customer(customer=customer, name=name)
        drain(connected)
    (contact,) = book(xero, connected).contacts(contact_number=customer.account_number)
    assert contact["Name"] == "Alice Able"
    keys = [r["headers"]["Idempotency-Key"] for r in xero_calls(xero, method="POST", path_end="/Contacts")]
    assert len(keys) == 3 and len(set(keys)) == 3, "the third update is not a replay of the first"


def test_customers_with_the_same_name_stay_apart_in_xero(connected, xero):
    first = CustomerFactory(whitelabel=connected, name="John Smith", account_number="C-1")
    second = CustomerFactory(whitelabel=connected, name="John  smith ", account_number="C-2")
    third = CustomerFactory(whitelabel=connected, name="Jane Doe", account_number="C-3")
    drain(connected)
    update_customer(customer=third, name="John Smith")  # renamed onto a name in use
    drain(connected)

    names = {c["ContactNumber"]: c["Name"] for c in book(xero, connected).contacts()}
    assert names == {"C-1": "John Smith", "C-2": "John smith (C-2)", "C-3": "John Smith (C-3)"}
    assert all(record_of(c, Kind.CONTACT).status == Status.SENT for c in (first, second, third))


def test_switching_organisation_asks_first_then_sends_everything_there_once(connected, xero, admin_client):
    customer = CustomerFactory(whitelabel=connected)
    invoice = issue_invoice(customer, [line("100.00")])
    record_payment(customer, "60.00", invoice=invoice)
    add_credit(customer, "25.00")
    drain(connected)
    org1_before = book(xero, connected).invoices()
    admin_client.post(settings_url(connected) + "xero/disconnect/")

    response = save_settings(admin_client, connected, **{"accounting-bank_account_code": "090"})
    location = consent(xero, response["Location"], organisations=(ORG2,))
    picker = admin_client.get(callback_path(location), follow=True)
    page = picker.content.decode()
    assert "Arena has already sent" in page and "Organisation 1" in page, "the switch is explained first"
    assert XeroConnection.objects.get(whitelabel=connected).status == XeroConnection.Status.DISCONNECTED
    tenant = xero.tenant_ids[ORG2]
    refused = admin_client.post(picker.redirect_chain[-1][0], {"action": "choose", "tenant_id": tenant})
    assert "tick the box to confirm" in refused.content.decode()
    admin_client.post(picker.redirect_chain[-1][0], {"action": "choose", "tenant_id": tenant, "confirm_switch": tenant})
    assert XeroConnection.objects.get(whitelabel=connected).tenant_name == ORG2
    drain(connected)

    compare_books(xero, connected, tenant_name=ORG2).assert_same()
    assert book(xero, connected, tenant_name=ORG1).invoices() == org1_before, "Organisation 1 keeps what it had"
    assert {r.xero_tenant_id for r in SyncRecord.objects.filter(whitelabel=connected)} == {tenant}


def test_switching_back_finds_what_the_first_organisation_has_instead_of_duplicating_it(connected, xero, admin_client):
    customer = CustomerFactory(whitelabel=connected)
    record_payment(customer, "70.00", invoice=issue_invoice(customer, [line("100.00")]))
    drain(connected)
    for organisation in (ORG2, ORG1):
        admin_client.post(settings_url(connected) + "xero/disconnect/")
        response = save_settings(admin_client, connected, **{"accounting-bank_account_code": "090"})
        picker = admin_client.get(
            callback_path(consent(xero, response["Location"], organisations=(organisation,))), follow=True
        )
        admin_client.post(
            picker.redirect_chain[-1][0],
            {
                "action": "choose",
                "tenant_id": xero.tenant_ids[organisation],
                "confirm_switch": xero.tenant_ids[organisation],
            },
        )
        drain(connected)
    compare_books(xero, connected, tenant_name=ORG1).assert_same()
    assert len(book(xero, connected, tenant_name=ORG1).payments()) == 1


def test_a_currency_the_organisation_lacks_fails_that_invoice_alone_without_a_call(connected, xero):
    customer = CustomerFactory(whitelabel=connected)
    dollars = issue_invoice(customer, [line("10.00")], currency="usd")
    aussie = issue_invoice(customer, [line("10.00")])
    record_payment(customer, "10.00", invoice=dollars)
    drain(connected)

    failed = record_of(dollars, Kind.INVOICE)
    assert failed.status == Status.FAILED and "Organisation 1 does not have the currency USD" in failed.reason
    assert record_of(aussie, Kind.INVOICE).status == Status.SENT, "the rest of the run went on"
    waiting = SyncRecord.objects.get(kind=Kind.PAYMENT)
    assert waiting.status == Status.WAITING and "does not have the currency USD" in waiting.reason
    sent = [i for r in xero_calls(xero, method="PUT", path_end="/Invoices") for i in r["body"]["Invoices"]]
    assert [i["CurrencyCode"] for i in sent] == ["AUD"]


def test_records_a_run_is_sending_are_not_rearmed(connected, xero):
    customer = CustomerFactory(whitelabel=connected)
    (claimed,) = outbox.records_claim(whitelabel_id=connected.pk, kind=Kind.CONTACT, limit=10)
    SyncRecord.objects.filter(pk=claimed.pk).update(status=Status.FAILED)
    assert outbox.records_rearm(whitelabel_id=connected.pk, ids=[claimed.pk]) == 0
    record = record_of(customer, Kind.CONTACT)
    assert record.claimed_until == claimed.claimed_until and record.status == Status.FAILED


def test_the_revenue_account_chosen_while_xero_was_unreachable_books_with_its_own_tax_type(
    connected, xero, admin_client
):
    cache.clear()  # the page reads the chart afresh, and Xero fails
    xero.add_fault(method="GET", path="/api.xro/2.0/Accounts", status=503)
    page = save_settings(
        admin_client, connected, **{"accounting-revenue_code": "270", "accounting-bank_account_code": "090"}
    )
    assert page.status_code == 302
    connected.accounting_settings.refresh_from_db()
    assert connected.accounting_settings.revenue_code == "270"
    invoice = issue_invoice(CustomerFactory(whitelabel=connected), [line("10.00")])
    drain(connected)
    assert record_of(invoice, Kind.INVOICE).status == Status.SENT
    (xero_line,) = book(xero, connected).invoices()[0]["LineItems"]
    assert (xero_line["AccountCode"], xero_line["TaxType"]) == ("270", "EXEMPTOUTPUT")


def test_two_equal_overpayments_on_one_day_whose_answers_were_lost_are_told_apart(connected, xero):
    customer = CustomerFactory(whitelabel=connected)
    drain(connected)
    xero.add_fault(method="PUT", path="/api.xro/2.0/BankTransactions", mode="drop_response")
    first, second = add_credit(customer, "10.00"), add_credit(customer, "10.00")
    drain(connected)
    records = [record_of(p, Kind.OVERPAYMENT) for p in (first, second)]
    assert all(r.outcome_unknown for r in records)
    due_now(*records)
    drain(connected)

    overpayments = book(xero, connected).overpayments()
    assert len(overpayments) == 2, "looked up, not sent again"
    by_receipt = {o["LineItems"][0]["Description"]: o["OverpaymentID"] for o in overpayments}
    for payment in (first, second):
        record = record_of(payment, Kind.OVERPAYMENT)
        assert record.xero_id == by_receipt[f"Credit from receipt {payment.receipt.number}"]


def test_two_payments_needing_one_missing_invoice_record_make_it_once(connected, xero):
    customer = CustomerFactory(whitelabel=connected)
    invoice = issue_invoice(customer, [line("100.00")])
    first = record_payment(customer, "40.00", invoice=invoice).allocations.get()
    second = record_payment(customer, "60.00", invoice=invoice).allocations.get()
    record_of(invoice, Kind.INVOICE).delete()  # an invoice whose row was never made (billed before a fix)

    drain(connected)
    drain(connected)  # the invoice made in the first run; the payments woken when it was sent

    assert SyncRecord.objects.filter(kind=Kind.INVOICE, object_id=invoice.pk).count() == 1
    assert {record_of(a, Kind.PAYMENT).status for a in (first, second)} == {Status.SENT}
    assert len(xero_calls(xero, method="PUT", path_end="/Invoices")) == 1
    assert len(xero_calls(xero, method="PUT", path_end="/Payments")) == 1, "both payments in one batch"
    compare_books(xero, connected).assert_same()


def test_re_picking_the_organisation_the_records_went_to_asks_nothing(connected, xero, admin_client):
    """Issue 19, item 7: ticking both organisations after Arena sent records to Organisation 1, the picker
    starts on Organisation 1, and only Organisation 2 comes with the warning and the box to tick."""
    issue_invoice(CustomerFactory(whitelabel=connected), [line("100.00")])
    drain(connected)
    admin_client.post(settings_url(connected) + "xero/disconnect/")
    response = save_settings(admin_client, connected, **{"accounting-bank_account_code": "090"})
    location = consent(xero, response["Location"], organisations=(ORG1, ORG2))
    picker = admin_client.get(callback_path(location), follow=True)
    page = picker.content.decode()
    org1, org2 = xero.tenant_ids[ORG1], xero.tenant_ids[ORG2]
    assert f'<input type="radio" id="tenant-1" name="tenant_id" value="{org1}" checked>' in page
    assert f'<input type="radio" id="tenant-2" name="tenant_id" value="{org2}">' in page
    organisation_2 = page[page.index(f'value="{org2}"') :]
    assert "Arena has already sent 2 records" in organisation_2, "the warning is Organisation 2's"
    assert f'name="confirm_switch" value="{org2}"' in organisation_2
    assert page.count('name="confirm_switch"') == 1

    admin_client.post(picker.redirect_chain[-1][0], {"action": "choose", "tenant_id": org1})

    assert XeroConnection.objects.get(whitelabel=connected).tenant_name == ORG1
