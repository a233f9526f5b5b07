"""Drift detection: compare a whitelabel's books in Arena with its Xero organisation's (issue 11).

Arena pushes, but a person can still change Xero's books underneath (void or edit an invoice, delete a
payment, archive the revenue account or a contact, merge contacts), and a record may have been sent before
a bug was fixed. `whitelabel_reconcile` reads Xero's side back page by page through the rate limiter
(`If-Modified-Since` with `since`), `books_compare` compares it with Arena per record and per customer and
returns typed `Difference`s, and the service then

- flags the sync records a person changed in Xero (`SyncRecord.changed_in_xero_at`): reported, never
  overwritten, and kept until someone resolves them;
- with `fix`, sends again what Xero lacks, and only that: each such record becomes a new version whose
  outcome is unknown, so the engine looks it up in Xero first and creates only what is really missing.

Only what Arena has sent to this organisation is compared (status sent). Records on their way, failed or
skipped are counted as "not in Xero yet" (the sync card and resync_xero deal with those), and amounts that
such records would change (an invoice's amount due, a customer's credit) are not compared while they are.
Webhooks use the same checks on the one invoice or contact Xero says changed (`records_check_in_xero`).
"""

import datetime
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from decimal import Decimal

from django.db import models, transaction
from django.utils import timezone

from payments.models import (
    Allocation,
    CreditNote,
    CreditNoteAllocation,
    Customer,
    Invoice,
    Payment,
    Receipt,
    Refund,
    RefundPart,
    Whitelabel,
)

from . import services
from .errors import NotConnected
from .models import AccountingSettings, Reconciliation, SyncRecord, XeroConnection, XeroWebhookEvent
from .sync import engine, outbox, payloads
from .xero import client
from .xero.errors import XeroRateLimited, XeroUnavailable

logger = logging.getLogger(__name__)
RecordKind, Status = SyncRecord.Kind, SyncRecord.Status
# Xero's clock and ours differ a little, and UpdatedDateUTC is when Xero saved a change: ask for a margin more.
MODIFIED_SINCE_MARGIN = datetime.timedelta(hours=1)
LOOK_UP_CHUNK = 25  # ids, numbers or references per look-up call
RATE_LIMIT_MAX_SLEEP = 60.0
UNAVAILABLE_RETRIES = 3
ZERO = Decimal("0.00")


class DriftKind(models.TextChoices):
    """What kind of difference; the README's table says what each means for a support person."""

    MISSING_IN_XERO = "missing_in_xero", "missing in Xero"
    EXTRA_IN_XERO = "extra_in_xero", "extra in Xero"
    AMOUNT_DIFFERS = "amount_differs", "amount differs"
    STATUS_DIFFERS = "status_differs", "status differs"
    CHANGED_IN_XERO = "changed_in_xero", "changed in Xero after sending"


@dataclass(frozen=True)
class Difference:
    """One way Xero's books differ from Arena's.

    `by_person`: the difference came from a change made in Xero after Arena sent the record (it is flagged on
    the record and never overwritten). `fixable`: Xero lacks the record, and `--fix` sends it again.
    """

    kind: str
    what: str  # contact, invoice, void, payment, overpayment, credit allocation, receipt, refund receipt, credit, ...
    label: str  # what a person calls it: INV-000042, C-1001, "revenue account 200"
    detail: str  # in words, for a support person
    customer: str = ""
    arena: str = ""  # Arena's value, e.g. AUTHORISED or 110.00
    xero: str = ""  # Xero's value
    arena_id: str = ""  # e.g. "invoice 42"
    xero_id: str = ""
    record_id: int | None = None  # the sync record
    by_person: bool = False
    fixable: bool = False

    @property
    def kind_label(self) -> str:
        return DriftKind(self.kind).label

    def as_dict(self) -> dict:
        return {**asdict(self), "kind_label": self.kind_label}


@dataclass
class XeroBooks:
    """What was read from one organisation, in Xero's wire shape. `parts`: the collections read (a webhook
    reads only the invoices or contacts it names, and only those are compared)."""

    parts: set[str] = field(default_factory=set)
    accounts: list[dict] = field(default_factory=list)
    contacts: list[dict] = field(default_factory=list)
    invoices: list[dict] = field(default_factory=list)
    payments: list[dict] = field(default_factory=list)
    overpayments: list[dict] = field(default_factory=list)
    credit_notes: list[dict] = field(default_factory=list)
    receipts: list[dict] = field(default_factory=list)

    def add(self, part: str, rows: list[dict], id_field: str) -> None:
        """Add rows not already there (look-ups may find what a listing already had)."""
        known = {_key(r.get(id_field)) for r in getattr(self, part)}
        getattr(self, part).extend(r for r in rows if _key(r.get(id_field)) not in known)


@dataclass
class Comparison:
    differences: list[Difference] = field(default_factory=list)
    compared: Counter = field(default_factory=Counter)
    not_sent: Counter = field(default_factory=Counter)  # records of the scope not sent, by status: not compared

    def add(self, difference: Difference) -> None:
        self.differences.append(difference)


# Reading Xero --------------------------------------------------------------------------------------------

Progress = Callable[[str], None]

LISTINGS = [
    ("contacts", client.contacts_page, "ContactID"),
    ("invoices", client.invoices_page, "InvoiceID"),
    ("payments", client.payments_page, "PaymentID"),
    ("overpayments", client.overpayments_page, "OverpaymentID"),
    ("credit_notes", client.credit_notes_page, "CreditNoteID"),
    ("receipts", client.receipts_page, "BankTransactionID"),
]


class XeroReader:
    """Reads one organisation through services.xero_call (limiter, token refresh). A batch job may wait:
    when the limiter or Xero says "later" it sleeps (at most a minute at a time) and asks again."""

    def __init__(self, connection: XeroConnection, *, progress: Progress | None = None, sleep=time.sleep):
        self.connection, self.progress, self.sleep = connection, progress or (lambda message: None), sleep
        self.calls = 0

    def call(self, fn: Callable[[client.Credentials], list[dict]]) -> list[dict]:
        failures = 0
        while True:
            try:
                self.calls += 1
                return services.xero_call(self.connection, fn, tenant_id=self.connection.tenant_id)
            except XeroRateLimited as exc:
                self.progress(f"waiting {exc.retry_after:.0f}s for Xero's limits")
                self.sleep(min(max(exc.retry_after, 0.1), RATE_LIMIT_MAX_SLEEP))
            except XeroUnavailable:
                failures += 1
                if failures > UNAVAILABLE_RETRIES:
                    raise
                self.sleep(2.0**failures)

    def listing(self, part: str, page_fn, *, modified_since: datetime.datetime | None) -> list[dict]:
        rows, page = [], 1
        while True:
            batch = self.call(lambda creds, p=page: page_fn(creds, page=p, modified_since=modified_since))
            rows += batch
            self.progress(f"{part}: {len(rows)} read")
            if len(batch) < client.XERO_PAGE_SIZE:
                return rows
            page += 1

    def books(self, *, since: datetime.datetime | None) -> XeroBooks:
        """The organisation's accounts and (modified since `since`, or all) contacts, sales invoices, payments,
        overpayments and receipts."""
        modified_since = since - MODIFIED_SINCE_MARGIN if since else None
        books = XeroBooks(parts={"accounts", *(part for part, _, _ in LISTINGS)})
        books.accounts = self.call(client.accounts_list)
        for part, page_fn, _ in LISTINGS:
            setattr(books, part, self.listing(part, page_fn, modified_since=modified_since))
        return books

    def chunked(self, fn, keys: list[str]) -> list[dict]:
        rows = []
        keys = sorted(set(keys))
        for start in range(0, len(keys), LOOK_UP_CHUNK):
            part = keys[start : start + LOOK_UP_CHUNK]
            rows += self.call(lambda creds, part=part: fn(creds, part))
        return rows


# Comparing -----------------------------------------------------------------------------------------------


def _key(value) -> str:
    return str(value or "").lower()


def money(value) -> Decimal:
    return Decimal(str(value if value not in (None, "") else 0)).quantize(Decimal("0.01"))


def _live(rows: list[dict], dead: tuple[str, ...]) -> list[dict]:
    return [r for r in rows if r.get("Status") not in dead]


