"""The reconcile service (read, compare, flag what a person changed, send again what Xero lacks, keep a
`Reconciliation`), and the checks webhooks run on the records Xero says changed."""

import datetime
import logging
import math
import time
from collections import defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from payments.models import Whitelabel

from .. import imports, selectors
from ..connection import xero_call
from ..errors import NotConnected
from ..models import AccountingSettings, Reconciliation, SyncRecord, XeroConnection, XeroWebhookEvent, allocation_kind
from ..sync import engine, outbox, payloads
from ..sync.money import is_prepayment
from ..xero import client
from .books import (
    LISTINGS,
    ArenaBooks,
    BudgetSpent,
    Comparison,
    Difference,
    DriftKind,
    Progress,
    XeroBooks,
    XeroIndex,
    XeroReader,
    id_key,
    postpaid,
)
from .compare import books_compare, check_contact, credit_customers
from .invoices import check_invoice

RecordKind, Status = SyncRecord.Kind, SyncRecord.Status
logger = logging.getLogger(__name__)


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
    unread: list[str] = field(default_factory=list)  # not compared: the run's share of the day's calls ran out

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
    changed = {id_key(r.get(f)) for part, _, f in LISTINGS for r in getattr(books, part)}
    changed |= {id_key(a.get("AllocationID")) for o in books.overpayments for a in o.get("Allocations") or []}
    numbers = {i.get("InvoiceNumber") for i in books.invoices}
    scope = set()
    for record in arena.records.values():
        if (record.sent_at and record.sent_at >= since) or (record.xero_id and id_key(record.xero_id) in changed):
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
    contacts = [r.xero_id for r in by_kind[RecordKind.CONTACT] if r.xero_id and id_key(r.xero_id) not in index.contacts]
    if contacts:
        books.add("contacts", reader.chunked(client.contacts_get, contacts), "ContactID")
    references = [
        payloads.payment_reference(arena.allocations[r.object_id])
        for r in by_kind[RecordKind.PAYMENT]
        if r.object_id in arena.allocations and id_key(r.xero_id) not in index.payments
    ]
    if references:
        books.add("payments", reader.chunked(client.payments_find, references), "PaymentID")
    receipts = [
        arena.receipts[r.object_id].number
        for r in by_kind[RecordKind.RECEIPT]
        if r.object_id in arena.receipts and id_key(r.xero_id) not in index.receipts
    ]
    receipts += [
        arena.refunds[r.object_id].number
        for r in by_kind[RecordKind.REFUND_RECEIPT]
        if r.object_id in arena.refunds and id_key(r.xero_id) not in index.refund_receipts
    ]
    if receipts:
        books.add("receipts", reader.chunked(client.bank_transactions_find, receipts), "BankTransactionID")
    contact_ids = [arena.contact_id(c) for c in credit_customers(arena, by_kind) if arena.contact_id(c)]
    if contact_ids:
        books.add("overpayments", reader.chunked(client.overpayments_find, contact_ids), "OverpaymentID")


def _prepayments(reader: XeroReader, arena: ArenaBooks, books: XeroBooks) -> None:
    """Credit a person entered in Xero as a prepayment, which Arena recorded as the customer's credit: looked up
    by id (only when Arena holds some, so a reconcile of an organisation without them costs nothing more) and
    compared as the overpayments are (the same shape: Total, RemainingCredit, Allocations)."""
    if "overpayments" not in books.parts:
        return
    ids = [r.xero_id for r in arena.records.values() if r.kind == RecordKind.OVERPAYMENT and is_prepayment(r)]
    if ids:
        rows = reader.chunked(client.prepayments_find, ids)
        books.add("overpayments", [{**row, "OverpaymentID": row.get("PrepaymentID")} for row in rows], "OverpaymentID")


def whitelabel_connection_active(whitelabel: Whitelabel) -> XeroConnection:
    connection = XeroConnection.objects.filter(whitelabel=whitelabel).first()
    if connection is None or connection.status == XeroConnection.Status.DISCONNECTED:
        raise NotConnected(f"{whitelabel.slug} is not connected to Xero.")
    if not connection.is_active:
        raise NotConnected(f"{whitelabel.slug}'s Xero connection needs an admin to reconnect it.")
    return connection


@dataclass(frozen=True)
class NightlyPlan:
    """What the next nightly run reads: what changed `since` (None: everything), or, when the last run ran out
    of its share of the day, the collections it left (`only`), for the comparison it started (`chain_from`)."""

    since: datetime.datetime | None
    only: list[str] | None = None
    chain_from: datetime.datetime | None = None


def nightly_plan(whitelabel: Whitelabel) -> NightlyPlan:
    last = selectors.last_reconciliation(whitelabel)
    if last is not None and last.unread:
        return NightlyPlan(since=last.since, only=list(last.unread), chain_from=last.covers_from or last.started_at)
    return NightlyPlan(since=last_reconciled_since(whitelabel))


