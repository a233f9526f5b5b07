"""Writing and moving outbox rows (SyncRecord). Receivers call `record_enqueue` inside the billing
transaction; the engine calls the `record(s)_*` functions. The retry schedule of a record lives here
and only here (`record_mark_failed`)."""

import datetime
import json
import logging
import random
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import Count, F, Min, Q
from django.utils import timezone

from payments.models import Invoice, Whitelabel

from ..alerts import alert_raise
from ..models import AccountingSettings, Alert, SyncAttempt, SyncRecord, XeroConnection
from . import kinds, runner

logger = logging.getLogger(__name__)
Kind = SyncRecord.Kind
Status = SyncRecord.Status

class Due(Enum):
    """Why a record is due again; each reason says what else changes (the one place that sets a record
    back to pending: `_make_due`)."""

    CHANGED = "changed"  # the Arena record changed: a new version, sent as it is now
    WOKEN = "woken"  # what it waited for is in Xero (or gone): it looks again
    NEEDED = "needed"  # another record needs it in this organisation: it goes first
    RETRY = "retry"  # someone asked (support, ops, the settings page): tried again now, attempts afresh
    RECHECK = "recheck"  # sent, but check with Xero: looked up, and sent again only if Xero lacks it
    MISSING = "missing"  # the reconcile found Xero lacks it: looked up (by key), then sent again
    SWITCHED = "switched"  # the whitelabel books to another organisation now: sent there too, looked up first

    @property
    def fields(self) -> dict:
        """What `_make_due` sets besides the status and the time, for this reason."""
        new_version = {"version": F("version") + 1}
        look_up = {"outcome_unknown": True}
        fresh = {"attempts": 0, "blocked_by": None}
        unclaimed = {"claimed_until": None}
        return {
            Due.CHANGED: {**new_version, **fresh},
            Due.WOKEN: {"blocked_by": None},
            Due.NEEDED: {"attempts": 0},
            Due.RETRY: {"attempts": 0},
            Due.RECHECK: {**new_version, **look_up, **fresh},
            Due.MISSING: {**new_version, **look_up, **fresh, "xero_id": ""},
            Due.SWITCHED: {**new_version, **look_up, **fresh, "xero_id": "", "xero_tenant_id": "", **unclaimed},
        }[self]

    @property
    def reason(self) -> str:
        """What the record says while it is due (most say nothing: they are simply on their way)."""
        return {
            Due.RECHECK: "Being checked against Xero: it is sent again only if Xero lacks it.",
            Due.MISSING: "Missing in Xero (found by the reconcile): looked up, then sent again.",
        }.get(self, "")


def _make_due(records, why: Due, *, reason: str | None = None, **extra) -> int:
    """Set `records` (a queryset) pending and due now for `why`, in one UPDATE; returns how many."""
    now = timezone.now()
    reason = why.reason if reason is None else reason
    fields = {"status": Status.PENDING, "reason": reason, "next_attempt_at": now, "updated_at": now}
    fields.update(held_by="", held_lock_date=None)  # whatever held it is looked at again
    return records.update(**fields, **why.fields, **extra)


def _sync_settings(whitelabel_id: int) -> dict:
    """The whitelabel's accounting system, payment type and connection status, in one query."""
    return Whitelabel.objects.filter(pk=whitelabel_id).values(
        system=F("accounting_settings__accounting_system"),
        payment_type=F("accounting_settings__payment_type"),
        connection=F("xero_connection__status"),
    ).first() or {"system": None, "payment_type": None, "connection": None}


def _skip_reason(found: dict) -> str | None:
    if found["system"] != AccountingSettings.System.XERO:
        return "No accounting system is chosen for this whitelabel."
    if found["connection"] in (None, XeroConnection.Status.DISCONNECTED):
        return "The whitelabel is not connected to Xero; resync it after connecting to send this."
    return None


def skip_reason(whitelabel_id: int) -> str | None:
    """Why a record would not be sent now; None if it should be."""
    return _skip_reason(_sync_settings(whitelabel_id))