class XeroIndex:
    """Xero's records by id, number and reference."""

    def __init__(self, books: XeroBooks):
        self.books = books
        self.accounts = {_key(a.get("Code")): a for a in books.accounts if a.get("Code")}
        self.contacts = {_key(c.get("ContactID")): c for c in books.contacts}
        self.contacts_by_number = defaultdict(list)
        for contact in books.contacts:
            if contact.get("ContactNumber"):
                self.contacts_by_number[contact["ContactNumber"]].append(contact)
        sales = [i for i in books.invoices if i.get("Type", "ACCREC") == "ACCREC"]
        self.invoices = {_key(i.get("InvoiceID")): i for i in sales}
        self.invoices_by_number = defaultdict(list)
        for invoice in sales:
            self.invoices_by_number[invoice.get("InvoiceNumber")].append(invoice)
        self.payments = {_key(p.get("PaymentID")): p for p in books.payments}
        self.payments_by_reference = defaultdict(list)
        for payment in books.payments:
            self.payments_by_reference[payment.get("Reference")].append(payment)
        self.overpayments = {_key(o.get("OverpaymentID")): o for o in books.overpayments}
        self.overpayments_by_contact = defaultdict(list)
        for overpayment in books.overpayments:
            self.overpayments_by_contact[_key((overpayment.get("Contact") or {}).get("ContactID"))].append(overpayment)
        self.credit_notes = {_key(c.get("CreditNoteID")): c for c in books.credit_notes}
        self.credit_notes_by_contact = defaultdict(list)
        for note in books.credit_notes:
            self.credit_notes_by_contact[_key((note.get("Contact") or {}).get("ContactID"))].append(note)
        # The bank transactions read: money received (receipts) and money paid back (refund receipts).
        self.receipts, self.receipts_by_reference = self._bank_transactions(books.receipts, "RECEIVE")
        self.refund_receipts, self.refund_receipts_by_reference = self._bank_transactions(books.receipts, "SPEND")

    @staticmethod
    def _bank_transactions(rows: list[dict], type_: str) -> tuple[dict, dict]:
        of_type = [t for t in rows if t.get("Type", "RECEIVE") == type_]
        by_reference = defaultdict(list)
        for row in of_type:
            by_reference[row.get("Reference")].append(row)
        return {_key(t.get("BankTransactionID")): t for t in of_type}, by_reference


class ArenaBooks:
    """What Arena has for one whitelabel and organisation: the sync records and the billing rows they stand for.

    `about`: only what these sync records' checks need (a webhook's invoices and contacts: their payments,
    credit, void and customer); None: the whole whitelabel.
    """

    def __init__(self, whitelabel: Whitelabel, tenant_id: str, *, about: list[SyncRecord] | None = None):
        self.whitelabel, self.tenant_id = whitelabel, tenant_id
        self.accounting = AccountingSettings.objects.filter(whitelabel=whitelabel).first()
        related = models.Q() if about is None else _related(about)
        records = list(SyncRecord.objects.filter(related, whitelabel=whitelabel))
        self.records = {(r.kind, r.object_id): r for r in records}
        self.by_kind = defaultdict(list)
        for record in records:
            self.by_kind[record.kind].append(record)
        self.customers = Customer.objects.in_bulk([r.object_id for r in self.by_kind[RecordKind.CONTACT]])
        self.invoices = Invoice.objects.select_related("customer").in_bulk(
            [r.object_id for r in self.by_kind[RecordKind.INVOICE]]
        )
        money_kinds = (RecordKind.PAYMENT, RecordKind.CREDIT_ALLOCATION)
        allocation_ids = [r.object_id for kind in money_kinds for r in self.by_kind[kind]]
        self.allocations = Allocation.objects.select_related(
            "payment__receipt", "payment__customer", "invoice__customer"
        ).in_bulk(allocation_ids)
        self.allocations_of_invoice, self.credit_of_customer = defaultdict(list), defaultdict(list)
        for allocation in self.allocations.values():
            self.allocations_of_invoice[allocation.invoice_id].append(allocation)
            if allocation.source == Allocation.Source.CREDIT:
                self.credit_of_customer[allocation.payment.customer_id].append(allocation)
        self.payment_ids = {_key(r.xero_id) for r in self.by_kind[RecordKind.PAYMENT] if r.xero_id}
        self.payments = (
            Payment.objects.select_related("receipt", "customer")
            .prefetch_related("allocations")
            .in_bulk([r.object_id for r in self.by_kind[RecordKind.OVERPAYMENT]])
        )
        self.overpayments_of_customer = defaultdict(list)
        for payment in self.payments.values():
            self.overpayments_of_customer[payment.customer_id].append(payment)
        self.receipts = Receipt.objects.select_related("payment__customer").in_bulk(
            [r.object_id for r in self.by_kind[RecordKind.RECEIPT]]
        )
        # Money flowing back: credit notes and what they paid, refunds, reversed payments.
        self.credit_notes = CreditNote.objects.select_related("customer").in_bulk(
            [r.object_id for r in self.by_kind[RecordKind.CREDIT_NOTE]]
        )
        self.credit_notes_of_customer = defaultdict(list)
        for note in self.credit_notes.values():
            self.credit_notes_of_customer[note.customer_id].append(note)
        self.note_allocations = CreditNoteAllocation.objects.select_related("credit_note__customer", "invoice").in_bulk(
            [r.object_id for r in self.by_kind[RecordKind.CREDIT_NOTE_ALLOCATION]]
        )
        self.note_allocations_of_invoice, self.note_allocations_of_customer = defaultdict(list), defaultdict(list)
        for allocation in self.note_allocations.values():
            self.note_allocations_of_invoice[allocation.invoice_id].append(allocation)
            self.note_allocations_of_customer[allocation.credit_note.customer_id].append(allocation)
        self.refund_parts = RefundPart.objects.select_related("refund", "payment", "credit_note").in_bulk(
            [r.object_id for r in self.by_kind[RecordKind.REFUND]]
        )
        self.refunds_of_customer = defaultdict(list)
        for part in self.refund_parts.values():
            self.refunds_of_customer[part.refund.customer_id].append(part)
        self.refunds = Refund.objects.select_related("customer").in_bulk(
            [r.object_id for r in self.by_kind[RecordKind.REFUND_RECEIPT]]
        )
        # For extras: only with the whole whitelabel.
        self.invoice_numbers, self.receipt_numbers, self.refund_numbers = set(), set(), set()
        if about is None:
            self.invoice_numbers = set(Invoice.objects.filter(whitelabel=whitelabel).values_list("number", flat=True))
            self.receipt_numbers = set(Receipt.objects.filter(whitelabel=whitelabel).values_list("number", flat=True))
            self.refund_numbers = set(Refund.objects.filter(whitelabel=whitelabel).values_list("number", flat=True))

    def record(self, kind: str, object_id: int) -> SyncRecord | None:
        return self.records.get((kind, object_id))

    def sent(self, record: SyncRecord | None) -> bool:
        """Arena has sent it to this organisation, and nothing newer is on its way."""
        return record is not None and record.status == Status.SENT and record.xero_tenant_id == self.tenant_id

    @staticmethod
    def in_flight(record: SyncRecord | None) -> bool:
        """On its way, or failed and to be tried again: Xero may or may not have it yet."""
        return record is not None and record.status in (Status.PENDING, Status.WAITING, Status.FAILED)

    def reversed_in_xero(self, kind: str, object_id: int) -> bool | None:
        """Arena reversed this money: True once the reversal (`kind`) was sent, None while it is on its way
        (or not yet recorded), so the money's own checks expect it gone, or leave it alone."""
        record = self.record(kind, object_id) or SyncRecord.objects.filter(kind=kind, object_id=object_id).first()
        if self.sent(record) or (record is not None and record.status == Status.SKIPPED):
            return True
        return None

    def contact_id(self, customer_id: int) -> str:
        record = self.record(RecordKind.CONTACT, customer_id)
        return record.xero_id if self.sent(record) else ""

    @property
    def postpaid(self) -> bool:
        return self.accounting is None or self.accounting.payment_type == AccountingSettings.PaymentType.POSTPAID


def _related(records: list[SyncRecord]) -> models.Q:
    """The sync records an invoice's or contact's checks read: the invoice's payments (and their reversals),
    credit, credit notes and void, and the customer's contact, overpayments, credit notes and refunds."""
    invoices = [r.object_id for r in records if r.kind == RecordKind.INVOICE]
    customers = {r.object_id for r in records if r.kind == RecordKind.CONTACT}
    customers |= set(Invoice.objects.filter(pk__in=invoices).values_list("customer_id", flat=True))
    allocations = list(Allocation.objects.filter(invoice_id__in=invoices).values_list("pk", "payment_id"))
    allocation_ids = [a for a, _ in allocations]
    return (
        models.Q(kind__in=[RecordKind.INVOICE, RecordKind.INVOICE_VOID], object_id__in=invoices)
        | models.Q(
            kind__in=[RecordKind.PAYMENT, RecordKind.CREDIT_ALLOCATION, RecordKind.PAYMENT_REVERSAL],
            object_id__in=allocation_ids,
        )
        | models.Q(
            kind__in=[RecordKind.OVERPAYMENT, RecordKind.DEPOSIT_REVERSAL], object_id__in={p for _, p in allocations}
        )
        | models.Q(kind=RecordKind.CONTACT, object_id__in=customers)
        | models.Q(
            kind=RecordKind.CREDIT_NOTE,
            object_id__in=CreditNote.objects.filter(customer_id__in=customers).values("id"),
        )
        | models.Q(
            kind=RecordKind.CREDIT_NOTE_ALLOCATION,
            object_id__in=CreditNoteAllocation.objects.filter(
                models.Q(invoice_id__in=invoices) | models.Q(credit_note__customer_id__in=customers)
            ).values("id"),
        )
        | models.Q(
            kind=RecordKind.REFUND,
            object_id__in=RefundPart.objects.filter(refund__customer_id__in=customers).values("id"),
        )
    )


