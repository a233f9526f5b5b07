"""Hearing back from Xero: payments a person enters in Xero against invoices Arena sent become Arena payments,
exactly once, and are never sent back.

How Arena hears: a read of Xero's payments changed since the organisation's cursor (`If-Modified-Since`,
oldest change first, 100 a page, through the shared rate limiter): when Xero's webhook says an invoice changed (a
payment changes its invoice; one read per delivery, in its task, before the invoices are compared), every
`XERO_IMPORT_POLL_SECONDS` (Celery beat: what webhooks miss) and after a reconnect; requests from the last two
within `XERO_IMPORT_COALESCE_SECONDS` become one read. Overpayments (credit entered in Xero) are read the same
way from a cursor of their own. The cursors (`XeroImportCursor`) move only forward and only past what was
recorded, so nothing is missed across restarts; what a read sees again at its boundary (or a worker killed
mid-read sees again) is recorded once: `Payment.source_id` is unique, and `payments.services` checks it under
the customer's lock.

What a payment becomes:
- Arena's own (its sync record holds that PaymentID, or its Reference is one Arena sends, "RCT-000042 INV-000042",
  while the answer to sending it was lost): nothing; the sync engine looks it up.
- Entered by a person against an Arena invoice: `record_payment(source=xero)` for that invoice, dated with its Xero
  date (a moment at noon of that date in the whitelabel's time zone, so it stays that date), the method mapped to
  the account it went into (bank transfer if none), reference naming the Xero payment. Its sync record is marked
  sent, origin *Entered in Xero*, with Xero's id and answer: nothing is sent back. What the invoice no longer owes
  in Arena becomes credit (and goes to Xero as an overpayment: the money was received twice).
- Deleted in Xero after Arena recorded it: reversed in Arena with the reason "deleted in Xero" (the reversal's
  sync record is marked from Xero too). A payment Arena sent and a person deleted stays flagged *changed in
  Xero* by the webhooks and the reconcile, as before: Arena never silently undoes its own billing.
"""

import datetime
import logging
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from payments.models import Allocation, CreditNote, Customer, Invoice, Payment, Whitelabel
from payments.services import (
    AlreadyRecorded,
    BillingError,
    add_credit,
    issue_credit_note,
    record_payment,
    reverse_payment,
)

from .connection import whitelabel_connection, xero_call
from .errors import NotConnected
from .mapping_models import MethodMapping
from .models import AccountingSettings, SyncRecord, XeroConnection, XeroImportCursor
from .xero import client

logger = logging.getLogger(__name__)
IMPORT_TASK = "accounting.tasks.import_xero_payments"
Kind, Status, Origin = SyncRecord.Kind, SyncRecord.Status, SyncRecord.Origin
DELETED_IN_XERO = "deleted in Xero"
# Xero's clock and ours differ a little: a first read starts this long before the connection was made.
FIRST_READ_MARGIN = datetime.timedelta(hours=1)


@dataclass
class ImportResult:
    calls: int = 0
    payment_calls: int = 0  # of them, reads of GET /Payments (n payments: ceil(n / 100))
    read: int = 0
    imported: int = 0
    reversed: int = 0
    problems: list[str] = field(default_factory=list)


# Asking for a read ------------------------------------------------------------------------------------


def import_request(whitelabel_id: int, *, delay: float | None = None) -> bool:
    """Ask for a read of the whitelabel's Xero payments, after the coalescing window: requests within it
    (a webhook batch naming many invoices, several batches) become one read. Published after the commit."""
    delay = settings.XERO_IMPORT_COALESCE_SECONDS if delay is None else delay
    if not cache.add(f"xero-import-queued:{whitelabel_id}", 1, timeout=max(int(delay), 1)):
        return False
    transaction.on_commit(lambda: _enqueue(whitelabel_id, delay))
    return True


def _enqueue(whitelabel_id: int, delay: float) -> None:
    try:
        # By name: the tasks module sits above this one (it calls it).
        current_app.send_task(IMPORT_TASK, (whitelabel_id,), countdown=delay or None)
    except Exception as exc:  # noqa: BLE001 - the poll reads it later
        cache.delete(f"xero-import-queued:{whitelabel_id}")
        logger.warning("Could not queue a read of Xero payments for whitelabel %s (%s)", whitelabel_id, exc)