def record_enqueue(
    *, whitelabel_id: int, kind: str, object_id: int, label: str, resend: bool = False, created: bool = False
) -> SyncRecord | None:
    """Add (or with `resend`, re-arm as a new version) the outbox row for an Arena record, in the
    caller's transaction, and ask for a run (queued after commit). `created`: the Arena record is new, so
    its row can't exist yet. Returns None when it already exists and nothing changed."""
    found = _sync_settings(whitelabel_id)
    if not kinds.applies(found["payment_type"], kind):
        return None
    reason = _skip_reason(found)
    now = timezone.now()
    fields = {
        "whitelabel_id": whitelabel_id,
        "label": label,
        "status": Status.SKIPPED if reason else Status.PENDING,
        "reason": reason or "",
        "next_attempt_at": None if reason else now,
    }
    if created:
        record, made = SyncRecord.objects.create(kind=kind, object_id=object_id, **fields), True
    else:
        record, made = SyncRecord.objects.get_or_create(kind=kind, object_id=object_id, defaults=fields)
    if not made:
        if not resend or reason:
            return None
        # A new version: a run sending the old one right now won't mark it sent.
        _make_due(SyncRecord.objects.filter(pk=record.pk), Due.CHANGED, label=label)
        record.status = Status.PENDING
    if record.status == Status.PENDING:
        runner.run_request(whitelabel_id)
    return record


def due_filter(now: datetime.datetime) -> Q:
    return Q(status__in=[Status.PENDING, Status.FAILED], next_attempt_at__lte=now) & (_not_claimed(now))


def due_by_kind(whitelabel_id: int) -> dict[str, tuple[int, datetime.datetime]]:
    """For each kind with records due now: how many, and when the oldest fell due (one query; nothing is
    claimed)."""
    rows = (
        SyncRecord.objects.filter(due_filter(timezone.now()), whitelabel_id=whitelabel_id)
        .values("kind")
        .annotate(count=Count("id"), oldest=Min("next_attempt_at"))
        .order_by()
    )
    return {row["kind"]: (row["count"], row["oldest"]) for row in rows}


def records_claim(*, whitelabel_id: int, kind: str, limit: int) -> list[SyncRecord]:
    """Take up to `limit` due records of one kind of one whitelabel (one Xero organisation), oldest first.

    The organisation's lease keeps other runs away; row locks (SKIP LOCKED on PostgreSQL) keep the claim
    safe anyway, and the claim lapses with the lease if the worker dies.
    """
    now = timezone.now()
    until = now + datetime.timedelta(seconds=runner.lease_seconds())
    query = SyncRecord.objects.filter(due_filter(now), whitelabel_id=whitelabel_id, kind=kind).order_by("id")
    if connection.vendor == "postgresql":
        # One statement (one round trip, its own commit) instead of a transaction of four.
        due, params = query.values("id")[:limit].query.sql_with_params()
        table = SyncRecord._meta.db_table
        sql = (
            f"UPDATE {table} SET claimed_until = %s WHERE id IN ({due} FOR UPDATE SKIP LOCKED) RETURNING {table}.*"
        )
        return sorted(SyncRecord.objects.raw(sql, [until, *params]), key=lambda record: record.pk)
    with transaction.atomic():
        records = list(query.select_for_update(skip_locked=True)[:limit])
        if records:
            SyncRecord.objects.filter(id__in=[r.pk for r in records]).update(claimed_until=until)
    for record in records:
        record.claimed_until = until
    return records


def next_due_at(whitelabel_id: int, *, after: datetime.datetime) -> datetime.datetime | None:
    """When the next record falls due after `after` (a retry's time, or the end of a dead run's claim)."""
    waiting = SyncRecord.objects.filter(
        whitelabel_id=whitelabel_id, status__in=[Status.PENDING, Status.FAILED], next_attempt_at__isnull=False
    )
    found = waiting.aggregate(
        retry=Min("next_attempt_at", filter=Q(next_attempt_at__gt=after)),
        lapse=Min("claimed_until", filter=Q(claimed_until__gt=after)),
    )
    times = [t for t in found.values() if t is not None]
    return min(times) if times else None