def books_compare(
    whitelabel: Whitelabel, tenant_id: str, books: XeroBooks, *, scope: set[int] | None = None, arena=None
) -> Comparison:
    """Every difference between Xero's `books` and what Arena sent to organisation `tenant_id`, for the sync
    records in `scope` (their ids; None: every record), and for the parts of Xero's books that were read."""
    arena = arena or ArenaBooks(whitelabel, tenant_id)
    xero = XeroIndex(books)
    result = Comparison()
    in_scope = [r for r in arena.records.values() if scope is None or r.pk in scope]
    result.not_sent.update(r.status for r in in_scope if r.status != Status.SENT)
    sent = defaultdict(list)
    for record in in_scope:
        if arena.sent(record):
            sent[record.kind].append(record)
    if "accounts" in books.parts:
        _check_settings(arena, xero, result)
    if "contacts" in books.parts:
        for record in sent[RecordKind.CONTACT]:
            _check_contact(arena, xero, record, result)
    if "invoices" in books.parts:
        for record in sent[RecordKind.INVOICE]:
            _check_invoice(arena, xero, record, result, payments_read="payments" in books.parts)
        for record in sent[RecordKind.INVOICE_VOID]:
            _check_void(arena, xero, record, result)
        _extra_invoices(arena, xero, result)
    if "payments" in books.parts:
        for record in sent[RecordKind.PAYMENT]:
            _check_payment(arena, xero, record, result)
        _extra_payments(arena, xero, result)
    if "credit_notes" in books.parts and arena.postpaid:
        for record in sent[RecordKind.CREDIT_NOTE]:
            _check_credit_note(arena, xero, record, result)
        for record in sent[RecordKind.CREDIT_NOTE_ALLOCATION]:
            _check_credit_note_allocation(arena, xero, record, result)
    if "overpayments" in books.parts and "credit_notes" in books.parts and arena.postpaid:
        for record in sent[RecordKind.OVERPAYMENT]:
            _check_overpayment(arena, xero, record, result)
        for record in sent[RecordKind.CREDIT_ALLOCATION]:
            _check_credit_allocation(arena, xero, record, result)
        for customer_id in sorted(_credit_customers(arena, sent)):
            _check_credit(arena, xero, customer_id, result)
    if "receipts" in books.parts and not arena.postpaid:
        for record in sent[RecordKind.RECEIPT]:
            _check_receipt(arena, xero, record, result)
        for record in sent[RecordKind.REFUND_RECEIPT]:
            _check_refund_receipt(arena, xero, record, result)
        _extra_receipts(arena, xero, result)
        _extra_refund_receipts(arena, xero, result)
    return result


def _credit_customers(arena: ArenaBooks, records_by_kind: dict) -> set[int]:
    """The customers whose credit the given records change (overpayments, credit applied, credit notes,
    refunds)."""
    customers = {
        arena.payments[r.object_id].customer_id
        for r in records_by_kind[RecordKind.OVERPAYMENT]
        if r.object_id in arena.payments
    }
    customers |= {
        arena.allocations[r.object_id].payment.customer_id
        for r in records_by_kind[RecordKind.CREDIT_ALLOCATION]
        if r.object_id in arena.allocations
    }
    customers |= {
        arena.credit_notes[r.object_id].customer_id
        for r in records_by_kind[RecordKind.CREDIT_NOTE]
        if r.object_id in arena.credit_notes
    }
    customers |= {
        arena.refund_parts[r.object_id].refund.customer_id
        for r in records_by_kind[RecordKind.REFUND]
        if r.object_id in arena.refund_parts
    }
    return customers


def _check_settings(arena: ArenaBooks, xero: XeroIndex, result: Comparison) -> None:
    """The accounts the whitelabel's settings name must exist and be active, or Xero refuses what is sent next."""
    accounting = arena.accounting
    if accounting is None or not accounting.uses_xero:
        return
    needs = [("revenue account", accounting.revenue_code, "new invoices and receipts")]
    needs.append(("bank account", accounting.bank_account_code, "new payments, credit and receipts"))
    for name, code, refused in needs:
        if not code:
            continue
        result.compared["settings"] += 1
        account = xero.accounts.get(_key(code))
        label = f"{name} {code}"
        if account is None:
            detail = f"Account {code} no longer exists in Xero: Xero will refuse {refused}."
            xero_status, xero_id = "none", ""
        elif account.get("Status") != "ACTIVE":
            detail = (
                f"Account {code} ({account.get('Name')}) is {str(account.get('Status')).lower()} in Xero: Xero will "
                f"refuse {refused} until it is restored there or another code is chosen on the settings page."
            )
            xero_status, xero_id = str(account.get("Status")), str(account.get("AccountID") or "")
        else:
            continue
        result.add(
            Difference(
                DriftKind.STATUS_DIFFERS,
                "setting",
                label,
                detail,
                arena="ACTIVE",
                xero=xero_status,
                arena_id=f"accounting settings of {arena.whitelabel.slug}",
                xero_id=xero_id,
                by_person=True,
            )
        )


def _check_contact(arena: ArenaBooks, xero: XeroIndex, record: SyncRecord, result: Comparison) -> None:
    customer = arena.customers.get(record.object_id)
    if customer is None:
        return
    result.compared["contacts"] += 1
    same_number = _live(xero.contacts_by_number.get(customer.account_number, []), ("ARCHIVED",))
    contact = xero.contacts.get(_key(record.xero_id)) or next(iter(same_number), None)
    common = {
        "customer": customer.account_number,
        "arena_id": f"customer {customer.pk}",
        "record_id": record.pk,
    }
    if contact is None:
        result.add(
            Difference(
                DriftKind.MISSING_IN_XERO,
                "contact",
                customer.account_number,
                "Arena sent this customer's contact, but Xero has no such contact.",
                xero_id=record.xero_id,
                fixable=True,
                **common,
            )
        )
        return
    common["xero_id"] = str(contact.get("ContactID") or "")
    if len(same_number) > 1:
        result.add(
            Difference(
                DriftKind.EXTRA_IN_XERO,
                "contact",
                customer.account_number,
                f"Xero has {len(same_number)} active contacts numbered {customer.account_number}.",
                arena="1",
                xero=str(len(same_number)),
                **common,
            )
        )
    if contact.get("ContactStatus") == "ARCHIVED":
        merged_into = xero.contacts.get(_key(contact.get("MergedToContactID")))
        if contact.get("MergedToContactID"):
            name = (merged_into or {}).get("Name") or contact["MergedToContactID"]
            detail = f"Merged into contact '{name}' in Xero; the contact is archived there."
        else:
            detail = "Archived in Xero: Xero refuses new invoices for this customer until it is restored."
        result.add(
            Difference(
                DriftKind.STATUS_DIFFERS,
                "contact",
                customer.account_number,
                detail,
                arena="ACTIVE",
                xero="ARCHIVED",
                by_person=True,
                **common,
            )
        )
        return
    sent_name = (record.payload or {}).get("Name")
    if sent_name and contact.get("Name") != sent_name:
        result.add(
            Difference(
                DriftKind.CHANGED_IN_XERO,
                "contact",
                customer.account_number,
                f"Renamed in Xero from '{sent_name}' to '{contact.get('Name')}'.",
                arena=sent_name,
                xero=str(contact.get("Name")),
                by_person=True,
                **common,
            )
        )


def _removed_payments(arena: ArenaBooks, xero: XeroIndex, invoice: Invoice, found: dict) -> list[tuple]:
    """Payments Arena sent on this invoice that Xero no longer counts: (record, allocation, xero payment or None)."""
    live_on_invoice = {_key(p.get("PaymentID")) for p in found.get("Payments") or []}
    removed = []
    for allocation in arena.allocations_of_invoice.get(invoice.pk, []):
        record = arena.record(RecordKind.PAYMENT, allocation.pk)
        if allocation.source != Allocation.Source.PAYMENT or not arena.sent(record) or not record.xero_id:
            continue
        if allocation.reversed_at is not None:
            continue  # Arena deleted it (a reversed payment): not a person's doing
        payment = xero.payments.get(_key(record.xero_id))
        if payment is not None and payment.get("Status") == "DELETED":
            removed.append((record, allocation, payment))
        elif "Payments" in found and _key(record.xero_id) not in live_on_invoice and payment is None:
            removed.append((record, allocation, None))
    return removed