def _backlog(whitelabel_id) -> QuerySet:
    """The whitelabel's records still on their way to Xero (`whitelabel_id`: an id or an OuterRef)."""
    return SyncRecord.objects.filter(whitelabel_id=whitelabel_id, status=SyncRecord.Status.PENDING)


def sending_backlog(whitelabel_id: int) -> bool:
    """Records are on their way to the whitelabel's organisation: reads that can wait (the poll, webhooks'
    events) wait for them, leaving the organisation's share of calls to what billing sends."""
    return _backlog(whitelabel_id).exists()


def whitelabels_to_import() -> list[int]:
    """Whitelabels whose payments entered in Xero are recorded in Arena, with a live connection, and no backlog of
    records still on their way to Xero. The poll is the backstop for missed webhooks; while a backlog goes out (a
    bill-run) a read would mostly page through Arena's own payments and take calls from the organisation's share
    of the app's minute (bench/RESULTS.md: 1,264 reads among 200 organisations, 1.34x the floor), so it waits for
    the next poll. Only pending records hold it: a failed payment may be one Xero refused because a person paid
    first (the read settles it), and a waiting record may wait on a failed one for long."""
    return list(
        Whitelabel.objects.filter(
            accounting_settings__accounting_system=AccountingSettings.System.XERO,
            accounting_settings__payment_type=AccountingSettings.PaymentType.POSTPAID,
            accounting_settings__record_xero_payments=True,
            xero_connection__status=XeroConnection.Status.ACTIVE,
        )
        .exclude(Exists(_backlog(OuterRef("pk"))))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def read_before(whitelabel: Whitelabel, tenant_id: str) -> bool:
    """Arena has read this organisation's payments for the whitelabel before (so a connect is a reconnect, and
    what was entered meanwhile is worth a read now), and still records them."""
    return XeroImportCursor.objects.filter(
        whitelabel=whitelabel, tenant_id__iexact=tenant_id
    ).exists() and imports_from_xero(whitelabel)


def imports_from_xero(whitelabel: Whitelabel) -> bool:
    accounting = AccountingSettings.objects.filter(whitelabel=whitelabel).first()
    return bool(accounting and accounting.imports_from_xero)


# Reading ---------------------------------------------------------------------------------------------


def _moment(value) -> datetime.datetime | None:
    """Xero's UpdatedDateUTC, as xero-python hands it over ("/Date(ms+0000)/", ISO text or a datetime)."""
    if isinstance(value, datetime.datetime):
        return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)
    if not isinstance(value, str) or not value:
        return None
    if value.startswith("/Date("):
        millis = int(value[6:].split(")")[0].split("+")[0].split("-")[0])
        return datetime.datetime.fromtimestamp(millis / 1000, tz=datetime.UTC)
    moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


def cursor_for(whitelabel: Whitelabel, connection: XeroConnection) -> XeroImportCursor:
    cursor, _ = XeroImportCursor.objects.get_or_create(
        whitelabel=whitelabel,
        tenant_id=connection.tenant_id,
        defaults={"payments_since": connection.connected_at - FIRST_READ_MARGIN},
    )
    return cursor


def cursor_rewind(*, whitelabel: Whitelabel, since: datetime.datetime) -> XeroImportCursor:
    """Read again from `since` (`resync_xero --import-since`): what was recorded stays recorded once."""
    connection = _connection(whitelabel)
    cursor = cursor_for(whitelabel, connection)
    XeroImportCursor.objects.filter(pk=cursor.pk).update(payments_since=since)
    cursor.refresh_from_db()
    return cursor


def _connection(whitelabel: Whitelabel) -> XeroConnection:
    connection = whitelabel_connection(whitelabel)
    if connection is None or not connection.is_active:
        raise NotConnected(f"{whitelabel} is not connected to Xero (or needs reconnecting).")
    return connection