def backoff_seconds(attempts: int) -> float:
    """Exponential backoff with full jitter, capped."""
    base, cap = settings.XERO_SYNC_RETRY_BASE_SECONDS, settings.XERO_SYNC_RETRY_MAX_SECONDS
    return random.uniform(base, min(cap, base * 2 ** max(attempts - 1, 0)))


def _save(record: SyncRecord, **fields) -> None:
    fields.setdefault("claimed_until", None)
    for name, value in fields.items():
        setattr(record, name, value)
    record.save(update_fields=[*fields, "updated_at"])


def _update_from_rows(columns: tuple[str, ...], rows: list[tuple], assignments: str, params: list, *, returning=""):
    """One UPDATE of many sync records, each with its own values: `rows` (id first, then `columns`) become a
    table `v`, and `assignments` set the record `r` from it (`r.payload = v.payload`). Django's bulk_update
    builds a CASE per row and field, which cost more than the Xero call for a batch of 50; this is the same
    statement for PostgreSQL and SQLite. Returns the rows of `returning`, if asked."""
    table = SyncRecord._meta.db_table
    row_sql = "(" + ", ".join(["%s"] * (len(columns) + 1)) + ")"
    sql = (
        f"WITH v(id, {', '.join(columns)}) AS (VALUES {', '.join([row_sql] * len(rows))}) "
        f"UPDATE {table} AS r SET {assignments} FROM v WHERE r.id = v.id"
        + (f" RETURNING {returning}" if returning else "")
    )
    # In a transaction, as bulk_update's are: a connection that broke meanwhile is closed on the way out, so
    # the next query (the attempts, the release of the lease) reconnects instead of failing again. Inside the
    # caller's transaction, no savepoint of its own (two more round trips): it fails with it.
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute(sql, [value for row in rows for value in row] + params)
        return cursor.fetchall() if returning else []


@dataclass(frozen=True)
class Json:
    """A JSON value and its text, encoded once: a batch's bodies and Xero's answers are each stored twice (on
    the record and on its attempt), and encoding them again every time cost a part of every call. `value` is
    what the text says (a date or a decimal becomes its string), as read back from the database."""

    value: Any
    text: str

    @classmethod
    def of(cls, value) -> "Json":
        text = json.dumps(value, cls=DjangoJSONEncoder)
        return cls(json.loads(text), text)


def _json(value) -> str | None:
    if value is None:
        return None
    return value.text if isinstance(value, Json) else json.dumps(value, cls=DjangoJSONEncoder)


def _value(value):
    """The JSON value itself (of a Json, or as it is)."""
    return value.value if isinstance(value, Json) else value


def _as_json(column: str) -> str:
    """A JSON value from `v`: PostgreSQL's jsonb wants the text cast; SQLite keeps JSON as text."""
    return f"CAST(v.{column} AS jsonb)" if connection.vendor == "postgresql" else f"v.{column}"


def records_mark_sending(records: list[SyncRecord], payloads: list[Json]) -> None:
    """Just before the call: from now until an answer, the outcome is unknown (one query). `payloads`: what
    is sent for each record, in the same order."""
    for record, payload in zip(records, payloads, strict=True):
        record.payload, record.outcome_unknown, record.attempts = payload.value, True, record.attempts + 1
    if records:
        _update_from_rows(
            ("payload",),
            [(r.pk, p.text) for r, p in zip(records, payloads, strict=True)],
            f"payload = {_as_json('payload')}, outcome_unknown = %s, attempts = r.attempts + 1",
            [True],
        )


def records_unsend(records: list[SyncRecord], *, unclear_before: dict[int, bool], reason: str) -> None:
    """The call was held back or refused before Xero did anything (rate limit, lost connection): no
    attempt counts, the record goes back as it was, and waits for the run to be woken again."""
    for record in records:
        record.outcome_unknown = unclear_before[record.pk]
        record.attempts -= 1
        record.claimed_until = None
        record.reason = reason
    SyncRecord.objects.bulk_update(records, ["outcome_unknown", "attempts", "claimed_until", "reason"])