def _check_invoice(
    arena: ArenaBooks,
    xero: XeroIndex,
    record: SyncRecord,
    result: Comparison,
    *,
    payments_read: bool,
    from_event: bool = False,
) -> None:
    """`from_event`: Xero said it changed the invoice (a webhook), so an amount due that differs with nothing of
    Arena's on its way was changed in Xero."""
    invoice = arena.invoices.get(record.object_id)
    if invoice is None:
        return
    result.compared["invoices"] += 1
    numbered = xero.invoices_by_number.get(invoice.number, [])
    live = _live(numbered, ("DELETED",))
    found = xero.invoices.get(_key(record.xero_id)) or next(iter(live), None) or next(iter(numbered), None)
    common = {"customer": invoice.customer.account_number, "arena_id": f"invoice {invoice.pk}", "record_id": record.pk}
    if found is None:
        result.add(
            Difference(
                DriftKind.MISSING_IN_XERO,
                "invoice",
                invoice.number,
                "Arena sent this invoice, but Xero has no invoice with its number.",
                arena=str(money(invoice.total)),
                xero_id=record.xero_id,
                fixable=True,
                **common,
            )
        )
        return
    common["xero_id"] = str(found.get("InvoiceID") or "")
    if len(live) > 1:
        result.add(
            Difference(
                DriftKind.EXTRA_IN_XERO,
                "invoice",
                invoice.number,
                f"Xero has {len(live)} invoices numbered {invoice.number}.",
                arena="1",
                xero=str(len(live)),
                **common,
            )
        )
    status = found.get("Status")
    void_record = arena.record(RecordKind.INVOICE_VOID, invoice.pk)
    arena_status = "PAID" if invoice.amount_due == 0 else "AUTHORISED"
    arena_status = "VOIDED" if invoice.status == Invoice.Status.VOID else arena_status
    if status in ("VOIDED", "DELETED"):
        if not (invoice.status == Invoice.Status.VOID and (arena.sent(void_record) or arena.in_flight(void_record))):
            result.add(
                Difference(
                    DriftKind.STATUS_DIFFERS,
                    "invoice",
                    invoice.number,
                    f"{status.title()} in Xero after Arena sent it; Arena still bills it.",
                    arena=arena_status,
                    xero=status,
                    by_person=True,
                    **common,
                )
            )
        return
    if invoice.status == Invoice.Status.VOID:
        return  # the void is checked on its own record (or is on its way)
    total, sent_total = money(found.get("Total")), (record.response or {}).get("Total")
    edited = sent_total is not None and money(sent_total) != total
    if total != money(invoice.total):
        detail = (
            f"Total edited in Xero from {money(sent_total)} to {total}."
            if edited
            else f"Xero's total {total} is not Arena's {money(invoice.total)} (sent so, or changed in Arena since)."
        )
        result.add(
            Difference(
                DriftKind.AMOUNT_DIFFERS,
                "invoice",
                invoice.number,
                detail,
                arena=str(money(invoice.total)),
                xero=str(total),
                by_person=edited,
                **common,
            )
        )
    contact_id = arena.contact_id(invoice.customer_id)
    found_contact = (found.get("Contact") or {}).get("ContactID")
    if contact_id and found_contact and _key(found_contact) != _key(contact_id):
        name = (found.get("Contact") or {}).get("Name") or found_contact
        result.add(
            Difference(
                DriftKind.CHANGED_IN_XERO,
                "invoice",
                invoice.number,
                f"Moved to another contact in Xero ('{name}'), e.g. by merging contacts.",
                arena=contact_id,
                xero=str(found_contact),
                by_person=True,
                **common,
            )
        )
    removed = _removed_payments(arena, xero, invoice, found)
    if not payments_read:
        for payment_record, allocation, payment in removed:
            result.add(_payment_deleted(payment_record, allocation, payment))
    added = _added_payments(arena, invoice, found)
    uncredited = _removed_credit(arena, xero, invoice)
    _check_amount_due(arena, invoice, found, common, removed + uncredited, added, edited or from_event, result)


def _removed_credit(arena: ArenaBooks, xero: XeroIndex, invoice: Invoice) -> list[tuple]:
    """Credit Arena applied to this invoice that its overpayment in Xero no longer lists."""
    removed = []
    for allocation in arena.allocations_of_invoice.get(invoice.pk, []):
        record = arena.record(RecordKind.CREDIT_ALLOCATION, allocation.pk)
        credit = arena.record(RecordKind.OVERPAYMENT, allocation.payment_id)
        if not (arena.sent(record) and record.xero_id and arena.sent(credit)):
            continue
        overpayment = xero.overpayments.get(_key(credit.xero_id))
        if overpayment is None or overpayment.get("Status") in ("VOIDED", "DELETED"):
            continue
        if _key(record.xero_id) not in {_key(a.get("AllocationID")) for a in overpayment.get("Allocations") or []}:
            removed.append((record, allocation, None))
    return removed


def _added_payments(arena: ArenaBooks, invoice: Invoice, found: dict) -> list[dict]:
    """Payments on the invoice in Xero that Arena did not send (entered in Xero by a person)."""
    ours = arena.payment_ids
    references = {payloads.payment_reference(a) for a in arena.allocations_of_invoice.get(invoice.pk, [])}
    return [
        p
        for p in found.get("Payments") or []
        if _key(p.get("PaymentID")) not in ours and p.get("Reference") not in references
    ]


def _check_amount_due(
    arena, invoice: Invoice, found: dict, common: dict, removed, added, by_person: bool, result
) -> None:
    """What Xero should still be owed, from what Arena sent (payments and credit on their way don't count yet)."""
    allocations = arena.allocations_of_invoice.get(invoice.pk, [])
    kinds = {Allocation.Source.PAYMENT: RecordKind.PAYMENT, Allocation.Source.CREDIT: RecordKind.CREDIT_ALLOCATION}
    records = [arena.record(kinds[a.source], a.pk) for a in allocations]
    notes = arena.note_allocations_of_invoice.get(invoice.pk, [])
    note_records = [arena.record(RecordKind.CREDIT_NOTE_ALLOCATION, a.pk) for a in notes]
    reversed_now = {}
    for allocation in allocations:
        if allocation.reversed_at is not None:
            reversed_now[allocation.pk] = arena.reversed_in_xero(RecordKind.PAYMENT_REVERSAL, allocation.pk)
    if any(arena.in_flight(r) for r in records + note_records) or None in reversed_now.values():
        return
    paid = sum(
        (a.amount for a, r in zip(allocations, records, strict=True) if arena.sent(r) and not reversed_now.get(a.pk)),
        Decimal("0"),
    ) + sum((a.amount for a, r in zip(notes, note_records, strict=True) if arena.sent(r)), Decimal("0"))
    expected, due = money(invoice.total - paid), money(found.get("AmountDue"))
    if expected == due or money(found.get("Total")) - money(paid) == due:
        return  # as sent, or only the total differs (reported on its own)
    reasons = []
    if removed:
        reasons.append("payment(s) or credit removed in Xero: " + ", ".join(_money_words(r, a) for r, a, _ in removed))
    if added:
        reasons.append(
            "payment(s) entered in Xero: "
            + ", ".join(f"{money(p.get('Amount'))} ({p.get('Reference')})" for p in added)
        )
    because = "; ".join(reasons) if reasons else "money added or removed in Xero?"
    detail = f"Amount due is {due} in Xero, {expected} as Arena sent it ({because})."
    result.add(
        Difference(
            DriftKind.AMOUNT_DIFFERS,
            "invoice",
            invoice.number,
            detail,
            arena=str(expected),
            xero=str(due),
            by_person=bool(removed or added) or by_person,
            **common,
        )
    )


def _money_words(record: SyncRecord, allocation: Allocation) -> str:
    if record.kind == RecordKind.PAYMENT:
        return f"{money(allocation.amount)} ({payloads.payment_reference(allocation)})"
    return f"{money(allocation.amount)} of credit from {allocation.payment.receipt.number}"


def _payment_deleted(record: SyncRecord, allocation: Allocation, payment: dict | None) -> Difference:
    return Difference(
        DriftKind.CHANGED_IN_XERO,
        "payment",
        payloads.payment_reference(allocation),
        f"Payment of {money(allocation.amount)} on {allocation.invoice.number} deleted in Xero after Arena sent it.",
        customer=allocation.invoice.customer.account_number,
        arena=str(money(allocation.amount)),
        xero="DELETED",
        arena_id=f"allocation {allocation.pk}",
        xero_id=record.xero_id,
        record_id=record.pk,
        by_person=True,
    )