def payments_import(*, whitelabel: Whitelabel, max_pages: int | None = None) -> ImportResult:
    """Read the payments changed in Xero since the cursor and record what people entered or deleted there.

    Raises NotConnected, and Xero's errors (XeroRateLimited: try again after its wait); the cursor keeps what
    was done before the error."""
    result = ImportResult()
    if not imports_from_xero(whitelabel):
        return result
    connection = _connection(whitelabel)
    cursor = cursor_for(whitelabel, connection)
    since = cursor.payments_since
    tz = zone_of(whitelabel)
    max_pages = max_pages or settings.XERO_IMPORT_PAGES_PER_READ
    for page in range(1, max_pages + 1):
        listing = xero_call(
            connection,
            lambda creds, page=page: client.payments_changed(creds, page=page, modified_since=since),
            tenant_id=connection.tenant_id,
        )
        rows = listing.rows
        result.calls += 1
        result.payment_calls += 1
        result.read += len(rows)
        newest = None
        imported = reversed_ = 0
        for row in rows:
            outcome = payment_from_xero(whitelabel=whitelabel, tenant_id=connection.tenant_id, row=row, tz=tz)
            if outcome == "imported":
                imported += 1
            elif outcome == "reversed":
                reversed_ += 1
            elif outcome.startswith("problem:"):
                result.problems.append(outcome.removeprefix("problem:"))
            moment = _moment(row.get("UpdatedDateUTC"))
            if moment is not None and (newest is None or moment > newest):
                newest = moment
        result.imported += imported
        result.reversed += reversed_
        _cursor_advance(cursor, newest, imported=imported, reversed_=reversed_, problems=result.problems)
        last = listing.page_count if listing.page_count is not None else page + (len(rows) >= client.XERO_PAGE_SIZE)
        if page >= last:
            break
    _credits_import(whitelabel, connection, cursor, tz, result, max_pages)
    if result.imported or result.reversed:
        logger.info(
            "Recorded %s payment(s) entered in Xero and reversed %s for whitelabel %s (%s call(s))",
            result.imported,
            result.reversed,
            whitelabel.pk,
            result.calls,
        )
    return result


def _credits_import(whitelabel, connection, cursor, tz, result: ImportResult, max_pages: int) -> None:
    """What a person entered in Xero that is not a payment on an invoice: credit (an overpayment or a
    prepayment, money received with no invoice) and credit notes, each read from a cursor of its own."""
    for since_field, page_of, one in CREDIT_READS:
        since = getattr(cursor, since_field) or cursor.payments_since
        newest = None
        imported = reversed_ = 0
        for page in range(1, max_pages + 1):
            rows = xero_call(
                connection,
                lambda creds, page=page, page_of=page_of, since=since: page_of(creds, page=page, modified_since=since),
                tenant_id=connection.tenant_id,
            )
            result.calls += 1
            result.read += len(rows)
            for row in rows:
                outcome = one(whitelabel=whitelabel, tenant_id=connection.tenant_id, row=row, tz=tz)
                imported += outcome == "imported"
                reversed_ += outcome == "reversed"
                if outcome.startswith("problem:"):
                    result.problems.append(outcome.removeprefix("problem:"))
                moment = _moment(row.get("UpdatedDateUTC"))
                if moment is not None and (newest is None or moment > newest):
                    newest = moment
            if len(rows) < client.XERO_PAGE_SIZE:
                break
        result.imported += imported
        result.reversed += reversed_
        rows = XeroImportCursor.objects.filter(pk=cursor.pk)
        if newest is not None:
            rows.filter(Q(**{f"{since_field}__isnull": True}) | Q(**{f"{since_field}__lt": newest})).update(
                **{since_field: newest}
            )
        rows.update(
            reads=F("reads") + 1,
            imported=F("imported") + imported,
            reversed=F("reversed") + reversed_,
            **_problems(result.problems),
        )


CREDIT_KINDS = {
    "RECEIVE-OVERPAYMENT": ("OverpaymentID", "overpayment"),
    "RECEIVE-PREPAYMENT": ("PrepaymentID", "prepayment"),
}


