"""xero_reconcile: Arena's books against the organisation's, after changes a person made in Xero (the
sandbox's edits) or records that never arrived. The engine and the reconcile run in this process."""

import datetime
import io
import json
from decimal import Decimal

import pytest
import requests
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from accounting import reconcile, tasks
from accounting.connection import xero_call
from accounting.models import Reconciliation, SyncRecord
from accounting.xero import client
from payments.models import Allocation
from payments.services import (
    LineInput,
    add_credit,
    issue_credit_note,
    issue_invoice,
    record_payment,
    refund_credit,
)
from tests.accounting.drift import bill, drain
from tests.books import admin_client_for, compare_books, connected, xero_calls
from tests.factories import CustomerFactory
from tests.xero import book

pytestmark = pytest.mark.django_db
Kind, Status = SyncRecord.Kind, SyncRecord.Status
DriftKind = reconcile.DriftKind


def run(*args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("xero_reconcile", *args, stdout=out, stderr=err)
    except CommandError as exc:
        return exc.returncode, out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def differences(*args) -> tuple[int, list[dict]]:
    code, out, _ = run(*args, "--format", "json")
    report = json.loads(out)
    return code, [d for w in report["whitelabels"] for d in w["differences"]]


def kinds(found: list[dict]) -> set[tuple[str, str, str]]:
    return {(d["kind"], d["what"], d["label"]) for d in found}


@pytest.fixture
def books(xero):
    whitelabel = connected(xero)
    billed = bill(whitelabel)
    drain(whitelabel)
    compare_books(xero, whitelabel).assert_same()
    return whitelabel, billed


def test_clean_books_report_no_drift(books, xero):
    whitelabel, _ = books
    code, out, err = run("--whitelabel", whitelabel.slug)

    assert code == 0, out + err
    assert "The books agree." in out
    assert f"{whitelabel.slug}: invoices: " in err, "progress as plain lines when not on a terminal"
    reconciliation = Reconciliation.objects.get(whitelabel=whitelabel)
    assert reconciliation.drift == 0 and reconciliation.finished_at and not reconciliation.error
    assert reconciliation.compared["invoices"] == 4 and reconciliation.compared["customers' credit"] == 1
    assert not SyncRecord.objects.filter(changed_in_xero_at__isnull=False).exists()


def test_a_reconcile_only_reads(books, xero):
    whitelabel, _ = books
    xero.clear_requests_log()
    assert run("--whitelabel", whitelabel.slug)[0] == 0
    calls = xero_calls(xero)
    assert calls and {c["method"] for c in calls} == {"GET"}
    assert not xero_calls(xero, path_end="/BankTransactions"), "post-paid sends no receipts: none are read"


def test_clean_books_in_json(books):
    whitelabel, _ = books
    code, out, _ = run("--format", "json")  # every connected whitelabel
    report = json.loads(out)
    assert code == 0 and report["agree"] is True
    (entry,) = report["whitelabels"]
    assert entry["whitelabel"] == whitelabel.slug and entry["organisation"] == "Organisation 1"
    assert entry["differences"] == [] and entry["compared"]["payments"] == 3


def test_invoice_voided_in_xero_is_a_status_difference_and_flagged(books, xero):
    whitelabel, billed = books
    xero.void_invoice(billed["open"].number)

    code, found = differences("--whitelabel", whitelabel.slug)

    assert code == 1
    (voided,) = found
    assert (voided["kind"], voided["what"], voided["label"]) == (DriftKind.STATUS_DIFFERS, "invoice", "INV-000004")
    assert (voided["arena"], voided["xero"], voided["by_person"], voided["fixable"]) == (
        "AUTHORISED",
        "VOIDED",
        True,
        False,
    )
    record = SyncRecord.objects.get(kind=Kind.INVOICE, object_id=billed["open"].pk)
    assert voided["xero_id"] == record.xero_id and voided["arena_id"] == f"invoice {billed['open'].pk}"
    assert record.changed_in_xero_at is not None and "Voided in Xero" in record.xero_change


def test_amount_edited_in_xero_is_an_amount_difference(books, xero):
    whitelabel, billed = books
    xero.edit_invoice_line(billed["open"].number, unit_amount=95)

    code, found = differences("--whitelabel", whitelabel.slug)

    assert code == 1
    (edited,) = found
    assert (edited["kind"], edited["label"], edited["arena"], edited["xero"]) == (
        DriftKind.AMOUNT_DIFFERS,
        billed["open"].number,
        "88.00",
        "104.50",
    )
    assert edited["by_person"] and "Total edited in Xero from 88.00 to 104.50" in edited["detail"]


def test_payment_deleted_in_xero_is_changed_in_xero_and_the_invoice_owed_again(books, xero):
    whitelabel, billed = books
    allocation = billed["paid"].allocations.order_by("id").first()
    record = SyncRecord.objects.get(kind=Kind.PAYMENT, object_id=allocation.pk)
    xero.delete_payment(record.xero_id)

    code, found = differences("--whitelabel", whitelabel.slug)

    assert code == 1
    assert kinds(found) == {
        (DriftKind.CHANGED_IN_XERO, "payment", "RCT-000001 INV-000001"),
        (DriftKind.AMOUNT_DIFFERS, "invoice", "INV-000001"),
    }
    due = next(d for d in found if d["what"] == "invoice")
    assert (due["arena"], due["xero"]) == ("0.00", "50.00") and "removed in Xero: 50.00 (RCT-000001 INV-000001)" in due[
        "detail"
    ]
    assert not any(d["fixable"] for d in found), "a person's deletion is never undone by --fix"
    flagged = SyncRecord.objects.filter(changed_in_xero_at__isnull=False)
    assert {r.kind for r in flagged} == {Kind.PAYMENT, Kind.INVOICE}


def test_revenue_account_archived_in_xero_is_a_setting_difference(books, xero):
    whitelabel, _ = books
    xero.archive_account("200")

    code, out, _ = run("--whitelabel", whitelabel.slug)
    _, found = differences("--whitelabel", whitelabel.slug)

    assert code == 1
    (archived,) = found
    assert (archived["kind"], archived["what"], archived["label"]) == (
        DriftKind.STATUS_DIFFERS,
        "setting",
        "revenue account 200",
    )
    assert (archived["arena"], archived["xero"]) == ("ACTIVE", "ARCHIVED")
    assert "Xero will refuse new invoices and receipts" in archived["detail"]
    assert "status differs  setting  revenue account 200" in out


def test_contact_archived_in_xero_is_a_status_difference(books, xero):
    whitelabel, billed = books
    customer = billed["customer"]
    xero.archive_contact(customer.account_number)

    code, found = differences("--whitelabel", whitelabel.slug)

    assert code == 1
    (archived,) = found
    assert (archived["kind"], archived["what"], archived["label"], archived["xero"]) == (
        DriftKind.STATUS_DIFFERS,
        "contact",
        customer.account_number,
        "ARCHIVED",
    )
    assert SyncRecord.objects.get(kind=Kind.CONTACT, object_id=customer.pk).changed_in_xero_at is not None


def test_contacts_merged_in_xero_move_the_invoices(books, xero):
    whitelabel, billed = books
    other = CustomerFactory(whitelabel=whitelabel)
    issue_invoice(other, [LineInput("Plan", Decimal("1"), Decimal("10.00"), Decimal("0"))])
    drain(whitelabel)
    into = SyncRecord.objects.get(kind=Kind.CONTACT, object_id=other.pk).xero_id
    xero.merge_contacts(billed["customer"].account_number, into=into)

    code, found = differences("--whitelabel", whitelabel.slug)

    assert code == 1
    merged = [d for d in found if d["what"] == "contact"]
    assert merged and merged[0]["kind"] == DriftKind.STATUS_DIFFERS and "Merged into" in merged[0]["detail"]
    moved = {d["label"] for d in found if d["kind"] == DriftKind.CHANGED_IN_XERO and d["what"] == "invoice"}
    assert {"INV-000001", "INV-000004"} <= moved


def forget_in_xero(*records):
    """Records Arena believes it sent but Xero never got (sent to a since-emptied organisation, or before a
    bug was fixed): marked sent with ids Xero doesn't know."""
    for n, record in enumerate(records):
        SyncRecord.objects.filter(pk=record.pk).update(
            status=Status.SENT, xero_id=f"00000000-0000-4000-8000-{n:012d}", outcome_unknown=False
        )


def test_fix_sends_again_only_what_is_missing_and_a_second_run_reports_nothing(books, xero):
    whitelabel, _ = books
    late = CustomerFactory(whitelabel=whitelabel)
    invoice = issue_invoice(late, [LineInput("Plan", Decimal("1"), Decimal("40.00"), Decimal("0"))])
    receipt = record_payment(late, "40.00", invoice=invoice).receipt
    reference = f"{receipt.number} {invoice.number}"
    records = list(SyncRecord.objects.filter(whitelabel=whitelabel, status=Status.PENDING))
    assert {r.kind for r in records} == {Kind.CONTACT, Kind.INVOICE, Kind.PAYMENT}
    tenant = whitelabel.xero_connection.tenant_id
    SyncRecord.objects.filter(pk__in=[r.pk for r in records]).update(xero_tenant_id=tenant, sent_at=timezone.now())
    forget_in_xero(*records)
    code, found = differences("--whitelabel", whitelabel.slug)
    assert code == 1
    assert kinds(found) == {
        (DriftKind.MISSING_IN_XERO, "contact", late.account_number),
        (DriftKind.MISSING_IN_XERO, "invoice", invoice.number),
        (DriftKind.MISSING_IN_XERO, "payment", reference),
    }
    assert all(d["fixable"] and not d["by_person"] for d in found)
    xero.clear_requests_log()

    code, out, err = run("--whitelabel", whitelabel.slug, "--fix")

    assert code == 0, out + err
    assert out.count("[sent again]") == 3
    writes = [c for c in xero_calls(xero) if c["method"] in ("PUT", "POST")]
    assert [(c["method"], c["path"].rsplit("/", 1)[-1]) for c in writes] == [
        ("POST", "Contacts"),
        ("PUT", "Invoices"),
        ("PUT", "Payments"),
    ]
    assert [c["body"][key][0].get(field) for c, key, field in zip(
        writes, ["Contacts", "Invoices", "Payments"], ["ContactNumber", "InvoiceNumber", "Reference"], strict=True
    )] == [late.account_number, invoice.number, reference]  # fmt: skip
    compare_books(xero, whitelabel).assert_same()
    assert run("--whitelabel", whitelabel.slug)[0] == 0


def test_fix_leaves_a_persons_change_alone(books, xero):
    whitelabel, billed = books
    xero.void_invoice(billed["open"].number)
    invoice_record = SyncRecord.objects.get(kind=Kind.INVOICE, object_id=billed["from_credit"].pk)
    xero.clear_requests_log()

    code, found = differences("--whitelabel", whitelabel.slug, "--fix")

    assert code == 1, "the void stays: reported, never overwritten"
    assert kinds(found) == {(DriftKind.STATUS_DIFFERS, "invoice", billed["open"].number)}
    assert not [c for c in xero_calls(xero) if c["method"] in ("PUT", "POST")]
    assert SyncRecord.objects.get(pk=invoice_record.pk).version == invoice_record.version
    assert book(xero, whitelabel).invoices()[3]["Status"] == "VOIDED"


def test_since_reads_what_changed_with_if_modified_since(books, xero):
    whitelabel, billed = books
    xero.void_invoice(billed["open"].number)
    xero.clear_requests_log()

    code, found = differences("--whitelabel", whitelabel.slug, "--since", timezone.localdate().isoformat())

    assert code == 1 and kinds(found) == {(DriftKind.STATUS_DIFFERS, "invoice", billed["open"].number)}
    listings = [c for c in xero_calls(xero, method="GET") if "pageSize" in c["query"]]
    assert listings and all(c["headers"].get("If-Modified-Since") for c in listings)
    assert Reconciliation.objects.get(whitelabel=whitelabel).since is not None


def test_invoice_and_payment_entered_in_xero_by_a_person_are_extra(books, xero):
    whitelabel, billed = books
    connection = whitelabel.xero_connection
    contact_id = SyncRecord.objects.get(kind=Kind.CONTACT, object_id=billed["customer"].pk).xero_id
    open_id = SyncRecord.objects.get(kind=Kind.INVOICE, object_id=billed["open"].pk).xero_id
    by_hand = {
        "Type": "ACCREC",
        "Contact": {"ContactID": contact_id},
        "InvoiceNumber": "HAND-1",
        "Status": "AUTHORISED",
        "DueDate": client.xero_date(datetime.date(2030, 1, 31)),
        "LineItems": [{"Description": "Call-out", "Quantity": "1", "UnitAmount": "99.00", "AccountCode": "200"}],
    }
    cash = {"Invoice": {"InvoiceID": open_id}, "Account": {"Code": "090"}, "Amount": "20.00", "Reference": "Cash"}
    xero_call(connection, lambda creds: client.invoices_create(creds, [by_hand], idempotency_key="hand-1"))
    xero_call(connection, lambda creds: client.payments_create(creds, [cash], idempotency_key="hand-2"))

    code, found = differences("--whitelabel", whitelabel.slug)

    assert code == 1
    assert kinds(found) == {
        (DriftKind.EXTRA_IN_XERO, "invoice", "HAND-1"),
        (DriftKind.EXTRA_IN_XERO, "payment", "Cash"),
        (DriftKind.AMOUNT_DIFFERS, "invoice", billed["open"].number),
    }
    due = next(d for d in found if d["kind"] == DriftKind.AMOUNT_DIFFERS)
    assert (due["arena"], due["xero"], due["by_person"]) == ("88.00", "68.00", True)
    assert "entered in Xero" in due["detail"]


def test_prepaid_receipts_are_compared(xero):
    whitelabel = connected(xero, payment_type="prepaid")
    customer = CustomerFactory(whitelabel=whitelabel)
    add_credit(customer, "30.00")
    add_credit(customer, "45.00")
    drain(whitelabel)
    assert run("--whitelabel", whitelabel.slug)[0] == 0
    late = add_credit(customer, "12.50").receipt
    record = SyncRecord.objects.get(kind=Kind.RECEIPT, object_id=late.pk)
    SyncRecord.objects.filter(pk=record.pk).update(xero_tenant_id=whitelabel.xero_connection.tenant_id)
    forget_in_xero(record)

    code, found = differences("--whitelabel", whitelabel.slug)

    assert code == 1 and kinds(found) == {(DriftKind.MISSING_IN_XERO, "receipt", late.number)}
    assert run("--whitelabel", whitelabel.slug, "--fix")[0] == 0
    receipts = sorted(t["Reference"] for t in book(xero, whitelabel).bank_transactions() if t["Type"] == "RECEIVE")
    assert receipts == ["RCT-000001", "RCT-000002", late.number]


def xero_api(xero, whitelabel, method: str, path: str, body: dict | None = None) -> dict:
    """What a person does in Xero, through Xero's API (the sandbox has no screen for bank transactions)."""
    connection = whitelabel.xero_connection
    response = requests.request(
        method,
        f"{xero.url}/api.xro/2.0/{path}",
        json=body,
        headers={"Authorization": f"Bearer {connection.access_token}", "xero-tenant-id": connection.tenant_id},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def refunded(xero):
    """A pre-paid customer with two top-ups and one refund receipt, all in Xero."""
    whitelabel = connected(xero, payment_type="prepaid")
    customer = CustomerFactory(whitelabel=whitelabel)
    add_credit(customer, "30.00")
    add_credit(customer, "45.00")
    refund = refund_credit(customer=customer, amount="20.00")
    drain(whitelabel)
    return whitelabel, customer, refund


def test_prepaid_refund_receipts_are_compared(refunded, xero):
    whitelabel, customer, refund = refunded
    xero.clear_requests_log()
    code, out, err = run("--whitelabel", whitelabel.slug, "--format", "json")
    assert code == 0, out + err
    read = {c["path"].rsplit("/", 1)[-1] for c in xero_calls(xero)}
    assert read == {"Accounts", "Contacts", "Invoices", "Payments", "BankTransactions"}, "nothing pre-paid never sends"
    compared = json.loads(out)["whitelabels"][0]["compared"]
    assert (compared["receipts"], compared["refund receipts"]) == (2, 1)

    late = refund_credit(customer=customer, amount="5.00")
    record = SyncRecord.objects.get(kind=Kind.REFUND_RECEIPT, object_id=late.pk)
    SyncRecord.objects.filter(pk=record.pk).update(xero_tenant_id=whitelabel.xero_connection.tenant_id)
    forget_in_xero(record)

    code, found = differences("--whitelabel", whitelabel.slug)

    assert code == 1 and kinds(found) == {(DriftKind.MISSING_IN_XERO, "refund receipt", late.number)}
    assert found[0]["fixable"] and found[0]["arena"] == "5.00"
    assert run("--whitelabel", whitelabel.slug, "--fix")[0] == 0
    spends = sorted(t["Reference"] for t in book(xero, whitelabel).bank_transactions() if t["Type"] == "SPEND")
    assert spends == [refund.number, late.number], "sent once more, and only the one Xero lacked"
    assert run("--whitelabel", whitelabel.slug)[0] == 0


def test_a_refund_receipt_deleted_in_xero_is_changed_in_xero(refunded, xero):
    whitelabel, _, refund = refunded
    record = SyncRecord.objects.get(kind=Kind.REFUND_RECEIPT, object_id=refund.pk)
    (spend,) = [t for t in book(xero, whitelabel).bank_transactions() if t["Type"] == "SPEND"]
    deleted = {k: spend[k] for k in ("Type", "Contact", "BankAccount", "LineItems", "Reference")}
    xero_api(xero, whitelabel, "POST", f"BankTransactions/{record.xero_id}", {"BankTransactions": [
        {**deleted, "BankTransactionID": record.xero_id, "Status": "DELETED"}
    ]})  # fmt: skip

    code, found = differences("--whitelabel", whitelabel.slug)

    assert code == 1 and kinds(found) == {(DriftKind.CHANGED_IN_XERO, "refund receipt", refund.number)}
    assert (found[0]["arena"], found[0]["xero"], found[0]["by_person"]) == ("20.00", "DELETED", True)
    assert SyncRecord.objects.get(pk=record.pk).changed_in_xero_at is not None, "flagged, never sent again"
    assert run("--whitelabel", whitelabel.slug, "--fix")[0] == 1
    assert len([t for t in book(xero, whitelabel).bank_transactions() if t["Type"] == "SPEND"]) == 1


def test_money_paid_back_in_xero_but_not_in_arena_is_extra(refunded, xero):
    whitelabel, customer, _ = refunded
    contact = SyncRecord.objects.get(kind=Kind.CONTACT, object_id=customer.pk).xero_id
    (receipt, *_) = [t for t in book(xero, whitelabel).bank_transactions() if t["Type"] == "RECEIVE"]
    line = {"Description": "Paid back by hand", "Quantity": 1, "UnitAmount": 7.5}
    line["AccountCode"] = receipt["LineItems"][0]["AccountCode"]
    xero_api(xero, whitelabel, "PUT", "BankTransactions", {"BankTransactions": [{
        "Type": "SPEND", "Contact": {"ContactID": contact}, "BankAccount": receipt["BankAccount"],
        "Reference": "by hand", "LineItems": [line], "LineAmountTypes": "Inclusive",
    }]})  # fmt: skip

    code, found = differences("--whitelabel", whitelabel.slug)

    assert code == 1 and kinds(found) == {(DriftKind.EXTRA_IN_XERO, "refund receipt", "by hand")}
    assert found[0]["xero"] == "7.50" and "paid back to" in found[0]["detail"]


def test_a_credit_note_taken_off_its_invoice_in_xero_is_changed_in_xero(xero):
    whitelabel = connected(xero)
    customer = CustomerFactory(whitelabel=whitelabel)
    invoice = issue_invoice(customer, [LineInput("Plan", Decimal("1"), Decimal("100.00"), Decimal("10"))])
    note = issue_credit_note(invoice=invoice, amount="22.00", reason="Roaming overcharged")
    drain(whitelabel)
    code, out, err = run("--whitelabel", whitelabel.slug, "--format", "json")
    assert code == 0, out + err
    assert json.loads(out)["whitelabels"][0]["compared"]["credit note allocations"] == 1
    (allocation,) = note.allocations.all()
    record = SyncRecord.objects.get(kind=Kind.CREDIT_NOTE_ALLOCATION, object_id=allocation.pk)
    note_id = SyncRecord.objects.get(kind=Kind.CREDIT_NOTE, object_id=note.pk).xero_id
    xero_api(xero, whitelabel, "DELETE", f"CreditNotes/{note_id}/Allocations/{record.xero_id}")

    code, found = differences("--whitelabel", whitelabel.slug)

    assert code == 1
    assert kinds(found) == {
        (DriftKind.CHANGED_IN_XERO, "credit note allocation", f"22.00 to {invoice.number}"),
        (DriftKind.AMOUNT_DIFFERS, "invoice", invoice.number),
        (DriftKind.AMOUNT_DIFFERS, "credit", f"{customer.account_number} credit (AUD)"),
    }
    removed = next(d for d in found if d["what"] == "credit note allocation")
    assert removed["detail"] == f"22.00 of credit note {note.number} applied to {invoice.number} was removed in Xero."
    assert SyncRecord.objects.get(pk=record.pk).changed_in_xero_at is not None
    xero.clear_requests_log()
    assert run("--whitelabel", whitelabel.slug, "--fix")[0] == 1, "a person's change is never undone"
    assert {c["method"] for c in xero_calls(xero)} == {"GET"}


def test_unknown_whitelabel_and_bad_date_are_bad_arguments(db):
    assert run("--whitelabel", "nope")[0] == 2
    assert run("--since", "yesterday")[0] == 2


def test_a_window_that_compares_nothing_says_so_and_exits_2_before_asking_xero(books, xero):
    whitelabel, _ = books
    xero.clear_requests_log()
    out = io.StringIO()
    with pytest.raises(CommandError) as error:
        call_command("xero_reconcile", "--whitelabel", whitelabel.slug, "--since", "2999-01-01", stdout=out)
    assert error.value.returncode == 2
    assert "--since 2999-01-01 is after today" in str(error.value)
    assert "the reconcile would compare nothing" in str(error.value)
    assert "books agree" not in out.getvalue().lower()
    assert not xero_calls(xero), "nothing asked of Xero"
    tomorrow = (whitelabel.local_date() + datetime.timedelta(days=1)).isoformat()
    assert run("--whitelabel", whitelabel.slug, "--since", tomorrow)[0] == 2


def test_a_window_with_nothing_sent_or_changed_in_it_says_it_compared_only_the_settings(xero):
    quiet = connected(xero, slug="quiet")
    code, out, _ = run("--whitelabel", quiet.slug, "--since", quiet.local_date().isoformat())
    assert code == 0
    assert "Compared only the settings: Arena sent nothing, and Xero changed nothing of Arena's, since " in out


def test_a_whitelabel_that_needs_reconnecting_is_not_compared(books):
    whitelabel, _ = books
    whitelabel.xero_connection.status = "needs_reconnect"
    whitelabel.xero_connection.save()
    code, _, err = run("--whitelabel", whitelabel.slug)
    assert code == 2 and "needs an admin to reconnect" in err


def test_credit_removed_from_an_invoice_in_xero_is_changed_in_xero(books, xero):
    whitelabel, billed = books
    allocation = Allocation.objects.filter(invoice=billed["from_credit"], source=Allocation.Source.CREDIT).first()
    record = SyncRecord.objects.get(kind=Kind.CREDIT_ALLOCATION, object_id=allocation.pk)
    credit = SyncRecord.objects.get(kind=Kind.OVERPAYMENT, object_id=allocation.payment_id)
    connection = whitelabel.xero_connection
    response = requests.delete(
        f"{xero.url}/api.xro/2.0/Overpayments/{credit.xero_id}/Allocations/{record.xero_id}",
        headers={"Authorization": f"Bearer {connection.access_token}", "xero-tenant-id": connection.tenant_id},
        timeout=10,
    )
    assert response.status_code == 200, response.text

    code, found = differences("--whitelabel", whitelabel.slug)

    assert code == 1
    assert kinds(found) == {
        (DriftKind.CHANGED_IN_XERO, "credit allocation", f"{allocation.amount} to {billed['from_credit'].number}"),
        (DriftKind.AMOUNT_DIFFERS, "invoice", billed["from_credit"].number),
        (DriftKind.AMOUNT_DIFFERS, "credit", f"{billed['customer'].account_number} credit (AUD)"),
    }
    assert all(d["by_person"] for d in found)


def test_the_nightly_reconcile_compares_what_changed_since_the_last_one_and_only_flags(books, xero, monkeypatch):
    whitelabel, billed = books
    monkeypatch.setattr(tasks.reconcile_whitelabel, "delay", lambda pk: tasks.reconcile_whitelabel.run(pk))
    assert tasks.reconcile_all() == 1
    first = Reconciliation.objects.get(whitelabel=whitelabel)
    assert (first.trigger, first.since, first.drift) == (Reconciliation.Trigger.SCHEDULE, None, 0)
    xero.void_invoice(billed["open"].number)
    xero.clear_requests_log()

    tasks.reconcile_all()

    second = Reconciliation.objects.filter(whitelabel=whitelabel).first()
    assert second.since == first.started_at and second.drift == 1
    assert second.differences[0]["kind"] == DriftKind.STATUS_DIFFERS
    assert SyncRecord.objects.get(kind=Kind.INVOICE, object_id=billed["open"].pk).changed_in_xero_at
    assert {c["method"] for c in xero_calls(xero)} == {"GET"}
    listings = [c for c in xero_calls(xero) if "pageSize" in c["query"]]
    assert listings and all(c["headers"].get("If-Modified-Since") for c in listings)


def test_the_nightly_reconcile_skips_a_whitelabel_that_needs_reconnecting(books, xero):
    whitelabel, _ = books
    whitelabel.xero_connection.status = "needs_reconnect"
    whitelabel.xero_connection.save()
    assert tasks.reconcile_all() == 0
    tasks.reconcile_whitelabel.run(whitelabel.pk)  # queued before it needed reconnecting: logs, raises nothing
    assert not Reconciliation.objects.exists()


def test_the_sync_card_says_what_was_changed_in_xero_and_when_the_books_were_compared(books, xero):
    whitelabel, billed = books
    client = admin_client_for(whitelabel)
    card = reverse("accounting:xero_sync", kwargs={"whitelabel": whitelabel.slug})
    assert "Changed in Xero" not in client.get(card).content.decode()
    run("--whitelabel", whitelabel.slug)
    assert "Books last compared with Xero" in client.get(card).content.decode()
    assert ": they agree." in client.get(card).content.decode()

    xero.void_invoice(billed["open"].number)
    xero.archive_account("200")
    run("--whitelabel", whitelabel.slug)
    html = " ".join(client.get(card).content.decode().split())

    assert "Changed in Xero: <strong>1</strong> record was changed by a person in Xero after Arena sent it" in html
    assert f"(Invoice {billed['open'].number}: Voided in Xero after Arena sent it; Arena still bills it)." in html
    assert "Account 200 (Sales) is archived in Xero: Xero will refuse new invoices and receipts" in html
    assert "they agree" not in html