def _check_void(arena: ArenaBooks, xero: XeroIndex, record: SyncRecord, result: Comparison) -> None:
    invoice = (
        arena.invoices.get(record.object_id)
        or Invoice.objects.select_related("customer").filter(pk=record.object_id).first()
    )
    if invoice is None:
        return
    numbered = xero.invoices_by_number.get(invoice.number, [])
    if not numbered or any(i.get("Status") in ("VOIDED", "DELETED") for i in numbered):
        return  # voided; or no invoice at all, which its own record reports
    found = numbered[0]
    result.add(
        Difference(
            DriftKind.MISSING_IN_XERO,
            "void",
            invoice.number,
            "Voided in Arena and the void was sent, but the invoice is not voided in Xero.",
            customer=invoice.customer.account_number,
            arena="VOIDED",
            xero=str(found.get("Status")),
            arena_id=f"invoice {invoice.pk}",
            xero_id=str(found.get("InvoiceID") or ""),
            record_id=record.pk,
            fixable=True,
        )
    )


def _check_payment(arena: ArenaBooks, xero: XeroIndex, record: SyncRecord, result: Comparison) -> None:
    allocation = arena.allocations.get(record.object_id)
    if allocation is None:
        return
    if allocation.reversed_at is not None:
        _check_reversed_payment(arena, xero, record, allocation, result)
        return
    result.compared["payments"] += 1
    reference = payloads.payment_reference(allocation)
    live = _live(xero.payments_by_reference.get(reference, []), ("DELETED",))
    found = xero.payments.get(_key(record.xero_id))
    common = {
        "customer": allocation.invoice.customer.account_number,
        "arena_id": f"allocation {allocation.pk}",
        "record_id": record.pk,
    }
    if found is not None and found.get("Status") == "DELETED" and not live:
        result.add(_payment_deleted(record, allocation, found))
        return
    found = found if found is not None and found.get("Status") != "DELETED" else next(iter(live), None)
    if found is None:
        result.add(
            Difference(
                DriftKind.MISSING_IN_XERO,
                "payment",
                reference,
                f"Arena sent this payment of {money(allocation.amount)}, but Xero has no payment with its reference.",
                arena=str(money(allocation.amount)),
                xero_id=record.xero_id,
                fixable=True,
                **common,
            )
        )
        return
    common["xero_id"] = str(found.get("PaymentID") or "")
    if len(live) > 1:
        result.add(
            Difference(
                DriftKind.EXTRA_IN_XERO,
                "payment",
                reference,
                f"Xero has {len(live)} payments with reference {reference}.",
                arena="1",
                xero=str(len(live)),
                **common,
            )
        )
    if money(found.get("Amount")) != money(allocation.amount):
        result.add(
            Difference(
                DriftKind.AMOUNT_DIFFERS,
                "payment",
                reference,
                f"Xero has {money(found.get('Amount'))}, Arena {money(allocation.amount)}.",
                arena=str(money(allocation.amount)),
                xero=str(money(found.get("Amount"))),
                **common,
            )
        )


def _check_reversed_payment(arena, xero, record: SyncRecord, allocation: Allocation, result: Comparison) -> None:
    """A payment Arena reversed: once the reversal was sent, Xero must have deleted it."""
    if not arena.reversed_in_xero(RecordKind.PAYMENT_REVERSAL, allocation.pk):
        return  # the reversal is on its way
    result.compared["reversed payments"] += 1
    found = xero.payments.get(_key(record.xero_id))
    if found is not None and found.get("Status") != "DELETED":
        reference = payloads.payment_reference(allocation)
        result.add(
            Difference(
                DriftKind.STATUS_DIFFERS,
                "payment",
                reference,
                f"Reversed in Arena ({allocation.payment.reversal_reason}) and the reversal was sent, but Xero "
                "still has the payment.",
                customer=allocation.invoice.customer.account_number,
                arena="DELETED",
                xero=str(found.get("Status")),
                arena_id=f"allocation {allocation.pk}",
                xero_id=record.xero_id,
                record_id=record.pk,
                by_person=True,
            )
        )


def _check_credit_note(arena: ArenaBooks, xero: XeroIndex, record: SyncRecord, result: Comparison) -> None:
    note = arena.credit_notes.get(record.object_id)
    if note is None:
        return
    result.compared["credit notes"] += 1
    found = xero.credit_notes.get(_key(record.xero_id))
    common = {"customer": note.customer.account_number, "arena_id": f"credit note {note.pk}", "record_id": record.pk}
    if found is None:
        result.add(
            Difference(
                DriftKind.MISSING_IN_XERO,
                "credit note",
                note.number,
                f"Arena sent this credit note of {money(note.total)}, but Xero has no such credit note.",
                arena=str(money(note.total)),
                xero_id=record.xero_id,
                fixable=True,
                **common,
            )
        )
        return
    common["xero_id"] = str(found.get("CreditNoteID") or "")
    if found.get("Status") in ("VOIDED", "DELETED"):
        result.add(
            Difference(
                DriftKind.STATUS_DIFFERS,
                "credit note",
                note.number,
                f"{str(found.get('Status')).title()} in Xero after Arena sent it.",
                arena="AUTHORISED",
                xero=str(found.get("Status")),
                by_person=True,
                **common,
            )
        )
    elif money(found.get("Total")) != money(note.total):
        result.add(
            Difference(
                DriftKind.AMOUNT_DIFFERS,
                "credit note",
                note.number,
                f"Xero's credit note is {money(found.get('Total'))}, Arena's {money(note.total)}.",
                arena=str(money(note.total)),
                xero=str(money(found.get("Total"))),
                by_person=True,
                **common,
            )
        )


def _check_overpayment(arena: ArenaBooks, xero: XeroIndex, record: SyncRecord, result: Comparison) -> None:
    payment = arena.payments.get(record.object_id)
    if payment is None:
        return
    if payment.reversed_at is not None:
        return  # the credit went with the reversed payment: counted (or not) in the customer's credit
    result.compared["overpayments"] += 1
    expected = money(payloads.overpayment_amount(payment))
    label = f"credit from {payment.receipt.number}"
    common = {"customer": payment.customer.account_number, "arena_id": f"payment {payment.pk}", "record_id": record.pk}
    found = xero.overpayments.get(_key(record.xero_id))
    if found is None:
        description = payloads.overpayment_description(payment)
        candidates = xero.overpayments_by_contact.get(_key(arena.contact_id(payment.customer_id)), [])
        found = next(
            (o for o in candidates if any(line.get("Description") == description for line in o.get("LineItems") or [])),
            None,
        )
    if found is None:
        result.add(
            Difference(
                DriftKind.MISSING_IN_XERO,
                "overpayment",
                label,
                f"Arena sent {expected} of credit (an overpayment), but Xero has no such overpayment.",
                arena=str(expected),
                xero_id=record.xero_id,
                fixable=True,
                **common,
            )
        )
        return
    common["xero_id"] = str(found.get("OverpaymentID") or "")
    if found.get("Status") in ("VOIDED", "DELETED"):
        result.add(
            Difference(
                DriftKind.CHANGED_IN_XERO,
                "overpayment",
                label,
                f"The credit of {expected} was deleted in Xero after Arena sent it.",
                arena=str(expected),
                xero=str(found.get("Status")),
                by_person=True,
                **common,
            )
        )
    elif money(found.get("Total")) != expected:
        result.add(
            Difference(
                DriftKind.AMOUNT_DIFFERS,
                "overpayment",
                label,
                f"Xero's overpayment is {money(found.get('Total'))}, Arena's credit {expected}.",
                arena=str(expected),
                xero=str(money(found.get("Total"))),
                **common,
            )
        )


def _check_credit_allocation(arena: ArenaBooks, xero: XeroIndex, record: SyncRecord, result: Comparison) -> None:
    """Credit (an overpayment) applied to an invoice: still among the overpayment's allocations in Xero."""
    allocation = arena.allocations.get(record.object_id)
    if allocation is None or not record.xero_id:
        return
    result.compared["credit allocations"] += 1
    credit_record = arena.record(RecordKind.OVERPAYMENT, allocation.payment_id)
    overpayment = xero.overpayments.get(_key(credit_record.xero_id)) if arena.sent(credit_record) else None
    _check_allocated(
        overpayment,
        record,
        result,
        what="credit allocation",
        words=f"Credit of {money(allocation.amount)}",
        amount=allocation.amount,
        invoice=allocation.invoice,
        customer=allocation.payment.customer,
        arena_id=f"allocation {allocation.pk}",
    )