def overpayment_from_xero(*, whitelabel: Whitelabel, tenant_id: str, row: dict, tz) -> str:
    """Record (or reverse) one overpayment or prepayment as Xero lists it: credit a person entered in Xero for
    an Arena customer becomes the customer's credit in Arena (`add_credit`, source xero), once; voided in Xero,
    it is reversed. Its sync record is marked from Xero (holding Xero's answer, so a prepayment's allocations
    go to Xero's prepayment), so Arena never sends it back. Returns what happened, as `payment_from_xero`."""
    kind = row.get("Type") or ("RECEIVE-PREPAYMENT" if row.get("PrepaymentID") else "RECEIVE-OVERPAYMENT")
    if kind not in CREDIT_KINDS:
        return "other"
    id_field, label = CREDIT_KINDS[kind]
    credit_id = str(row.get(id_field) or "").lower()
    if not credit_id or (label == "overpayment" and _overpayment_sent_by_arena(whitelabel, credit_id, row)):
        return "arena" if credit_id else "other"
    recorded = Payment.objects.filter(whitelabel=whitelabel, source=Payment.Source.XERO, source_id=credit_id).first()
    if row.get("Status") in ("VOIDED", "DELETED"):
        if recorded is None or recorded.reversed_at is not None:
            return "known" if recorded else "other"
        try:
            with transaction.atomic():
                reverse_payment(payment=recorded, reason=DELETED_IN_XERO)
                _mark_from_xero(
                    SyncRecord.objects.filter(kind=Kind.DEPOSIT_REVERSAL, object_id=recorded.pk),
                    payment_id=credit_id,
                    tenant_id=tenant_id,
                    row=None,
                    reason="Voided in Xero by a person; reversed in Arena.",
                )
        except BillingError as exc:
            return f"problem:Xero {label} {credit_id} was voided in Xero but can't be reversed in Arena: {exc}"
        return "reversed"
    if recorded is not None:
        return "known"
    customer = _arena_customer(whitelabel, tenant_id, (row.get("Contact") or {}).get("ContactID"))
    if customer is None:
        return "other"
    try:
        amount = Decimal(str(row.get("Total")))
    except InvalidOperation:
        return f"problem:Xero {label} {credit_id} has no amount Arena can read ({row.get('Total')!r})."
    try:
        with transaction.atomic():
            payment = add_credit(
                customer,
                amount,
                received_at=_received_at(row, tz),
                method=Payment.Method.BANK_TRANSFER,
                reference=f"Xero {label} {row.get('Reference') or credit_id}"[:100],
                source=Payment.Source.XERO,
                source_id=credit_id,
            )
            _mark_from_xero(
                SyncRecord.objects.filter(kind=Kind.OVERPAYMENT, object_id=payment.pk),
                payment_id=credit_id,
                tenant_id=tenant_id,
                row=row,
                reason=f"Credit entered in Xero by a person (a {label}); recorded in Arena.",
            )
    except (AlreadyRecorded, IntegrityError):
        return "known"
    except BillingError as exc:
        return f"problem:Xero {label} {credit_id} for {customer}: {exc}"
    return "imported"


def credit_note_from_xero(*, whitelabel: Whitelabel, tenant_id: str, row: dict, tz) -> str:
    """Record one sales credit note a person entered in Xero against an Arena invoice: an Arena credit note of
    its total on the invoice it is allocated to (`issue_credit_note`, source xero, dated with its Xero date),
    once. Its sync records (the credit note and its allocation) are marked from Xero: nothing is sent back.
    One not (yet) allocated to an Arena invoice is left until it is. Arena never undoes a credit note: one
    voided in Xero after Arena recorded it is reported (the import's last error, the reconcile)."""
    if row.get("Type") not in (None, "ACCRECCREDIT"):
        return "other"
    note_id = str(row.get("CreditNoteID") or "").lower()
    if not note_id or _credit_note_sent_by_arena(whitelabel, note_id, row.get("CreditNoteNumber")):
        return "arena" if note_id else "other"
    recorded = CreditNote.objects.filter(whitelabel=whitelabel, source=Payment.Source.XERO, source_id=note_id).first()
    if recorded is not None:
        if row.get("Status") in ("VOIDED", "DELETED"):
            return (
                f"problem:Xero credit note {row.get('CreditNoteNumber') or note_id} was voided in Xero; Arena keeps "
                f"{recorded.number} (a credit note can't be undone in Arena): the books differ until it is settled."
            )
        return "known"
    if row.get("Status") not in ("AUTHORISED", "PAID"):
        return "other"
    allocation, invoice = next(
        (
            (a, found)
            for a in row.get("Allocations") or []
            if (found := _arena_invoice(whitelabel, tenant_id, a.get("Invoice") or {}))
        ),
        (None, None),
    )
    if invoice is None:
        return "other"
    number = row.get("CreditNoteNumber") or note_id
    try:
        with transaction.atomic():
            note = issue_credit_note(
                invoice=invoice,
                amount=Decimal(str(row.get("Total"))),
                reason=f"Xero credit note {number}"[:200],
                issue_date=client.parse_xero_date(row.get("Date")) or timezone.localdate(timezone=tz),
                source=Payment.Source.XERO,
                source_id=note_id,
            )
            _mark_from_xero(
                SyncRecord.objects.filter(kind=Kind.CREDIT_NOTE, object_id=note.pk),
                payment_id=note_id,
                tenant_id=tenant_id,
                row=row,
                reason="Entered in Xero by a person; recorded in Arena.",
            )
            _mark_from_xero(
                SyncRecord.objects.filter(
                    kind=Kind.CREDIT_NOTE_ALLOCATION, object_id__in=note.allocations.values("pk")
                ),
                payment_id=str(allocation.get("AllocationID") or note_id).lower(),
                tenant_id=tenant_id,
                row=allocation,
                reason=f"Allocated in Xero by a person (credit note {number}); recorded in Arena.",
            )
    except (AlreadyRecorded, IntegrityError):
        return "known"
    except (BillingError, InvalidOperation) as exc:
        return f"problem:Xero credit note {number} on invoice {invoice.number}: {exc}"
    return "imported"