def day_share_budget() -> int:
    """The calls a nightly run may make for one organisation: its share of Xero's day (XERO_RECONCILE_DAY_SHARE)."""
    return max(1, math.floor(settings.XERO_DAY_LIMIT * settings.XERO_RECONCILE_DAY_SHARE))


def whitelabel_reconcile(
    *,
    whitelabel: Whitelabel,
    since: datetime.datetime | None = None,
    fix: bool = False,
    trigger: str = Reconciliation.Trigger.COMMAND,
    progress: Progress | None = None,
    fix_timeout: float = 300.0,
    sleep=time.sleep,
    budget: int | None = None,
    only: list[str] | None = None,
    chain_from: datetime.datetime | None = None,
) -> Report:
    """Read the organisation, compare, flag what a person changed in Xero, and with `fix` send again what Xero
    lacks. Each run is kept as a Reconciliation. Raises NotConnected, or a XeroError if Xero can't be read.

    With a `budget` of calls, what the run has no calls left for is not compared and named in the report and
    on its Reconciliation (`unread`), for the next run to read (`only`, continuing the comparison begun at
    `chain_from`)."""
    connection = whitelabel_connection_active(whitelabel)
    reconciliation = Reconciliation.objects.create(
        whitelabel=whitelabel,
        tenant_id=connection.tenant_id,
        tenant_name=connection.tenant_name,
        trigger=trigger,
        since=since,
        started_at=timezone.now(),
    )
    reader = XeroReader(connection, progress=progress, sleep=sleep, budget=budget)
    try:
        accounting = AccountingSettings.objects.filter(whitelabel=whitelabel).first()
        # Xero first: Arena then knows all it has.
        books = reader.books(since=since, postpaid=postpaid(accounting), only=only)
        arena = ArenaBooks(whitelabel, connection.tenant_id, accounting=accounting)
        scope = _scope(arena, books, since) if since is not None else None
        try:
            if since is not None:
                _complete(reader, arena, books, scope)
            _prepayments(reader, arena, books)
        except BudgetSpent:  # no share left to look up what the changes need: compare them next time
            books.unread = [p for p in books.parts if p != "accounts"] + books.unread
            books.parts = {"accounts"}
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
        recorded, not_recorded = _record_entered_in_xero(whitelabel, connection.tenant_id, report.differences, books)
        report.fixed += recorded
        report.not_fixed += not_recorded
    report.calls, report.unread = reader.calls, books.unread
    Reconciliation.objects.filter(pk=reconciliation.pk).update(
        finished_at=timezone.now(),
        compared=dict(comparison.compared),
        differences=[d.as_dict() for d in comparison.differences],
        drift=len(comparison.differences),
        fixed=len(report.fixed),
        calls=reader.calls,
        unread=books.unread,
        covers_from=chain_from or reconciliation.started_at,
    )
    if books.unread:
        logger.info(
            "Reconcile of whitelabel %s used its share of the day's Xero calls (%s): %s left for the next run",
            whitelabel.pk,
            reader.calls,
            ", ".join(books.unread),
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


def _record_entered_in_xero(whitelabel, tenant_id: str, differences, books) -> tuple[list, list]:
    """--fix records in Arena the payments a person entered in Xero on Arena's invoices that Arena has not yet
    recorded (when the whitelabel records them), from what was read: no more calls. Each once."""
    if not imports.imports_from_xero(whitelabel):
        return [], []
    extra = [d for d in differences if d.kind == DriftKind.EXTRA_IN_XERO and d.what == "payment" and d.xero_id]
    rows = {id_key(p.get("PaymentID")): p for p in books.payments}
    recorded, not_recorded = [], []
    for difference in extra:
        row = rows.get(id_key(difference.xero_id))
        outcome = (
            "other"
            if row is None
            else imports.payment_from_xero(
                whitelabel=whitelabel, tenant_id=tenant_id, row=row, tz=imports.zone_of(whitelabel)
            )
        )
        (recorded if outcome in ("imported", "known") else not_recorded).append(difference)
    return recorded, not_recorded


def _fix(whitelabel, differences, progress, timeout: float, sleep) -> tuple[list[Difference], list[Difference]]:
    """Send again what Xero lacks, in this process, and wait until each is in Xero or failed."""
    missing = [d for d in differences if d.fixable and d.record_id]
    if not missing:
        return [], []
    with transaction.atomic():
        outbox.records_resend_missing(whitelabel_id=whitelabel.pk, ids=[d.record_id for d in missing])
    ids = [d.record_id for d in missing]
    deadline = time.monotonic() + timeout

    def measure() -> tuple[int, int, datetime.datetime | None]:
        """(on their way, failed and to be retried, when the next retry is due)."""
        records = SyncRecord.objects.filter(pk__in=ids)
        on_the_way = [r for r in records if r.status in (Status.PENDING, Status.WAITING) or r.claimed_until]
        retrying = [r for r in records if r.status == Status.FAILED and r.next_attempt_at is not None]
        if progress:
            progress(f"sending again: {len(ids) - len(on_the_way) - len(retrying)}/{len(ids)} settled")
        return len(on_the_way), len(retrying), min((r.next_attempt_at for r in retrying), default=None)

    def retries_too_late(state) -> str | None:
        on_the_way, _, next_retry = state
        left = deadline - time.monotonic()
        if not on_the_way and next_retry and (next_retry - timezone.now()).total_seconds() > left:
            return "the next retry is after the timeout"
        return None

    engine.run_and_wait(
        whitelabel.pk,
        measure,
        done=lambda state: state[0] == 0 and state[1] == 0,
        stuck=retries_too_late,
        deadline=deadline,
        sleep=sleep,
    )
    sent = set(SyncRecord.objects.filter(pk__in=ids, status=Status.SENT).values_list("pk", flat=True))
    return [d for d in missing if d.record_id in sent], [d for d in missing if d.record_id not in sent]


# Webhooks --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordCheck:
    """What a webhook's check found for one Xero record."""

    record: SyncRecord | None
    finding: str  # an XeroWebhookEvent.Finding
    note: str


def records_check_in_xero(connection: XeroConnection, category: str, resource_ids: list[str]) -> dict[str, RecordCheck]:
    """Xero says these invoices or contacts changed: read them (one call), compare each with what Arena sent,
    and flag the records a person changed. Returns what was found per resource id."""
    Finding = XeroWebhookEvent.Finding
    kind = RecordKind.INVOICE if category == "INVOICE" else RecordKind.CONTACT
    records = {
        id_key(r.xero_id): r
        for r in SyncRecord.objects.filter(
            kind=kind, xero_tenant_id=connection.tenant_id, xero_id__in=resource_ids, whitelabel=connection.whitelabel
        )
    }
    checks = {rid: RecordCheck(None, Finding.IGNORED, "Not a record Arena sent.") for rid in resource_ids}
    known = [rid for rid in resource_ids if id_key(rid) in records]
    if not known:
        return checks
    read = client.invoices_get if kind == RecordKind.INVOICE else client.contacts_get
    rows = xero_call(connection, lambda creds: read(creds, known), tenant_id=connection.tenant_id)
    part = "invoices" if kind == RecordKind.INVOICE else "contacts"
    books = XeroBooks(parts={part}, **{part: rows})
    arena = ArenaBooks(connection.whitelabel, connection.tenant_id, about=list(records.values()))
    comparison = Comparison()
    xero = XeroIndex(books)
    for rid in known:
        record = arena.record(kind, records[id_key(rid)].object_id)
        if record is None:
            continue
        before = len(comparison.differences)
        if not arena.sent(record):
            checks[rid] = RecordCheck(record, Finding.IN_FLIGHT, "Arena is sending it again; left to the reconcile.")
            continue
        if kind == RecordKind.INVOICE:
            check_invoice(arena, xero, record, comparison, payments_read=False, from_event=True)
        else:
            check_contact(arena, xero, record, comparison)
        found = comparison.differences[before:]
        if any(d.by_person for d in found):
            checks[rid] = RecordCheck(record, Finding.CHANGED, " ".join(d.detail for d in found if d.by_person))
        elif found:
            note = "Differs, but not by a change made in Xero: " + found[0].detail
            checks[rid] = RecordCheck(record, Finding.AGREES, note)
        elif kind == RecordKind.INVOICE and _invoice_in_flight(arena, record):
            checks[rid] = RecordCheck(record, Finding.IN_FLIGHT, "Payments or a void are on their way; not compared.")
        else:
            checks[rid] = RecordCheck(record, Finding.AGREES, "As Arena sent it.")
    records_flag(comparison.differences)
    return checks


def _invoice_in_flight(arena: ArenaBooks, record: SyncRecord) -> bool:
    allocations = arena.allocations_of_invoice.get(record.object_id, [])
    related = [arena.record(allocation_kind(a), a.pk) for a in allocations]
    related.append(arena.record(RecordKind.INVOICE_VOID, record.object_id))
    return any(arena.in_flight(r) for r in related)


def whitelabels_to_reconcile() -> list[Whitelabel]:
    """Whitelabels that use Xero and are connected (an admin must reconnect the others first)."""
    return selectors.whitelabels_connected(statuses=(XeroConnection.Status.ACTIVE,))


def last_reconciled_since(whitelabel: Whitelabel) -> datetime.datetime | None:
    """Where the nightly reconcile starts: from when the last complete comparison covered everything (None:
    compare everything)."""
    last = selectors.last_reconciliation(whitelabel, complete=True)
    return (last.covers_from or last.started_at) if last else None