def _check_credit_note_allocation(arena: ArenaBooks, xero: XeroIndex, record: SyncRecord, result: Comparison) -> None:
    """A credit note applied to an invoice: still among the credit note's allocations in Xero."""
    allocation = arena.note_allocations.get(record.object_id)
    if allocation is None or not record.xero_id:
        return
    result.compared["credit note allocations"] += 1
    note = allocation.credit_note
    note_record = arena.record(RecordKind.CREDIT_NOTE, note.pk)
    found = xero.credit_notes.get(_key(note_record.xero_id)) if arena.sent(note_record) else None
    _check_allocated(
        found,
        record,
        result,
        what="credit note allocation",
        words=f"{money(allocation.amount)} of credit note {note.number}",
        amount=allocation.amount,
        invoice=allocation.invoice,
        customer=note.customer,
        arena_id=f"credit note allocation {allocation.pk}",
    )


def _check_allocated(
    credit: dict | None,
    record: SyncRecord,
    result: Comparison,
    *,
    what: str,
    words: str,
    amount: Decimal,
    invoice: Invoice,
    customer: Customer,
    arena_id: str,
) -> None:
    """An allocation Arena sent is still listed in its credit (an overpayment or credit note) in Xero."""
    if credit is None or credit.get("Status") in ("VOIDED", "DELETED"):
        return  # reported on the credit itself
    allocated = {_key(a.get("AllocationID")) for a in credit.get("Allocations") or []}
    if _key(record.xero_id) in allocated:
        return
    result.add(
        Difference(
            DriftKind.CHANGED_IN_XERO,
            what,
            f"{money(amount)} to {invoice.number}",
            f"{words} applied to {invoice.number} was removed in Xero.",
            customer=customer.account_number,
            arena=str(money(amount)),
            xero="none",
            arena_id=arena_id,
            xero_id=record.xero_id,
            record_id=record.pk,
            by_person=True,
        )
    )


def _check_credit(arena: ArenaBooks, xero: XeroIndex, customer_id: int, result: Comparison) -> None:
    """A customer's credit, as Arena sent it: overpayments (less those of reversed payments) and credit notes,
    less the credit applied to invoices and refunded; against the RemainingCredit of the contact's
    overpayments and credit notes in Xero, per currency. Not compared while any of it is on its way."""
    payments = arena.overpayments_of_customer.get(customer_id, [])
    allocations = arena.credit_of_customer.get(customer_id, [])
    notes = arena.credit_notes_of_customer.get(customer_id, [])
    note_allocations = arena.note_allocations_of_customer.get(customer_id, [])
    refunds = arena.refunds_of_customer.get(customer_id, [])
    parts = [
        *[(RecordKind.OVERPAYMENT, p.pk, p.currency, payloads.overpayment_amount(p)) for p in payments],
        *[(RecordKind.CREDIT_ALLOCATION, a.pk, a.payment.currency, -a.amount) for a in allocations],
        *[(RecordKind.CREDIT_NOTE, n.pk, n.currency, n.total) for n in notes],
        *[(RecordKind.CREDIT_NOTE_ALLOCATION, a.pk, a.credit_note.currency, -a.amount) for a in note_allocations],
        *[(RecordKind.REFUND, r.pk, r.refund.currency, -r.amount) for r in refunds],
    ]
    records = [arena.record(kind, object_id) for kind, object_id, _, _ in parts]
    reversed_credit = {
        p.pk: arena.reversed_in_xero(RecordKind.DEPOSIT_REVERSAL, p.pk) for p in payments if p.reversed_at
    }
    contact_id = arena.contact_id(customer_id)
    if not contact_id or any(arena.in_flight(r) for r in records) or None in reversed_credit.values():
        return
    result.compared["customers' credit"] += 1
    expected: Counter = Counter()
    for (kind, object_id, currency, amount), record in zip(parts, records, strict=True):
        if arena.sent(record) and not (kind == RecordKind.OVERPAYMENT and reversed_credit.get(object_id)):
            expected[currency] += money(amount)
    in_xero: Counter = Counter()
    contact = _key(contact_id)
    for credit in [*xero.overpayments_by_contact.get(contact, []), *xero.credit_notes_by_contact.get(contact, [])]:
        if credit.get("Status") in ("AUTHORISED", "PAID"):
            in_xero[credit.get("CurrencyCode") or arena.whitelabel.default_currency] += money(
                credit.get("RemainingCredit")
            )
    customer = arena.customers.get(customer_id) or Customer.objects.get(pk=customer_id)
    by_person = any(d.by_person and d.customer == customer.account_number for d in result.differences)
    for currency in sorted(set(expected) | set(in_xero)):
        ours, theirs = money(expected.get(currency, ZERO)), money(in_xero.get(currency, ZERO))
        if ours != theirs:
            result.add(
                Difference(
                    DriftKind.AMOUNT_DIFFERS,
                    "credit",
                    f"{customer.account_number} credit ({currency})",
                    f"Unallocated credit is {theirs} {currency} in Xero, {ours} as Arena sent it.",
                    customer=customer.account_number,
                    arena=str(ours),
                    xero=str(theirs),
                    arena_id=f"customer {customer_id}",
                    xero_id=contact_id,
                    by_person=by_person,
                )
            )


@dataclass(frozen=True)
class BankTransactionKind:
    """A bank transaction Arena sends for a pre-paid whitelabel: a receipt (money received, RECEIVE) or a
    refund receipt (money paid back, SPEND). Both are found by the Arena number in their Reference."""

    what: str  # as a Difference names it
    arena_name: str  # Arena's object, as in Difference.arena_id
    received: bool  # money in (RECEIVE) or out (SPEND)

    def of(self, xero: "XeroIndex") -> tuple[dict, dict]:
        if self.received:
            return xero.receipts, xero.receipts_by_reference
        return xero.refund_receipts, xero.refund_receipts_by_reference


RECEIPT = BankTransactionKind("receipt", "receipt", received=True)
REFUND_RECEIPT = BankTransactionKind("refund receipt", "refund", received=False)


def _check_receipt(arena: ArenaBooks, xero: XeroIndex, record: SyncRecord, result: Comparison) -> None:
    receipt = arena.receipts.get(record.object_id)
    if receipt is None or receipt.payment.reversed_at is not None:
        return  # a reversed payment's receipt is deleted by its reversal
    result.compared["receipts"] += 1
    payment = receipt.payment
    _check_bank_transaction(
        RECEIPT,
        xero,
        record,
        result,
        number=receipt.number,
        amount=payment.amount,
        customer=payment.customer,
        arena_id=receipt.pk,
    )


def _check_refund_receipt(arena: ArenaBooks, xero: XeroIndex, record: SyncRecord, result: Comparison) -> None:
    refund = arena.refunds.get(record.object_id)
    if refund is None:
        return
    result.compared["refund receipts"] += 1
    _check_bank_transaction(
        REFUND_RECEIPT,
        xero,
        record,
        result,
        number=refund.number,
        amount=refund.amount,
        customer=refund.customer,
        arena_id=refund.pk,
    )


def _check_bank_transaction(
    kind: BankTransactionKind,
    xero: XeroIndex,
    record: SyncRecord,
    result: Comparison,
    *,
    number: str,
    amount: Decimal,
    customer: Customer,
    arena_id: int,
) -> None:
    """One receipt or refund receipt Arena sent: in Xero once, alive, for the same amount."""
    amount = money(amount)
    by_id, by_reference = kind.of(xero)
    common = {"customer": customer.account_number, "arena_id": f"{kind.arena_name} {arena_id}", "record_id": record.pk}
    live = _live(by_reference.get(number, []), ("DELETED", "VOIDED"))
    found = by_id.get(_key(record.xero_id))
    if found is not None and found.get("Status") in ("DELETED", "VOIDED") and not live:
        result.add(
            Difference(
                DriftKind.CHANGED_IN_XERO,
                kind.what,
                number,
                f"{kind.what.capitalize()} of {amount} was deleted in Xero after Arena sent it.",
                arena=str(amount),
                xero=str(found.get("Status")),
                xero_id=record.xero_id,
                by_person=True,
                **common,
            )
        )
        return
    found = found if found is not None and found.get("Status") not in ("DELETED", "VOIDED") else next(iter(live), None)
    if found is None:
        result.add(
            Difference(
                DriftKind.MISSING_IN_XERO,
                kind.what,
                number,
                f"Arena sent this {kind.what}, but Xero has no bank transaction with its reference.",
                arena=str(amount),
                xero_id=record.xero_id,
                fixable=True,
                **common,
            )
        )
        return
    common["xero_id"] = str(found.get("BankTransactionID") or "")
    if len(live) > 1:
        result.add(
            Difference(
                DriftKind.EXTRA_IN_XERO,
                kind.what,
                number,
                f"Xero has {len(live)} {kind.what}s with reference {number}.",
                arena="1",
                xero=str(len(live)),
                **common,
            )
        )
    if money(found.get("Total")) != amount:
        result.add(
            Difference(
                DriftKind.AMOUNT_DIFFERS,
                kind.what,
                number,
                f"Xero has {money(found.get('Total'))}, Arena {amount}.",
                arena=str(amount),
                xero=str(money(found.get("Total"))),
                **common,
            )
        )