def _credit_note_sent_by_arena(whitelabel: Whitelabel, note_id: str, number) -> bool:
    """Arena's own: its sync record holds that CreditNoteID, or (answer lost) it carries an Arena number."""
    if SyncRecord.objects.filter(
        whitelabel=whitelabel, kind=Kind.CREDIT_NOTE, origin=Origin.ARENA, xero_id__iexact=note_id
    ).exists():
        return True
    return (
        bool(number)
        and CreditNote.objects.filter(whitelabel=whitelabel, source=Payment.Source.ARENA, number=number).exists()
    )


CREDIT_READS = (
    ("overpayments_since", client.overpayments_page, overpayment_from_xero),
    ("prepayments_since", client.prepayments_page, overpayment_from_xero),
    ("credit_notes_since", client.credit_notes_page, credit_note_from_xero),
)


def _overpayment_sent_by_arena(whitelabel: Whitelabel, overpayment_id: str, row: dict) -> bool:
    """Arena's own credit: its sync record holds that OverpaymentID, or (answer lost) its line names one of
    Arena's receipts ("Credit from receipt RCT-000042")."""
    if SyncRecord.objects.filter(
        whitelabel=whitelabel, kind=Kind.OVERPAYMENT, origin=Origin.ARENA, xero_id__iexact=overpayment_id
    ).exists():
        return True
    for line in row.get("LineItems") or []:
        words = str(line.get("Description") or "").split()
        if words[:3] == ["Credit", "from", "receipt"] and len(words) == 4:
            return Payment.objects.filter(whitelabel=whitelabel, receipt__number=words[3]).exists()
    return False


def _received_at(row: dict, tz) -> datetime.datetime:
    """Noon of the Xero date in the whitelabel's time zone (today's if Xero gave none): that date stays its date."""
    day = client.parse_xero_date(row.get("Date")) or timezone.localdate(timezone=tz)
    return datetime.datetime.combine(day, datetime.time(12), tzinfo=tz)


def _method_of(whitelabel: Whitelabel, account_code: str | None) -> str:
    """How the money came in, by the Xero account it went into: the payment method mapped to that account
    (the mapping's *money in*), bank transfer when none is, or when bank transfer is one of those mapped there."""
    mapped = set(
        MethodMapping.objects.filter(whitelabel=whitelabel, account_code=account_code or "").values_list(
            "method", flat=True
        )
    )
    if not mapped or Payment.Method.BANK_TRANSFER in mapped:
        return Payment.Method.BANK_TRANSFER
    return sorted(mapped)[0]


def _arena_customer(whitelabel: Whitelabel, tenant_id: str, contact_id) -> Customer | None:
    object_id = (
        SyncRecord.objects.filter(
            whitelabel=whitelabel,
            kind=Kind.CONTACT,
            xero_id__iexact=str(contact_id or ""),
            xero_tenant_id__iexact=tenant_id,
        )
        .values_list("object_id", flat=True)
        .first()
    )
    return Customer.objects.filter(pk=object_id, whitelabel=whitelabel).first() if object_id and contact_id else None