def records_release(records: list[SyncRecord], *, reason: str) -> None:
    """Give back what is still claimed (the run stopped before getting to it), saying why."""
    SyncRecord.objects.filter(pk__in=[r.pk for r in records], claimed_until__isnull=False).update(
        claimed_until=None, reason=reason, updated_at=timezone.now()
    )


def records_fail_unexpectedly(records: list[SyncRecord], *, reason: str) -> None:
    """Arena's own code failed on these before (or while) sending: each still claimed counts an attempt and
    follows the retry schedule, so it shows, and gives up in the end, instead of failing in a loop."""
    for record in SyncRecord.objects.filter(pk__in=[r.pk for r in records], claimed_until__isnull=False):
        record.attempts += 1
        record.save(update_fields=["attempts"])
        record_mark_failed(record, reason=reason, unclear=record.outcome_unknown)


def record_mark_sent(record: SyncRecord, *, xero_id: str, response: dict | Json | None, tenant_id: str) -> bool:
    """One record Xero has (e.g. found by a look-up): see records_mark_sent."""
    return bool(records_mark_sent([(record, xero_id, response)], tenant_id=tenant_id))


def records_mark_sent(answers: list[tuple[SyncRecord, str, dict | Json | None]], *, tenant_id: str) -> int:
    """A batch Xero accepted, in two queries whatever its size: every record keeps Xero's id and answer;
    those whose version is the one sent are sent (a record that changed in flight stays pending, so the
    new version goes too); the records waiting for any of them wake. Returns how many were sent."""
    if not answers:
        return 0
    now = timezone.now()
    texts = [_json(response) for _, _, response in answers]
    for record, xero_id, response in answers:
        record.xero_id, record.response = xero_id or record.xero_id, _value(response)
        record.outcome_unknown, record.xero_tenant_id, record.claimed_until = False, tenant_id, None
        record.updated_at = now
    same = "r.version = v.version"
    returned = _update_from_rows(
        ("version", "xero_id", "response"),
        [(r.pk, r.version, r.xero_id, text) for (r, _, _), text in zip(answers, texts, strict=True)],
        f"xero_id = v.xero_id, response = {_as_json('response')}, outcome_unknown = %s, xero_tenant_id = %s, "
        "claimed_until = NULL, updated_at = %s, "
        f"status = CASE WHEN {same} THEN %s ELSE r.status END, reason = CASE WHEN {same} THEN '' ELSE r.reason END, "
        f"next_attempt_at = CASE WHEN {same} THEN NULL ELSE r.next_attempt_at END, "
        f"sent_at = CASE WHEN {same} THEN %s ELSE r.sent_at END, "
        f"blocked_by_id = CASE WHEN {same} THEN NULL ELSE r.blocked_by_id END",
        [False, tenant_id, now, Status.SENT, now],
        returning="status",
    )
    records_wake(blocked_by=[r.pk for r, _, _ in answers])
    return sum(1 for (status,) in returned if status == Status.SENT)


def record_mark_failed(
    record: SyncRecord,
    *,
    reason: str,
    response: dict | None = None,
    unclear: bool = False,
    retry_in: float | None = None,
) -> None:
    """A failed attempt, retried after `retry_in` (or backoff) until XERO_SYNC_MAX_ATTEMPTS run out;
    then it stays failed, with no next attempt, until someone fixes the cause and resyncs. An `unclear`
    one (no answer) is looked up no sooner than twice XERO_HTTP_TIMEOUT. Records waiting for it say why."""
    give_up = record.attempts >= settings.XERO_SYNC_MAX_ATTEMPTS
    delay = retry_in if retry_in is not None else backoff_seconds(record.attempts)
    if unclear:
        # Xero may still be carrying out the call that went unanswered: look it up only once it must have.
        delay = max(delay, 2 * settings.XERO_HTTP_TIMEOUT)
    _save(
        record,
        status=Status.FAILED,
        reason=reason,
        response=response if response is not None else record.response,
        outcome_unknown=unclear,
        next_attempt_at=None if give_up else timezone.now() + datetime.timedelta(seconds=delay),
    )
    if give_up:
        alert_raise(
            whitelabel_id=record.whitelabel_id,
            kind=Alert.Kind.FAILED,
            text=f"{record.get_kind_display()} {record.label} failed for good: {reason}",
        )
    if give_up or retry_in is not None:
        SyncRecord.objects.filter(blocked_by=record, status=Status.WAITING).update(
            reason=f"Waiting for {record.get_kind_display().lower()} {record.label}, which failed: {reason}",
            updated_at=timezone.now(),
        )