def _arena_contacts(arena: ArenaBooks) -> dict[str, Customer]:
    """Arena's customers by their contact's Xero id in this organisation."""
    return {
        _key(r.xero_id): arena.customers[r.object_id]
        for r in arena.by_kind[RecordKind.CONTACT]
        if arena.sent(r) and r.object_id in arena.customers
    }


def _extra_invoices(arena: ArenaBooks, xero: XeroIndex, result: Comparison) -> None:
    """Sales invoices to Arena's customers that Arena never billed (entered in Xero by a person)."""
    contacts = _arena_contacts(arena)
    for invoice in xero.invoices.values():
        customer = contacts.get(_key((invoice.get("Contact") or {}).get("ContactID")))
        if customer is None or invoice.get("InvoiceNumber") in arena.invoice_numbers:
            continue
        if invoice.get("Status") in ("DELETED", "VOIDED", "DRAFT"):
            continue
        result.add(
            Difference(
                DriftKind.EXTRA_IN_XERO,
                "invoice",
                str(invoice.get("InvoiceNumber") or invoice.get("InvoiceID")),
                f"An invoice of {money(invoice.get('Total'))} to {customer.account_number} is in Xero but was not "
                "billed in Arena.",
                customer=customer.account_number,
                xero=str(money(invoice.get("Total"))),
                xero_id=str(invoice.get("InvoiceID") or ""),
            )
        )


def _extra_payments(arena: ArenaBooks, xero: XeroIndex, result: Comparison) -> None:
    """Payments on Arena's invoices that Arena did not record (entered in Xero by a person)."""
    invoices = {
        _key(r.xero_id): arena.invoices[r.object_id]
        for r in arena.by_kind[RecordKind.INVOICE]
        if arena.sent(r) and r.object_id in arena.invoices
    }
    references = {payloads.payment_reference(a) for a in arena.allocations.values()}
    for payment in xero.payments.values():
        invoice = invoices.get(_key((payment.get("Invoice") or {}).get("InvoiceID")))
        if invoice is None or payment.get("Status") == "DELETED" or payment.get("Reference") in references:
            continue
        result.add(
            Difference(
                DriftKind.EXTRA_IN_XERO,
                "payment",
                str(payment.get("Reference") or payment.get("PaymentID")),
                f"A payment of {money(payment.get('Amount'))} on {invoice.number} is in Xero but was not recorded in "
                "Arena.",
                customer=invoice.customer.account_number,
                xero=str(money(payment.get("Amount"))),
                arena_id=f"invoice {invoice.pk}",
                xero_id=str(payment.get("PaymentID") or ""),
            )
        )


def _extra_receipts(arena: ArenaBooks, xero: XeroIndex, result: Comparison) -> None:
    """Money received from Arena's customers in Xero that Arena did not receipt (pre-paid whitelabels)."""
    _extra_bank_transactions(RECEIPT, arena.receipt_numbers, arena, xero, result)


def _extra_refund_receipts(arena: ArenaBooks, xero: XeroIndex, result: Comparison) -> None:
    """Money paid back to Arena's customers in Xero that Arena did not refund (pre-paid whitelabels): their
    credit in Arena is more than what they really have."""
    _extra_bank_transactions(REFUND_RECEIPT, arena.refund_numbers, arena, xero, result)


def _extra_bank_transactions(
    kind: BankTransactionKind, numbers: set[str], arena: ArenaBooks, xero: XeroIndex, result: Comparison
) -> None:
    contacts = _arena_contacts(arena)
    by_id, _ = kind.of(xero)
    for row in by_id.values():
        customer = contacts.get(_key((row.get("Contact") or {}).get("ContactID")))
        if customer is None or row.get("Reference") in numbers:
            continue
        if row.get("Status") in ("DELETED", "VOIDED"):
            continue
        total, who = money(row.get("Total")), customer.account_number
        result.add(
            Difference(
                DriftKind.EXTRA_IN_XERO,
                kind.what,
                str(row.get("Reference") or row.get("BankTransactionID")),
                f"{total} received from {who} is in Xero but has no receipt in Arena."
                if kind.received
                else f"{total} paid back to {who} is in Xero but was not refunded in Arena.",
                customer=who,
                xero=str(total),
                xero_id=str(row.get("BankTransactionID") or ""),
            )
        )


# The service ---------------------------------------------------------------------------------------------


@dataclass
class Report:
    """One whitelabel's reconcile: what was compared, the differences, what was sent again."""

    whitelabel: Whitelabel
    organisation: str
    tenant_id: str
    since: datetime.datetime | None
    comparison: Comparison
    fixed: list[Difference] = field(default_factory=list)
    not_fixed: list[Difference] = field(default_factory=list)
    calls: int = 0
    reconciliation_id: int | None = None

    @property
    def differences(self) -> list[Difference]:
        return self.comparison.differences

    @property
    def remaining(self) -> list[Difference]:
        """The differences still there after --fix (all of them without it)."""
        fixed = {(d.kind, d.record_id) for d in self.fixed}
        return [d for d in self.differences if (d.kind, d.record_id) not in fixed]

    @property
    def agrees(self) -> bool:
        return not self.remaining


def _scope(arena: ArenaBooks, books: XeroBooks, since: datetime.datetime) -> set[int]:
    """With `since`: the records Arena sent from then on, and those whose counterpart Xero changed since."""
    changed = {_key(r.get(f)) for part, _, f in LISTINGS for r in getattr(books, part)}
    changed |= {_key(a.get("AllocationID")) for o in books.overpayments for a in o.get("Allocations") or []}
    numbers = {i.get("InvoiceNumber") for i in books.invoices}
    scope = set()
    for record in arena.records.values():
        if (record.sent_at and record.sent_at >= since) or (record.xero_id and _key(record.xero_id) in changed):
            scope.add(record.pk)
        elif record.kind == RecordKind.INVOICE and record.label in numbers:
            scope.add(record.pk)
        elif record.status != Status.SENT and record.updated_at >= since:
            scope.add(record.pk)
    return scope


def _complete(reader: XeroReader, arena: ArenaBooks, books: XeroBooks, scope: set[int]) -> None:
    """With `since`, Xero's listings hold only what changed: look up the rest of what the scope's records need
    (an invoice sent since whose listing came back empty, a customer's other overpayments for their credit)."""
    index = XeroIndex(books)
    records = [r for r in arena.records.values() if r.pk in scope and arena.sent(r)]
    by_kind = defaultdict(list)
    for record in records:
        by_kind[record.kind].append(record)
    numbers = [
        arena.invoices[r.object_id].number
        for r in by_kind[RecordKind.INVOICE] + by_kind[RecordKind.INVOICE_VOID]
        if r.object_id in arena.invoices and arena.invoices[r.object_id].number not in index.invoices_by_number
    ]
    if numbers:
        books.add("invoices", reader.chunked(client.invoices_find, numbers), "InvoiceID")
    contacts = [r.xero_id for r in by_kind[RecordKind.CONTACT] if r.xero_id and _key(r.xero_id) not in index.contacts]
    if contacts:
        books.add("contacts", reader.chunked(client.contacts_get, contacts), "ContactID")
    references = [
        payloads.payment_reference(arena.allocations[r.object_id])
        for r in by_kind[RecordKind.PAYMENT]
        if r.object_id in arena.allocations and _key(r.xero_id) not in index.payments
    ]
    if references:
        books.add("payments", reader.chunked(client.payments_find, references), "PaymentID")
    receipts = [
        arena.receipts[r.object_id].number
        for r in by_kind[RecordKind.RECEIPT]
        if r.object_id in arena.receipts and _key(r.xero_id) not in index.receipts
    ]
    receipts += [
        arena.refunds[r.object_id].number
        for r in by_kind[RecordKind.REFUND_RECEIPT]
        if r.object_id in arena.refunds and _key(r.xero_id) not in index.refund_receipts
    ]
    if receipts:
        books.add("receipts", reader.chunked(client.bank_transactions_find, receipts), "BankTransactionID")
    contact_ids = [arena.contact_id(c) for c in _credit_customers(arena, by_kind) if arena.contact_id(c)]
    if contact_ids:
        books.add("overpayments", reader.chunked(client.overpayments_find, contact_ids), "OverpaymentID")