def _cursor_advance(cursor, newest, *, imported: int, reversed_: int, problems: list[str]) -> None:
    """Count a page, and move the cursor forward (never back) to the newest change it held."""
    now = timezone.now()
    counts = {
        "reads": F("reads") + 1,
        "imported": F("imported") + imported,
        "reversed": F("reversed") + reversed_,
        "last_read_at": now,
        **_problems(problems),
    }
    rows = XeroImportCursor.objects.filter(pk=cursor.pk)
    if newest is not None:
        rows.filter(Q(payments_since__isnull=True) | Q(payments_since__lt=newest)).update(payments_since=newest)
    rows.update(**counts)


def _problems(problems: list[str]) -> dict:
    """What a read could not record stays on the cursor (the sync card and the admin show it) until a later read
    has problems of its own or support clears it: the cursor has moved past those rows, so no later read would
    name them again."""
    if not problems:
        return {}
    return {"last_error": "; ".join(problems)[:2000], "last_error_at": timezone.now()}


def import_problems_clear(*, ids: list[int]) -> int:
    """Support settled what a read could not record: the note goes from the sync card and the admin."""
    return XeroImportCursor.objects.filter(pk__in=ids).exclude(last_error="").update(last_error="", last_error_at=None)


def zone_of(whitelabel: Whitelabel):
    """The whitelabel's time zone: Xero's dates are its local dates."""
    return ZoneInfo(whitelabel.time_zone or settings.TIME_ZONE)


# One payment ------------------------------------------------------------------------------------------


def payment_from_xero(*, whitelabel: Whitelabel, tenant_id: str, row: dict, tz) -> str:
    """Record (or reverse) one payment as Xero lists it. Returns what happened: imported, reversed, arena (one
    Arena sent), known (recorded before), other (not a payment on an Arena invoice), or "problem:<words>"."""
    if row.get("PaymentType") not in (None, "ACCRECPAYMENT"):
        return "other"
    payment_id = str(row.get("PaymentID") or "").lower()
    if not payment_id:
        return "other"
    if _sent_by_arena(whitelabel, payment_id, row.get("Reference")):
        return "arena"
    recorded = Payment.objects.filter(whitelabel=whitelabel, source=Payment.Source.XERO, source_id=payment_id).first()
    if row.get("Status") == "DELETED":
        if recorded is None or recorded.reversed_at is not None:
            return "known" if recorded else "other"
        return _reverse(recorded, tenant_id)
    if recorded is not None:
        return "known"
    invoice = _arena_invoice(whitelabel, tenant_id, row.get("Invoice") or {})
    if invoice is None:
        return "other"
    try:
        amount = Decimal(str(row.get("Amount")))
    except InvalidOperation:
        return f"problem:Xero payment {payment_id} has no amount Arena can read ({row.get('Amount')!r})."
    received_at = _received_at(row, tz)
    reference = f"Xero payment {row.get('Reference') or payment_id}"[:100]
    method = _method_of(whitelabel, (row.get("Account") or {}).get("Code"))
    try:
        with transaction.atomic():
            payment = record_payment(
                invoice.customer,
                amount,
                invoice=invoice,
                received_at=received_at,
                method=method,
                reference=reference,
                source=Payment.Source.XERO,
                source_id=payment_id,
            )
            _mark_from_xero(
                SyncRecord.objects.filter(kind=Kind.PAYMENT, object_id__in=payment.allocations.values("pk")),
                payment_id=payment_id,
                tenant_id=tenant_id,
                row=row,
                reason="Entered in Xero by a person; recorded in Arena.",
            )
            _crossed(payment, invoice, payment_id=payment_id, tenant_id=tenant_id)
    except (AlreadyRecorded, IntegrityError):
        return "known"
    except BillingError as exc:
        logger.warning("Xero payment %s could not be recorded for whitelabel %s: %s", payment_id, whitelabel.pk, exc)
        return f"problem:Xero payment {payment_id} on invoice {invoice.number}: {exc}"
    return "imported"


