"""Both sides of a reconcile: Xero's books as read back through the rate limiter (`XeroReader`, `XeroBooks`,
`XeroIndex`), what Arena sent to the organisation (`ArenaBooks`), and the `Difference`s they compare into."""

import datetime
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from decimal import Decimal

from django.db import models

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

from ..connection import xero_call
from ..models import AccountingSettings, SyncRecord, XeroConnection
from ..sync import kinds
from ..xero import client
from ..xero.errors import XeroRateLimited, XeroUnavailable

RecordKind, Status = SyncRecord.Kind, SyncRecord.Status

# Xero's clock and ours differ a little, and UpdatedDateUTC is when Xero saved a change: ask for a margin more.
MODIFIED_SINCE_MARGIN = datetime.timedelta(hours=1)
LOOK_UP_CHUNK = 25  # ids, numbers or references per look-up call
RATE_LIMIT_MAX_SLEEP = 60.0
UNAVAILABLE_RETRIES = 3


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
    unread: list[str] = field(default_factory=list)  # left for the next run: the day's share of calls ran out

    def add(self, part: str, rows: list[dict], id_field: str) -> None:
        """Add rows not already there (look-ups may find what a listing already had)."""
        known = {id_key(r.get(id_field)) for r in getattr(self, part)}
        getattr(self, part).extend(r for r in rows if id_key(r.get(id_field)) not in known)


@dataclass
class Comparison:
    differences: list[Difference] = field(default_factory=list)
    compared: Counter = field(default_factory=Counter)
    not_sent: Counter = field(default_factory=Counter)  # records of the scope not sent, by status: not compared

    def add(self, difference: Difference) -> None:
        self.differences.append(difference)

    def missing(self, what: str, label: str, detail: str, *, record: SyncRecord, **fields) -> None:
        """Arena sent `record`, and Xero has no trace of it: `--fix` sends it again."""
        fields.update(xero_id=record.xero_id, fixable=True)
        self.add(Difference(DriftKind.MISSING_IN_XERO, what, label, detail, **fields))

    def twice(self, what: str, label: str, detail: str, *, count: int, **fields) -> None:
        """Xero has `count` of what Arena sent once."""
        self.add(Difference(DriftKind.EXTRA_IN_XERO, what, label, detail, arena="1", xero=str(count), **fields))


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
# What a run reads together, in order: a group is compared only when all of it was read (an invoice's amount
# due with its payments, credit with its overpayments and credit notes). When the run's share of the day's
# calls runs out, the group it was reading and those after it are left for the next run.
READ_GROUPS = (("contacts",), ("invoices", "payments"), ("overpayments", "credit_notes"), ("receipts",))


class BudgetSpent(Exception):
    """The reconcile used its share of the organisation's day of Xero calls (XERO_RECONCILE_DAY_SHARE)."""


# Read whatever the payment type: what a person may enter in Xero for an Arena customer (an extra).
ALWAYS_READ = frozenset({"contacts", "invoices", "payments"})


def parts_to_read(postpaid: bool) -> set[str]:
    """The collections a reconcile reads: those the kinds this payment type sends are compared in (each row of
    sync/kinds.py says which), and those an extra shows in."""
    payment_type = AccountingSettings.PaymentType.POSTPAID if postpaid else AccountingSettings.PaymentType.PREPAID
    return set(ALWAYS_READ).union(*(row.reads for row in kinds.sent_by(payment_type)))


class XeroReader:
    """Reads one organisation through connection.xero_call (limiter, token refresh). A batch job may wait:
    when the limiter or Xero says "later" it sleeps (at most a minute at a time) and asks again."""

    def __init__(
        self,
        connection: XeroConnection,
        *,
        progress: Progress | None = None,
        sleep=time.sleep,
        budget: int | None = None,
    ):
        self.connection, self.progress, self.sleep = connection, progress or (lambda message: None), sleep
        self.calls, self.budget = 0, budget

    def call(self, fn: Callable[[client.Credentials], list[dict]]) -> list[dict]:
        failures = 0
        while True:
            if self.budget is not None and self.calls >= self.budget:
                raise BudgetSpent(f"{self.calls} calls, the reconcile's share of the day")
            try:
                self.calls += 1
                return xero_call(self.connection, fn, tenant_id=self.connection.tenant_id)
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

    def books(
        self, *, since: datetime.datetime | None, postpaid: bool = True, only: list[str] | None = None
    ) -> XeroBooks:
        """The organisation's accounts and (modified since `since`, or all) contacts, sales invoices, payments
        and what the payment type sends besides: post-paid, overpayments and credit notes; pre-paid, receipts
        and refund receipts; with `only`, just those collections (what an earlier run left unread). What is
        not read is not compared. When the budget runs out, the group being read and the groups after it are
        left out, and named in `unread`."""
        modified_since = since - MODIFIED_SINCE_MARGIN if since else None
        wanted = parts_to_read(postpaid) & (set(only) if only is not None else set(parts_to_read(postpaid)))
        pages = {part: page_fn for part, page_fn, _ in LISTINGS}
        books = XeroBooks(parts={"accounts"})
        books.accounts = self.call(client.accounts_list)
        groups = [g for g in ([part for part in group if part in wanted] for group in READ_GROUPS) if g]
        for number, group in enumerate(groups):
            try:
                rows = {part: self.listing(part, pages[part], modified_since=modified_since) for part in group}
            except BudgetSpent:
                books.unread = [part for g in groups[number:] for part in g]
                return books
            for part, read in rows.items():
                setattr(books, part, read)
                books.parts.add(part)
        return books

    def chunked(self, fn, keys: list[str]) -> list[dict]:
        rows = []
        keys = sorted(set(keys))
        for start in range(0, len(keys), LOOK_UP_CHUNK):
            part = keys[start : start + LOOK_UP_CHUNK]
            rows += self.call(lambda creds, part=part: fn(creds, part))
        return rows


