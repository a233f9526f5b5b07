"""Writing and moving outbox rows (SyncRecord). Receivers call `record_enqueue` inside the billing
transaction; the engine calls the `record_mark_*` functions."""

import datetime
import logging
import random

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from payments.models import Whitelabel

from ..models import AccountingSettings, SyncRecord, XeroConnection

logger = logging.getLogger(__name__)
Kind = SyncRecord.Kind
Status = SyncRecord.Status

POSTPAID_KINDS = {Kind.INVOICE, Kind.INVOICE_VOID, Kind.PAYMENT, Kind.OVERPAYMENT, Kind.CREDIT_ALLOCATION}
PREPAID_KINDS = {Kind.RECEIPT}


def applies(accounting: AccountingSettings | None, kind: str) -> bool:
    """Whether the whitelabel's payment type sends this kind at all (post-paid: invoices and payments;
    pre-paid: receipts; contacts in both)."""
    payment_type = accounting.payment_type if accounting else AccountingSettings.PaymentType.POSTPAID
    if kind in POSTPAID_KINDS:
        return payment_type == AccountingSettings.PaymentType.POSTPAID
    if kind in PREPAID_KINDS:
        return payment_type == AccountingSettings.PaymentType.PREPAID
    return True


_UNREAD = object()


def skip_reason(whitelabel_id: int, accounting=_UNREAD) -> str | None:
    """Why a record would not be sent now; None if it should be. Pass `accounting` if already read."""
    if accounting is _UNREAD:
        accounting = AccountingSettings.objects.filter(whitelabel_id=whitelabel_id).first()
    if accounting is None or not accounting.uses_xero:
        return "No accounting system is chosen for this whitelabel."
    connection = XeroConnection.objects.filter(whitelabel_id=whitelabel_id).first()
    if connection is None or connection.status == XeroConnection.Status.DISCONNECTED:
        return "The whitelabel is not connected to Xero; resync it after connecting to send this."
    return None


def record_enqueue(
    *, whitelabel_id: int, kind: str, object_id: int, label: str, resend: bool = False
) -> SyncRecord | None:
    """Add (or with `resend`, re-arm) the outbox row for an Arena record, in the caller's transaction,
    and send it after commit. Returns None when it already exists and nothing changed."""
    accounting = AccountingSettings.objects.filter(whitelabel_id=whitelabel_id).first()
    if not applies(accounting, kind):
        return None
    reason = skip_reason(whitelabel_id, accounting)
    record, created = SyncRecord.objects.get_or_create(
        kind=kind,
        object_id=object_id,
        defaults={
            "whitelabel_id": whitelabel_id,
            "label": label,
            "status": Status.SKIPPED if reason else Status.PENDING,
            "reason": reason or "",
            "next_attempt_at": None if reason else timezone.now(),
        },
    )
    if not created:
        if not resend or reason:
            return None
        # A new version: a worker sending the old one right now won't mark it sent.
        SyncRecord.objects.filter(pk=record.pk).update(
            status=Status.PENDING,
            reason="",
            label=label,
            attempts=0,
            next_attempt_at=timezone.now(),
            version=F("version") + 1,
            updated_at=timezone.now(),
        )
        record.status = Status.PENDING
    if record.status == Status.PENDING:
        transaction.on_commit(lambda: request_sync(whitelabel_id))
    return record


def request_sync(whitelabel_id: int, *, countdown: float | None = None) -> bool:
    """Ask a worker to sync the whitelabel. If the broker is down the rows wait for the sweeper."""
    from ..tasks import sync_whitelabel

    try:
        sync_whitelabel.apply_async((whitelabel_id,), countdown=countdown)
    except Exception as exc:  # noqa: BLE001 - any broker failure: the sweeper sends it later
        logger.warning(
            "Could not enqueue Xero sync for whitelabel %s (%s); the sweeper will send it",
            whitelabel_id,
            type(exc).__name__,
        )
        return False
    return True


def due_filter(now: datetime.datetime) -> Q:
    return Q(status__in=[Status.PENDING, Status.FAILED], next_attempt_at__lte=now) & (
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    )