def _crossed(payment: Payment, invoice: Invoice, *, payment_id: str, tenant_id: str) -> int:
    """Arena and a person both paid the invoice: Arena's payment had not reached Xero when the person's did, so
    Xero would refuse it (more than the invoice owes there). What the person's payment left as credit in Arena
    goes to Xero as an overpayment instead (its own sync record), so Arena's unsent payments on the invoice, up to
    that credit, are not sent: both books then hold both payments' money, the invoice paid and the excess as
    the customer's credit. Their records say so (and name the Xero payment); returns how many."""
    left = payment.amount - sum(a.amount for a in payment.allocations.all())
    if left <= 0:
        return 0
    now = timezone.now()
    unsent = (
        SyncRecord.objects.filter(
            kind=Kind.PAYMENT,
            object_id__in=Allocation.objects.filter(
                invoice=invoice, source=Allocation.Source.PAYMENT, reversed_at__isnull=True
            )
            .exclude(payment=payment)
            .values("pk"),
        )
        .exclude(status=Status.SENT)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .order_by("id")
    )
    amounts = dict(Allocation.objects.filter(pk__in=[r.object_id for r in unsent]).values_list("pk", "amount"))
    skipped = 0
    for record in unsent:
        amount = amounts.get(record.object_id, Decimal("0"))
        if amount > left:
            continue
        left -= amount
        reason = (
            f"Not sent: a person paid invoice {invoice.number} in Xero first (Xero payment {payment_id}, recorded "
            f"in Arena as receipt {payment.receipt.number}); Xero holds this payment's money as that receipt's credit."
        )
        skipped += (
            SyncRecord.objects.filter(pk=record.pk)
            .exclude(status=Status.SENT)
            .update(
                status=Status.SKIPPED,
                reason=reason,
                next_attempt_at=None,
                blocked_by=None,
                xero_id=payment_id,
                xero_tenant_id=tenant_id,
                updated_at=now,
            )
        )
    if skipped:
        logger.info("Invoice %s was paid in Arena and in Xero: %s Arena payment(s) not sent", invoice.pk, skipped)
    return skipped


def _reverse(payment: Payment, tenant_id: str) -> str:
    try:
        with transaction.atomic():
            reverse_payment(payment=payment, reason=DELETED_IN_XERO)
            _mark_from_xero(
                SyncRecord.objects.filter(kind=Kind.PAYMENT_REVERSAL, object_id__in=payment.allocations.values("pk")),
                payment_id=payment.source_id,
                tenant_id=tenant_id,
                row=None,
                reason="Deleted in Xero by a person; reversed in Arena.",
            )
    except BillingError as exc:
        if Payment.objects.filter(pk=payment.pk, reversed_at__isnull=False).exists():
            return "known"
        return f"problem:Xero payment {payment.source_id} was deleted in Xero but can't be reversed in Arena: {exc}"
    return "reversed"


def _mark_from_xero(records, *, payment_id: str, tenant_id: str, row: dict | None, reason: str) -> int:
    """The outbox rows this change of Xero's made in Arena: already in Xero, never sent back."""
    now = timezone.now()
    return records.update(
        status=Status.SENT,
        origin=Origin.XERO,
        xero_id=payment_id,
        xero_tenant_id=tenant_id,
        response=row,
        reason=reason,
        next_attempt_at=None,
        sent_at=now,
        updated_at=now,
    )


def _sent_by_arena(whitelabel: Whitelabel, payment_id: str, reference) -> bool:
    """Arena sent it: its sync record holds that PaymentID, or (the answer to sending it was lost) it carries
    the reference Arena gives its payments, "<receipt> <invoice>"."""
    if SyncRecord.objects.filter(
        whitelabel=whitelabel, kind=Kind.PAYMENT, origin=Origin.ARENA, xero_id__iexact=payment_id
    ).exists():
        return True
    parts = str(reference or "").split()
    return (
        len(parts) == 2
        and Allocation.objects.filter(
            payment__whitelabel=whitelabel,
            payment__source=Payment.Source.ARENA,
            payment__receipt__number=parts[0],
            invoice__number=parts[1],
        ).exists()
    )


def _arena_invoice(whitelabel: Whitelabel, tenant_id: str, ref: dict) -> Invoice | None:
    """The Arena invoice a Xero payment is on: the one Arena sent with that InvoiceID to this organisation."""
    invoice_id = str(ref.get("InvoiceID") or "").lower()
    if ref.get("Type") not in (None, "ACCREC") or not invoice_id:
        return None
    object_id = (
        SyncRecord.objects.filter(
            whitelabel=whitelabel, kind=Kind.INVOICE, xero_id__iexact=invoice_id, xero_tenant_id__iexact=tenant_id
        )
        .values_list("object_id", flat=True)
        .first()
    )
    if object_id is None:
        return None
    return Invoice.objects.select_related("customer").filter(pk=object_id, whitelabel=whitelabel).first()