# Both sides, indexed for the checks -----------------------------------------------------------------------


def id_key(value) -> str:
    return str(value or "").lower()


def money(value) -> Decimal:
    return Decimal(str(value if value not in (None, "") else 0)).quantize(Decimal("0.01"))


def alive(rows: list[dict], dead: tuple[str, ...]) -> list[dict]:
    return [r for r in rows if r.get("Status") not in dead]


class XeroIndex:
    """Xero's records by id, number and reference."""

    def __init__(self, books: XeroBooks):
        self.books = books
        self.accounts = {id_key(a.get("Code")): a for a in books.accounts if a.get("Code")}
        self.contacts = {id_key(c.get("ContactID")): c for c in books.contacts}
        self.contacts_by_number = defaultdict(list)
        for contact in books.contacts:
            if contact.get("ContactNumber"):
                self.contacts_by_number[contact["ContactNumber"]].append(contact)
        sales = [i for i in books.invoices if i.get("Type", "ACCREC") == "ACCREC"]
        self.invoices = {id_key(i.get("InvoiceID")): i for i in sales}
        self.invoices_by_number = defaultdict(list)
        for invoice in sales:
            self.invoices_by_number[invoice.get("InvoiceNumber")].append(invoice)
        self.payments = {id_key(p.get("PaymentID")): p for p in books.payments}
        self.payments_by_reference = defaultdict(list)
        for payment in books.payments:
            self.payments_by_reference[payment.get("Reference")].append(payment)
        self.overpayments = {id_key(o.get("OverpaymentID")): o for o in books.overpayments}
        self.overpayments_by_contact = defaultdict(list)
        for overpayment in books.overpayments:
            self.overpayments_by_contact[id_key((overpayment.get("Contact") or {}).get("ContactID"))].append(
                overpayment
            )
        self.credit_notes = {id_key(c.get("CreditNoteID")): c for c in books.credit_notes}
        self.credit_notes_by_contact = defaultdict(list)
        for note in books.credit_notes:
            self.credit_notes_by_contact[id_key((note.get("Contact") or {}).get("ContactID"))].append(note)
        # The bank transactions read: money received (receipts) and money paid back (refund receipts).
        self.receipts, self.receipts_by_reference = self._bank_transactions(books.receipts, "RECEIVE")
        self.refund_receipts, self.refund_receipts_by_reference = self._bank_transactions(books.receipts, "SPEND")

    @staticmethod
    def _bank_transactions(rows: list[dict], type_: str) -> tuple[dict, dict]:
        of_type = [t for t in rows if t.get("Type", "RECEIVE") == type_]
        by_reference = defaultdict(list)
        for row in of_type:
            by_reference[row.get("Reference")].append(row)
        return {id_key(t.get("BankTransactionID")): t for t in of_type}, by_reference


class ArenaBooks:
    """What Arena has for one whitelabel and organisation: the sync records and the billing rows they stand for.

    `about`: only what these sync records' checks need (a webhook's invoices and contacts: their payments,
    credit, void and customer); None: the whole whitelabel.
    """

    def __init__(
        self,
        whitelabel: Whitelabel,
        tenant_id: str,
        *,
        about: list[SyncRecord] | None = None,
        accounting: AccountingSettings | None = None,
    ):
        self.whitelabel, self.tenant_id = whitelabel, tenant_id
        self.accounting = accounting or AccountingSettings.objects.filter(whitelabel=whitelabel).first()
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
        self.payment_ids = {id_key(r.xero_id) for r in self.by_kind[RecordKind.PAYMENT] if r.xero_id}
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
        return postpaid(self.accounting)

    @property
    def payment_type(self) -> str:
        return AccountingSettings.PaymentType.POSTPAID if self.postpaid else AccountingSettings.PaymentType.PREPAID


def postpaid(accounting: AccountingSettings | None) -> bool:
    """Post-paid unless the settings say pre-paid (post-paid is the default)."""
    return accounting is None or accounting.payment_type == AccountingSettings.PaymentType.POSTPAID


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