def records_claim(*, whitelabel_id: int, limit: int, lease_seconds: int = 300) -> list[SyncRecord]:
    """Take up to `limit` due records of one whitelabel (one Xero organisation) for this worker.

    Row locks with SKIP LOCKED (PostgreSQL) or the database write lock (SQLite) make sure no two
    workers take the same record; the lease returns them if the worker dies.
    """
    now = timezone.now()
    with transaction.atomic():
        query = SyncRecord.objects.filter(due_filter(now), whitelabel_id=whitelabel_id).order_by("id")
        ids = list(query.select_for_update(skip_locked=True).values_list("id", flat=True)[:limit])
        SyncRecord.objects.filter(id__in=ids).update(claimed_until=now + datetime.timedelta(seconds=lease_seconds))
    return list(SyncRecord.objects.filter(id__in=ids).order_by("id"))


def backoff_seconds(attempts: int) -> float:
    """Exponential backoff with full jitter, capped."""
    base, cap = settings.XERO_SYNC_RETRY_BASE_SECONDS, settings.XERO_SYNC_RETRY_MAX_SECONDS
    return random.uniform(base, min(cap, base * 2 ** max(attempts - 1, 0)))


def _save(record: SyncRecord, *, keep_claim: bool = False, **fields) -> None:
    for name, value in fields.items():
        setattr(record, name, value)
    if not keep_claim:
        record.claimed_until = None
    record.save(update_fields=[*fields, "claimed_until", "updated_at"])


def record_mark_sending(records: list[SyncRecord], payloads: dict[int, dict]) -> None:
    """Just before the call: from now until an answer, the outcome is unknown."""
    for record in records:
        _save(record, keep_claim=True, payload=payloads[record.pk], outcome_unknown=True, attempts=record.attempts + 1)


def record_mark_sent(record: SyncRecord, *, xero_id: str, response: dict | None, tenant_id: str) -> None:
    """Sent, unless the Arena record changed while it was in flight: then Xero's id is kept and the
    record stays pending, so the new version goes too."""
    now = timezone.now()
    answer = {
        "xero_id": xero_id or record.xero_id,
        "response": response,
        "outcome_unknown": False,
        "xero_tenant_id": tenant_id,
        "claimed_until": None,
        "updated_at": now,
    }
    done = {"status": Status.SENT, "reason": "", "next_attempt_at": None, "sent_at": now}
    if not SyncRecord.objects.filter(pk=record.pk, version=record.version).update(**answer, **done):
        SyncRecord.objects.filter(pk=record.pk).update(**answer)
        done = {}
    for name, value in {**answer, **done}.items():
        setattr(record, name, value)


def record_mark_failed(
    record: SyncRecord,
    *,
    reason: str,
    response: dict | None = None,
    unclear: bool = False,
    retry_in: float | None = None,
) -> None:
    """A failed attempt; retried after `retry_in` (or backoff) until attempts run out, then it stays
    failed with no next attempt until someone fixes the cause and resyncs."""
    give_up = record.attempts >= settings.XERO_SYNC_MAX_ATTEMPTS
    delay = retry_in if retry_in is not None else backoff_seconds(record.attempts)
    _save(
        record,
        status=Status.FAILED,
        reason=reason,
        response=response if response is not None else record.response,
        outcome_unknown=unclear,
        next_attempt_at=None if give_up else timezone.now() + datetime.timedelta(seconds=delay),
    )


def record_release(record: SyncRecord, *, reason: str, retry_in: float = 0.0) -> None:
    """Give a record back without counting an attempt (waiting for a dependency, rate limit, paused)."""
    _save(record, reason=reason, next_attempt_at=timezone.now() + datetime.timedelta(seconds=retry_in))


def record_skip(record: SyncRecord, *, reason: str) -> None:
    _save(record, status=Status.SKIPPED, reason=reason, next_attempt_at=None, outcome_unknown=False)


def records_rearm(*, whitelabel_id: int, ids) -> int:
    """Make the given records pending and due now, if the whitelabel is connected; send after commit."""
    if skip_reason(whitelabel_id) is not None:
        return 0
    count = (
        SyncRecord.objects.filter(whitelabel_id=whitelabel_id, id__in=ids)
        .exclude(status=Status.SENT)
        .update(
            status=Status.PENDING,
            reason="",
            attempts=0,
            next_attempt_at=timezone.now(),
            claimed_until=None,
            updated_at=timezone.now(),
        )
    )
    if count:
        transaction.on_commit(lambda: request_sync(whitelabel_id))
    return count


def records_resync(*, whitelabel: Whitelabel, statuses: tuple[str, ...] = (Status.SKIPPED, Status.FAILED)) -> int:
    """Send again what was skipped or failed (after connecting, or after fixing the cause)."""
    ids = SyncRecord.objects.filter(whitelabel=whitelabel, status__in=statuses).values("id")
    return records_rearm(whitelabel_id=whitelabel.pk, ids=ids)
