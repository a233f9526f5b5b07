"""Helpers for tests that sync to the sandbox: connect a whitelabel, wait for the outbox to settle, and
compare Xero's books with Arena's, counting what is missing and what is there twice."""

import datetime
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from django.test import Client
from django.utils import timezone

from accounting.models import SyncRecord, SyncState, XeroConnection
from payments.models import (
    Allocation,
    CreditNote,
    Customer,
    Invoice,
    Membership,
    Payment,
    Receipt,
    Refund,
    RefundPart,
)
from payments.selectors import customer_credit
from tests.factories import MembershipFactory, WhitelabelFactory
from tests.xero import ORG1, book, connect, save_settings, wait_until

Status = SyncRecord.Status


def connected(xero, *, slug="acme", organisation=ORG1, payment_type="postpaid", **whitelabel_fields):
    """A whitelabel connected to `organisation` through the settings page and the consent page."""
    whitelabel = WhitelabelFactory(slug=slug, name=slug.title(), **whitelabel_fields)
    client = admin_client_for(whitelabel)
    connect(client, whitelabel, xero, organisations=(organisation,), **{"accounting-payment_type": payment_type})
    response = save_settings(
        client, whitelabel, **{"accounting-payment_type": payment_type, "accounting-bank_account_code": "090"}
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    assert XeroConnection.objects.get(whitelabel=whitelabel).is_active
    return whitelabel


def admin_client_for(whitelabel) -> Client:
    client = Client()
    admin = Membership.objects.filter(whitelabel=whitelabel, role=Membership.Role.ADMIN).first()
    client.force_login(admin.user if admin else MembershipFactory(whitelabel=whitelabel).user)
    return client


def all_sent(*objects_and_kinds, timeout=60):
    def check():
        records = [SyncRecord.objects.filter(kind=kind, object_id=obj.pk).first() for obj, kind in objects_and_kinds]
        failed = [r for r in records if r and r.status == Status.FAILED and r.next_attempt_at is None]
        assert not failed, f"gave up: {[(r.label, r.reason) for r in failed]}"
        return all(r and r.status == Status.SENT for r in records)

    wait_until(check, timeout=timeout, message=f"{[(o, k) for o, k in objects_and_kinds]} to be sent")


def settled(whitelabel) -> bool:
    """Nothing of the whitelabel is due, being sent, or about to be retried (a record Xero refused waits
    an hour for a fix: that counts as settled)."""
    records = SyncRecord.objects.filter(whitelabel=whitelabel)
    soon = timezone.now() + datetime.timedelta(minutes=5)
    return not (
        records.filter(status=Status.PENDING).exists()
        or records.filter(status=Status.FAILED, next_attempt_at__lte=soon).exists()
        or records.filter(claimed_until__isnull=False).exists()
    )


def outbox_settled(whitelabel, timeout=60):
    wait_until(lambda: settled(whitelabel), timeout=timeout, message="the outbox to settle")
    wait_until(
        lambda: not SyncState.objects.filter(whitelabel=whitelabel, lease_until__isnull=False).exists(),
        timeout=timeout,
        message="the run to hand the organisation back",
    )


def money(value) -> Decimal:
    return Decimal(str(value or 0)).quantize(Decimal("0.01"))


@dataclass
class Comparison:
    """Arena's books against one Xero organisation's: what was billed, what Xero has, twice, or lacks."""

    billed: int = 0
    in_xero: int = 0
    duplicates: list = field(default_factory=list)
    lost: list = field(default_factory=list)
    wrong: list = field(default_factory=list)

    def line(self, name: str) -> str:
        return (
            f"{name}: billed {self.billed} / in Xero {self.in_xero} / duplicates {len(self.duplicates)}"
            f" / lost {len(self.lost)} / wrong {len(self.wrong)}"
        )

    def assert_same(self):
        assert not (self.duplicates or self.lost or self.wrong), (
            f"duplicates {self.duplicates}; lost {self.lost}; wrong {self.wrong}"
        )


def compare_books(xero, whitelabel, *, tenant_name: str | None = None) -> Comparison:
    """Every invoice once with Arena's total, amount due and status; every credit note once with its rest;
    every payment and refund once, reversed ones gone; each customer's credit equal to its contact's
    unallocated overpayments, prepayments and credit notes; receipts and refund receipts once, reversed ones gone; one
    contact per customer, with the customer's name, email and phone."""
    org = book(xero, whitelabel, tenant_name=tenant_name)
    result = Comparison()

    contacts = Counter(c.get("ContactNumber") for c in org.contacts() if c.get("ContactStatus") != "ARCHIVED")
    customers = list(Customer.objects.filter(whitelabel=whitelabel))
    result.duplicates += [f"contact {n}" for n, count in contacts.items() if n and count > 1]
    by_contact_number = {c.get("ContactNumber"): c for c in org.contacts() if c.get("ContactStatus") != "ARCHIVED"}
    for customer in customers:
        theirs = by_contact_number.get(customer.account_number)
        if theirs is None:
            continue
        name = " ".join(customer.name.split())
        ours = (customer.email, customer.phone)
        phones = theirs.get("Phones") or [{}]
        in_xero = (theirs.get("EmailAddress") or "", phones[0].get("PhoneNumber") or "")
        if theirs["Name"] not in (name, f"{name} ({customer.account_number})") or ours != in_xero:
            arena, xero_side = (name, *ours), (theirs["Name"], *in_xero)
            result.wrong.append(f"contact {customer.account_number}: Arena {arena}, Xero {xero_side}")

    invoices = Counter(i["InvoiceNumber"] for i in org.invoices())
    result.duplicates += [f"invoice {n}" for n, count in invoices.items() if count > 1]
    by_number = {i["InvoiceNumber"]: i for i in org.invoices()}
    for invoice in Invoice.objects.filter(whitelabel=whitelabel).exclude(status=Invoice.Status.DRAFT):
        result.billed += 1
        theirs = by_number.get(invoice.number)
        if invoice.status == Invoice.Status.VOID:
            if theirs is not None and theirs["Status"] != "VOIDED":
                result.wrong.append(f"{invoice.number} void in Arena, {theirs['Status']} in Xero")
            result.in_xero += 1
            continue
        if theirs is None:
            result.lost.append(f"invoice {invoice.number}")
            continue
        result.in_xero += 1
        status = "PAID" if invoice.amount_due == 0 else "AUTHORISED"
        expected = (status, money(invoice.total), money(invoice.amount_due))
        actual = (theirs["Status"], money(theirs["Total"]), money(theirs["AmountDue"]))
        if expected != actual:
            result.wrong.append(f"{invoice.number}: Arena {expected}, Xero {actual}")

    notes = Counter(n["CreditNoteNumber"] for n in org.credit_notes() if n.get("Status") not in ("VOIDED", "DELETED"))
    result.duplicates += [f"credit note {n}" for n, count in notes.items() if count > 1]
    xero_notes = {n["CreditNoteNumber"]: n for n in org.credit_notes()}
    xero_notes_by_id = {n["CreditNoteID"].lower(): n for n in org.credit_notes()}
    for note in CreditNote.objects.filter(whitelabel=whitelabel):
        result.billed += 1
        # One a person entered in Xero is an Arena credit note with its Xero id (source_id), found by it.
        theirs = xero_notes_by_id.get(note.source_id) if note.source_id else xero_notes.get(note.number)
        if theirs is None:
            result.lost.append(f"credit note {note.number}")
            continue
        result.in_xero += 1
        if (money(theirs["Total"]), money(theirs["RemainingCredit"])) != (money(note.total), money(note.unallocated)):
            result.wrong.append(
                f"{note.number}: Arena {note.total} with {note.unallocated} left, Xero {theirs['Total']}"
                f" with {theirs['RemainingCredit']} left"
            )

    payments = [p for p in org.payments() if p.get("Status") != "DELETED"]
    # Payments a person entered in Xero are Arena payments with their Xero id (source_id), found by it.
    entered_in_xero = set(
        Payment.objects.filter(whitelabel=whitelabel, source=Payment.Source.XERO).values_list("source_id", flat=True)
    )
    live_ids = {p["PaymentID"].lower() for p in payments}
    references = Counter(p.get("Reference") for p in payments if p["PaymentID"].lower() not in entered_in_xero)
    result.duplicates += [f"payment {r}" for r, count in references.items() if count > 1]
    for allocation in Allocation.objects.filter(
        invoice__whitelabel=whitelabel, source=Allocation.Source.PAYMENT
    ).select_related("payment__receipt", "invoice"):
        reference = f"{allocation.payment.receipt.number} {allocation.invoice.number}"
        if allocation.payment.source == Payment.Source.XERO:
            reference = allocation.payment.source_id
            references = references + Counter({reference: 1}) if reference in live_ids else references
        if allocation.reversed_at is not None:
            if reference in references:
                result.wrong.append(f"payment {reference} reversed in Arena, still in Xero")
            continue
        result.billed += 1
        if reference not in references:
            result.lost.append(f"payment {reference}")
        else:
            result.in_xero += 1
    if whitelabel.accounting_settings.payment_type == "postpaid":
        for part in RefundPart.objects.filter(refund__whitelabel=whitelabel).select_related(
            "refund", "payment__receipt", "credit_note"
        ):
            result.billed += 1
            source = part.payment.receipt.number if part.payment_id else part.credit_note.number
            if f"{part.refund.number} {source}" in references:
                result.in_xero += 1
            else:
                result.lost.append(f"refund {part.refund.number} {source}")

    credit_in_xero = Counter()
    for credit in [*org.overpayments(), *org.prepayments(), *org.credit_notes()]:
        if credit.get("Status") not in ("VOIDED", "DELETED"):
            credit_in_xero[credit["Contact"]["ContactID"]] += money(credit.get("RemainingCredit"))
    contact_ids = {c.get("ContactNumber"): c["ContactID"] for c in org.contacts()}
    for customer in customers:
        arena_credit = money(customer_credit(customer))
        xero_credit = credit_in_xero.get(contact_ids.get(customer.account_number), Decimal("0.00"))
        if whitelabel.accounting_settings.payment_type == "postpaid" and arena_credit != xero_credit:
            result.wrong.append(f"{customer.account_number} credit: Arena {arena_credit}, Xero {xero_credit}")

    live = [t for t in org.bank_transactions() if t.get("Status") != "DELETED"]
    receipts = Counter(t.get("Reference") for t in live if t.get("Type") == "RECEIVE")
    refunds = Counter(t.get("Reference") for t in live if t.get("Type") == "SPEND")
    result.duplicates += [f"receipt {r}" for r, count in receipts.items() if count > 1]
    result.duplicates += [f"refund receipt {r}" for r, count in refunds.items() if count > 1]
    if whitelabel.accounting_settings.payment_type == "prepaid":
        for receipt in Receipt.objects.filter(whitelabel=whitelabel).select_related("payment"):
            if receipt.payment.reversed_at is not None:
                if receipt.number in receipts:
                    result.wrong.append(f"receipt {receipt.number} reversed in Arena, still in Xero")
                continue
            result.billed += 1
            if receipt.number in receipts:
                result.in_xero += 1
            else:
                result.lost.append(f"receipt {receipt.number}")
        for refund in Refund.objects.filter(whitelabel=whitelabel):
            result.billed += 1
            if refund.number in refunds:
                result.in_xero += 1
            else:
                result.lost.append(f"refund receipt {refund.number}")
    return result


def wait_for_books(xero, whitelabel, *, timeout=90, tenant_name=None) -> Comparison:
    """Wait for the outbox to settle, then compare the books."""
    outbox_settled(whitelabel, timeout=timeout)
    return compare_books(xero, whitelabel, tenant_name=tenant_name)


def xero_calls(xero, *, method: str | None = None, path_end: str | None = None, status: int | None = None) -> list:
    return [
        r
        for r in xero.requests_log()
        if r["path"].startswith("/api.xro/")
        and (method is None or r["method"] == method)
        and (path_end is None or r["path"].endswith(path_end))
        and (status is None or r["status"] == status)
    ]


def assert_no_drift(whitelabel) -> None:
    """xero_reconcile's comparison agrees: once the books match, it reports no difference (no false drift)."""
    from accounting import reconcile

    report = reconcile.whitelabel_reconcile(whitelabel=whitelabel)
    assert not report.differences, [d.as_dict() for d in report.differences]