def whitelabel_connection_active(whitelabel: Whitelabel) -> XeroConnection:
    connection = XeroConnection.objects.filter(whitelabel=whitelabel).first()
    if connection is None or connection.status == XeroConnection.Status.DISCONNECTED:
        raise NotConnected(f"{whitelabel.slug} is not connected to Xero.")
    if not connection.is_active:
        raise NotConnected(f"{whitelabel.slug}'s Xero connection needs an admin to reconnect it.")
    return connection


def whitelabel_reconcile(
    *,
    whitelabel: Whitelabel,
    since: datetime.datetime | None = None,
    fix: bool = False,
    trigger: str = Reconciliation.Trigger.COMMAND,
    progress: Progress | None = None,
    fix_timeout: float = 300.0,
    sleep=time.sleep,
) -> Report:
    """Read the organisation, compare, flag what a person changed in Xero, and with `fix` send again what Xero
    lacks. Each run is kept as a Reconciliation. Raises NotConnected, or a XeroError if Xero can't be read."""
    connection = whitelabel_connection_active(whitelabel)
    reconciliation = Reconciliation.objects.create(
        whitelabel=whitelabel,
        tenant_id=connection.tenant_id,
        tenant_name=connection.tenant_name,
        trigger=trigger,
        since=since,
        started_at=timezone.now(),
    )
    reader = XeroReader(connection, progress=progress, sleep=sleep)
    try:
        books = reader.books(since=since)
        arena = ArenaBooks(whitelabel, connection.tenant_id)
        scope = None
        if since is not None:
            scope = _scope(arena, books, since)
            _complete(reader, arena, books, scope)
        comparison = books_compare(whitelabel, connection.tenant_id, books, scope=scope, arena=arena)
    except Exception as exc:
        Reconciliation.objects.filter(pk=reconciliation.pk).update(
            finished_at=timezone.now(), error=f"{type(exc).__name__}: {exc}"
        )
        raise
    report = Report(
        whitelabel, connection.tenant_name, connection.tenant_id, since, comparison, reconciliation_id=reconciliation.pk
    )
    records_flag(report.differences)
    if fix:
        report.fixed, report.not_fixed = _fix(whitelabel, report.differences, progress, fix_timeout, sleep)
    report.calls = reader.calls
    Reconciliation.objects.filter(pk=reconciliation.pk).update(
        finished_at=timezone.now(),
        compared=dict(comparison.compared),
        differences=[d.as_dict() for d in comparison.differences],
        drift=len(comparison.differences),
        fixed=len(report.fixed),
    )
    logger.info(
        "Reconciled whitelabel %s with Xero: %s difference(s), %s sent again",
        whitelabel.pk,
        len(comparison.differences),
        len(report.fixed),
    )
    return report


def records_flag(differences: list[Difference]) -> int:
    """Flag the records a person changed in Xero (their change is kept until someone resolves it)."""
    changes = defaultdict(list)
    for difference in differences:
        if difference.by_person and difference.record_id:
            changes[difference.record_id].append(difference.detail)
    return outbox.records_mark_changed_in_xero(changes)


def _fix(whitelabel, differences, progress, timeout: float, sleep) -> tuple[list[Difference], list[Difference]]:
    """Send again what Xero lacks, in this process, and wait until each is in Xero or failed."""
    missing = [d for d in differences if d.fixable and d.record_id]
    if not missing:
        return [], []
    with transaction.atomic():
        outbox.records_resend_missing(whitelabel_id=whitelabel.pk, ids=[d.record_id for d in missing])
    ids = [d.record_id for d in missing]
    deadline = time.monotonic() + timeout
    while True:
        engine.run_organisation(whitelabel.pk, hold_partial=False)
        records = SyncRecord.objects.filter(pk__in=ids)
        on_the_way = [r for r in records if r.status in (Status.PENDING, Status.WAITING) or r.claimed_until]
        retrying = [r for r in records if r.status == Status.FAILED and r.next_attempt_at is not None]
        if progress:
            progress(f"sending again: {len(ids) - len(on_the_way) - len(retrying)}/{len(ids)} settled")
        if (not on_the_way and not retrying) or time.monotonic() > deadline:
            break
        if not on_the_way:
            due = min(r.next_attempt_at for r in retrying)
            if (due - timezone.now()).total_seconds() > deadline - time.monotonic():
                break
        sleep(0.5)  # a worker's run holds the organisation, or a retry is not due yet
    sent = set(SyncRecord.objects.filter(pk__in=ids, status=Status.SENT).values_list("pk", flat=True))
    return [d for d in missing if d.record_id in sent], [d for d in missing if d.record_id not in sent]


# Webhooks --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordCheck:
    """What a webhook's check found for one Xero record."""

    record: SyncRecord | None
    outcome: str  # an XeroWebhookEvent.Outcome
    note: str


def records_check_in_xero(connection: XeroConnection, category: str, resource_ids: list[str]) -> dict[str, RecordCheck]:
    """Xero says these invoices or contacts changed: read them (one call), compare each with what Arena sent,
    and flag the records a person changed. Returns what was found per resource id."""
    Outcome = XeroWebhookEvent.Outcome
    kind = RecordKind.INVOICE if category == "INVOICE" else RecordKind.CONTACT
    records = {
        _key(r.xero_id): r
        for r in SyncRecord.objects.filter(
            kind=kind, xero_tenant_id=connection.tenant_id, xero_id__in=resource_ids, whitelabel=connection.whitelabel
        )
    }
    checks = {rid: RecordCheck(None, Outcome.IGNORED, "Not a record Arena sent.") for rid in resource_ids}
    known = [rid for rid in resource_ids if _key(rid) in records]
    if not known:
        return checks
    read = client.invoices_get if kind == RecordKind.INVOICE else client.contacts_get
    rows = services.xero_call(connection, lambda creds: read(creds, known), tenant_id=connection.tenant_id)
    part = "invoices" if kind == RecordKind.INVOICE else "contacts"
    books = XeroBooks(parts={part}, **{part: rows})
    arena = ArenaBooks(connection.whitelabel, connection.tenant_id, about=list(records.values()))
    scope = {records[_key(rid)].pk for rid in known}
    comparison = Comparison()
    xero = XeroIndex(books)
    for rid in known:
        record = arena.records.get((records[_key(rid)].kind, records[_key(rid)].object_id))
        if record is None or record.pk not in scope:
            continue
        before = len(comparison.differences)
        if not arena.sent(record):
            checks[rid] = RecordCheck(record, Outcome.IN_FLIGHT, "Arena is sending it again; left to the reconcile.")
            continue
        if kind == RecordKind.INVOICE:
            _check_invoice(arena, xero, record, comparison, payments_read=False, from_event=True)
        else:
            _check_contact(arena, xero, record, comparison)
        found = comparison.differences[before:]
        if any(d.by_person for d in found):
            checks[rid] = RecordCheck(record, Outcome.CHANGED, " ".join(d.detail for d in found if d.by_person))
        elif found:
            note = "Differs, but not by a change made in Xero: " + found[0].detail
            checks[rid] = RecordCheck(record, Outcome.AGREES, note)
        elif kind == RecordKind.INVOICE and _invoice_in_flight(arena, record):
            checks[rid] = RecordCheck(record, Outcome.IN_FLIGHT, "Payments or a void are on their way; not compared.")
        else:
            checks[rid] = RecordCheck(record, Outcome.AGREES, "As Arena sent it.")
    records_flag(comparison.differences)
    return checks


def _invoice_in_flight(arena: ArenaBooks, record: SyncRecord) -> bool:
    kinds = {Allocation.Source.PAYMENT: RecordKind.PAYMENT, Allocation.Source.CREDIT: RecordKind.CREDIT_ALLOCATION}
    related = [arena.record(kinds[a.source], a.pk) for a in arena.allocations_of_invoice.get(record.object_id, [])]
    related.append(arena.record(RecordKind.INVOICE_VOID, record.object_id))
    return any(arena.in_flight(r) for r in related)


def whitelabels_to_reconcile() -> list[Whitelabel]:
    """Whitelabels that use Xero and are connected (an admin must reconnect the others first)."""
    return list(
        Whitelabel.objects.filter(
            accounting_settings__accounting_system=AccountingSettings.System.XERO,
            xero_connection__status=XeroConnection.Status.ACTIVE,
        ).order_by("slug")
    )


def last_reconciled_since(whitelabel: Whitelabel) -> datetime.datetime | None:
    """Where the nightly reconcile starts: the last finished one's start (None: compare everything)."""
    last = (
        Reconciliation.objects.filter(whitelabel=whitelabel, finished_at__isnull=False, error="")
        .order_by("-started_at")
        .first()
    )
    return last.started_at if last else None