def record_park(record: SyncRecord, *, on: SyncRecord, reason: str) -> None:
    """Wait for `on` (e.g. the invoice a payment pays) without any task running; woken when it is sent."""
    _save(record, status=Status.WAITING, blocked_by=on, reason=reason, next_attempt_at=None)


def record_hold(record: SyncRecord, *, by: str, reason: str, lock_date: datetime.date | None = None) -> None:
    """Held by the organisation (its lock date, its plan): no call until that changes (sync/holds.py). Not a
    failure: its attempts are as they were before (the caller gives back one a refused call counted)."""
    _save(
        record, status=Status.HELD, reason=reason, next_attempt_at=None, held_by=by, held_lock_date=lock_date,
        attempts=record.attempts, outcome_unknown=record.outcome_unknown,
    )
    text = f"{record.get_kind_display()} {record.label}: {reason}"
    alert_raise(whitelabel_id=record.whitelabel_id, kind=Alert.Kind.HELD, text=text)


def records_release_holds(records) -> int:
    """What held `records` (a queryset of held ones) changed: they are due now (and checked again), as a new
    version, so that a call Xero refused before is not answered with its refusal (the Idempotency-Key)."""
    return _make_due(records.filter(status=Status.HELD), Due.WOKEN, version=F("version") + 1)


def record_skip(record: SyncRecord, *, reason: str) -> None:
    _save(record, status=Status.SKIPPED, reason=reason, next_attempt_at=None, outcome_unknown=False, blocked_by=None)
    records_wake(blocked_by=[record.pk])


def records_wake(*, blocked_by: Iterable[int]) -> int:
    """The records waiting for these are due now (they look again at what they need)."""
    return _make_due(SyncRecord.objects.filter(blocked_by__in=list(blocked_by), status=Status.WAITING), Due.WOKEN)


def records_wake_orphans(now: datetime.datetime | None = None) -> int:
    """Safety net for the sweeper: records waiting for a record that is gone or already in Xero."""
    now = now or timezone.now()
    orphans = SyncRecord.objects.filter(status=Status.WAITING).filter(
        Q(blocked_by__isnull=True) | Q(blocked_by__status=Status.SENT)
    )
    return _make_due(orphans, Due.WOKEN)


def dependency_rearm(record: SyncRecord) -> None:
    """A record another one needs isn't on its way (skipped, or sent to another organisation): send it."""
    _make_due(SyncRecord.objects.filter(pk=record.pk), Due.NEEDED)
    record.status = Status.PENDING


@dataclass(frozen=True)
class CallResult:
    """What one call did for one record, for its history."""

    record: SyncRecord
    outcome: str
    message: str = ""
    request: dict | Json | None = None
    response: dict | Json | None = None


ATTEMPT_COLUMNS = (
    "record_id", "started_at", "duration_ms", "operation", "xero_tenant_id", "version", "outcome", "message",
    "request", "response",
)  # fmt: skip


def attempts_record(
    *, operation: str, tenant_id: str, started_at: datetime.datetime, duration_ms: int, results: list[CallResult]
) -> None:
    """One attempt per record, in one INSERT whatever the batch's size, with the bodies and answers as they
    were encoded for the records (bulk_create encoded each again, and its per-field work cost more than the
    statement)."""
    if not results:
        return
    as_json = "CAST(%s AS jsonb)" if connection.vendor == "postgresql" else "%s"
    row_sql = "(" + ", ".join(["%s"] * (len(ATTEMPT_COLUMNS) - 2) + [as_json, as_json]) + ")"
    sql = (
        f"INSERT INTO {SyncAttempt._meta.db_table} ({', '.join(ATTEMPT_COLUMNS)}) "
        f"VALUES {', '.join([row_sql] * len(results))}"
    )
    at = connection.ops.adapt_datetimefield_value(started_at)
    params = [
        value
        for o in results
        for value in (
            o.record.pk, at, duration_ms, operation, tenant_id, o.record.version, o.outcome, o.message[:2000],
            _json(o.request), _json(o.response),
        )
    ]  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def attempts_prune(*, older_than_days: int) -> int:
    cutoff = timezone.now() - datetime.timedelta(days=older_than_days)
    deleted, _ = SyncAttempt.objects.filter(started_at__lt=cutoff).delete()
    return deleted


def records_rearm(*, whitelabel_id: int, ids) -> int:
    """Make the given records pending and due now, if the whitelabel is connected; records a run is
    sending right now are left alone. Sends after commit."""
    return len(_rearm(whitelabel_id=whitelabel_id, ids=ids))


def _rearm(*, whitelabel_id: int, ids) -> list[int]:
    """records_rearm, returning the ids of the records it made due."""
    if skip_reason(whitelabel_id) is not None:
        return []
    chosen = list(
        SyncRecord.objects.filter(whitelabel_id=whitelabel_id, id__in=ids)
        .exclude(status__in=[Status.SENT, Status.WAITING])
        .filter(_not_claimed(timezone.now()))
        .select_for_update()
        .values_list("id", flat=True)
    )
    _make_due(SyncRecord.objects.filter(id__in=chosen), Due.RETRY)
    if chosen:
        runner.run_request(whitelabel_id)
    return chosen


def records_resync(*, whitelabel: Whitelabel, statuses: tuple[str, ...] = (Status.SKIPPED, Status.FAILED)) -> int:
    """Send again what was skipped or failed (after connecting, or after fixing the cause)."""
    ids = SyncRecord.objects.filter(whitelabel=whitelabel, status__in=statuses).values("id")
    return records_rearm(whitelabel_id=whitelabel.pk, ids=ids)


def records_rearm_for_tenant(*, whitelabel_id: int, tenant_id: str, tenant_name: str) -> int:
    """The whitelabel now books to another organisation: everything that was on its way or sent goes
    there too (looked up first, in case that organisation already has it). Skipped records stay skipped.
    Called by a run holding the organisation's lease, so nothing is in flight."""
    records = (
        SyncRecord.objects.filter(whitelabel_id=whitelabel_id)
        .exclude(status=Status.SKIPPED)
        .exclude(xero_tenant_id=tenant_id, status=Status.SENT)
    )
    return _make_due(records, Due.SWITCHED, reason=f"To be sent to {tenant_name}, the organisation now connected.")


# Support and ops ---------------------------------------------------------------------------------


def _not_claimed(now: datetime.datetime) -> Q:
    return Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)


def records_retry(*, ids) -> list[int]:
    """Support's "retry now": the records among `ids` that can go are due now, whitelabel by whitelabel
    (see records_rearm: not sent ones, not those waiting for another record or being sent right now, and
    only for connected whitelabels). Returns their ids (for the history of each). Sends after commit."""
    records = SyncRecord.objects.filter(id__in=ids)
    retried = []
    for whitelabel_id in records.values_list("whitelabel_id", flat=True).distinct().order_by():
        retried += _rearm(whitelabel_id=whitelabel_id, ids=records.filter(whitelabel_id=whitelabel_id).values("id"))
    return retried


def records_skip(*, ids, reason: str, by: str = "") -> int:
    """Support decided these records won't go to Xero (e.g. someone entered them there by hand): they are
    skipped with the reason, kept on the record, and so are the records waiting for them, which would
    otherwise send them after all. Sent records and records a run is sending right now are left alone;
    whether an unclear call reached Xero stays noted. "Retry now" sends a skipped record after all.
    Returns how many records were skipped, the waiting ones included."""
    reason = " ".join(reason.split())
    if not reason:
        raise ValueError("Say why the records are skipped.")
    note = f"Skipped by {by}: {reason}" if by else f"Skipped: {reason}"
    now = timezone.now()
    fields = {"status": Status.SKIPPED, "next_attempt_at": None, "blocked_by": None, "updated_at": now}
    with transaction.atomic():
        chosen = SyncRecord.objects.filter(id__in=ids).exclude(status=Status.SENT).filter(_not_claimed(now))
        frontier = list(chosen.values_list("id", flat=True))
        count = SyncRecord.objects.filter(id__in=frontier).update(reason=note, **fields)
        while frontier:
            waiting = list(
                SyncRecord.objects.filter(blocked_by__in=frontier, status=Status.WAITING).values_list("id", flat=True)
            )
            count += SyncRecord.objects.filter(id__in=waiting).update(
                reason=f"{note} (it waited for a record skipped with it)", **fields
            )
            frontier = waiting
    return count


def records_recheck(*, whitelabel_id: int, ids) -> int:
    """Check sent records against Xero again and send only what Xero lacks (`resync_xero --status sent`).

    Each goes back to pending with its outcome unknown, so the engine looks it up in Xero before sending
    (invoices by number, payments and receipts by reference, overpayments by their line, credit on its
    overpayment, voids by status; contacts are upserted by ContactNumber, never duplicated). It becomes a
    new version so that a re-send has an Idempotency-Key of its own: Xero answers a key it has seen (for a
    day) with its first answer, without doing anything, and so would never re-create a payment deleted
    there since. Invoices voided in Arena are left to their void's record. Only for connected whitelabels;
    records a run is sending right now are left alone. Sends after commit."""
    if skip_reason(whitelabel_id) is not None:
        return 0
    records = (
        SyncRecord.objects.filter(whitelabel_id=whitelabel_id, id__in=ids, status=Status.SENT)
        .filter(_not_claimed(timezone.now()))
        .exclude(kind=Kind.INVOICE, object_id__in=Invoice.objects.filter(status=Invoice.Status.VOID).values("id"))
    )
    count = _make_due(records, Due.RECHECK)
    if count:
        runner.run_request(whitelabel_id)
    return count


# Drift: what a person changed in Xero, and what Xero lacks (accounting/reconcile/, webhooks) --------------


def records_mark_changed_in_xero(changes: dict[int, list[str]]) -> int:
    """Flag records a person changed in Xero after they were sent, saying what changed. The first time found is
    kept; a new finding is added to the words. Nothing is sent: Arena never overwrites a person's change."""
    now, flagged = timezone.now(), 0
    for record in SyncRecord.objects.filter(pk__in=list(changes)):
        words = [w for w in dict.fromkeys(changes[record.pk]) if w not in record.xero_change]
        if record.changed_in_xero_at is not None and not words:
            continue
        record.changed_in_xero_at = record.changed_in_xero_at or now
        record.xero_change = " ".join(filter(None, [record.xero_change, *words]))[:4000]
        SyncRecord.objects.filter(pk=record.pk).update(
            changed_in_xero_at=record.changed_in_xero_at, xero_change=record.xero_change, updated_at=now
        )
        alert_raise(
            whitelabel_id=record.whitelabel_id,
            kind=Alert.Kind.CHANGED,
            text=f"{record.get_kind_display()} {record.label}: {' '.join(words) or record.xero_change}",
        )
        flagged += 1
    if flagged:
        logger.info("%s sync record(s) flagged as changed in Xero", flagged)
    return flagged


def records_resolve_changed_in_xero(*, ids) -> int:
    """Someone has looked at what was changed in Xero and dealt with it: clear the flag."""
    return SyncRecord.objects.filter(id__in=ids, changed_in_xero_at__isnull=False).update(
        changed_in_xero_at=None, xero_change="", updated_at=timezone.now()
    )


def records_resend_missing(*, whitelabel_id: int, ids) -> int:
    """Records Arena sent that Xero lacks: send them again as a new version whose outcome is unknown, so the
    engine looks each up first and creates only what is really missing (and what waits for them follows).
    Records a run is sending right now are left alone. Sends after commit."""
    if skip_reason(whitelabel_id) is not None:
        return 0
    records = SyncRecord.objects.filter(whitelabel_id=whitelabel_id, id__in=ids).filter(_not_claimed(timezone.now()))
    count = _make_due(records, Due.MISSING)
    if count:
        runner.run_request(whitelabel_id, delay=0)
    return count
