"""The run loop: a sync run for one whitelabel (one Xero organisation) drains the outbox kind by kind in
the order of sync/kinds.py, in batches of up to `XERO_SYNC_BATCH_SIZE`; each kind's handler
(sync/documents.py, sync/money.py) builds the batch and sends it through the protocol (sync/protocol.py).
This module decides when and how long: the lease, draining, holding part batches, taking turns.

- **One run per organisation** (runner.py's lease). A run works for `XERO_SYNC_RUN_SECONDS` at most,
  then gives its worker back and queues the next run, so no organisation waits for another's backlog.
- **Coalescing.** Full batches go at once; a part batch waits while billing changes keep arriving, until
  `XERO_SYNC_COALESCE_SECONDS` pass without one (or its oldest record has waited `XERO_SYNC_MAX_HOLD_SECONDS`).
- **No polling.** A record that needs another one in Xero first (a payment its invoice) is parked
  (status waiting) and woken when that one is sent; nothing runs meanwhile. If the other one isn't on
  its way (skipped, or sent to an organisation no longer connected) it is sent first.
- **Exactly once.** Every write carries an Idempotency-Key naming the action (operation, target,
  records and their versions, body); Xero ids are stored with their organisation; a record whose last
  call got no answer is looked up in Xero before it is sent again (invoices by number, payments and
  receipts by reference, overpayments by their line, allocations on their overpayment, voids by status).
- **One retry policy**: outbox.record_mark_failed. Rate limits hold the run back without counting an
  attempt; Xero's 400s wait for a fix; anything unexpected fails the record with its message.
"""

import datetime
import logging
import time
from collections.abc import Callable
from typing import TypeVar

from billiard.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import DatabaseError, InterfaceError
from django.db.models import Q
from django.utils import timezone

from ..alerts import alert_raise
from ..connection import chart_recheck
from ..models import AccountingSettings, Alert, SyncRecord, SyncState, XeroConnection
from ..xero.errors import XeroRateLimited
from . import daily, documents, fees, kinds, money, outbox, runner  # noqa: F401 - they register the senders
from .protocol import Paused, Run

logger = logging.getLogger(__name__)
MAX_PASSES = 20
T = TypeVar("T")


# The run ---------------------------------------------------------------------------------------------


def _quiet_at(
    whitelabel_id: int, now: datetime.datetime, last_event: datetime.datetime | None = None
) -> datetime.datetime:
    """When billing will have been quiet for XERO_SYNC_COALESCE_SECONDS (after its last change, read now
    unless `last_event` was just read)."""
    if last_event is None:
        state = SyncState.objects.filter(whitelabel_id=whitelabel_id)
        last_event = state.values_list("last_event_at", flat=True).first()
    return (last_event or now) + datetime.timedelta(seconds=settings.XERO_SYNC_COALESCE_SECONDS)


def _partial_batch_hold(
    oldest_due: datetime.datetime, *, now: datetime.datetime, quiet_at: datetime.datetime
) -> datetime.datetime | None:
    """Until when a part batch waits for more of its kind (None: send it now)."""
    give_up_at = oldest_due + datetime.timedelta(seconds=settings.XERO_SYNC_MAX_HOLD_SECONDS)
    if now >= quiet_at or now >= give_up_at:
        return None
    return min(quiet_at, give_up_at)


def _drain(run: Run, last_event: datetime.datetime | None = None) -> datetime.datetime | None:
    """Send what is due, kind by kind, until nothing is; returns when part batches held back may go.
    `last_event`: billing's last change as the run began (the first pass need not read it again)."""
    batch = settings.XERO_SYNC_BATCH_SIZE
    whitelabel_id = run.whitelabel.pk
    holds: dict[str, datetime.datetime] = {}
    due = None
    for _ in range(MAX_PASSES):
        progress = claimed_none = False
        # One moment per pass: kinds billed together (a payment and the credit it left) are held, or sent,
        # together and in run order.
        now = timezone.now()
        quiet_at = _quiet_at(whitelabel_id, now, last_event) if run.hold_partial else now
        last_event = None
        if due is None:  # else read just after the last pass's last batch: nothing was sent since
            due = outbox.due_by_kind(whitelabel_id)
        for row in kinds.KINDS:
            while True:
                if run.out_of_time():
                    return timezone.now()
                count, oldest = due.get(row.kind, (0, None))
                if not count:
                    break
                hold = run.hold_partial and count < batch and _partial_batch_hold(oldest, now=now, quiet_at=quiet_at)
                if hold:
                    holds[row.kind] = hold
                    break
                holds.pop(row.kind, None)
                records = outbox.records_claim(whitelabel_id=whitelabel_id, kind=row.kind, limit=batch)
                if not records:
                    claimed_none = True  # another run's, after all: read again what is due
                    break
                _handle(run, row.send, records)
                progress = True
                run.batches += 1
                if _should_yield(run):
                    return timezone.now()
                due = outbox.due_by_kind(whitelabel_id)  # what was sent may have woken records that waited for it
        if not progress:
            return min(holds.values(), default=None)
        if claimed_none:
            due = None
    return timezone.now()


def _should_yield(run: Run) -> bool:
    """After XERO_SYNC_FAIR_BATCHES batches, give the worker back if another organisation's run is queued
    and due but has no worker: runs take turns, so no organisation waits for another's whole backlog."""
    if run.batches < settings.XERO_SYNC_FAIR_BATCHES:
        return False
    now = timezone.now()
    waiting = SyncState.objects.filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now), wake_at__lte=now)
    return waiting.exclude(whitelabel_id=run.whitelabel.pk).exists()


def _handle(run: Run, handler, records: list[SyncRecord]) -> None:
    """Run one kind's handler; whatever it leaves claimed is given back with the reason, never held."""
    try:
        handler(run, records)
    except Paused as exc:
        outbox.records_release(records, reason=exc.reason)
        raise
    except (DatabaseError, InterfaceError, SoftTimeLimitExceeded):
        raise
    except Exception as exc:  # noqa: BLE001 - one kind's bug must not hold the organisation's run
        logger.exception("Xero sync of %s records for whitelabel %s failed", records[0].kind, run.whitelabel.pk)
        outbox.records_fail_unexpectedly(records, reason=f"Unexpected error: {type(exc).__name__}: {exc}")


def _skip_all(whitelabel_id: int) -> None:
    reason = outbox.skip_reason(whitelabel_id)
    for kind in (row.kind for row in kinds.KINDS):
        while records := outbox.records_claim(whitelabel_id=whitelabel_id, kind=kind, limit=1000):
            for record in records:
                outbox.record_skip(record, reason=reason)


def _switch_organisation(whitelabel_id: int, connection: XeroConnection, state: runner.Seen) -> None:
    """The whitelabel now books to another organisation: send it everything (see the README)."""
    if state.tenant_id is None or state.tenant_id == connection.tenant_id:
        return
    if state.tenant_id:
        count = outbox.records_rearm_for_tenant(
            whitelabel_id=whitelabel_id, tenant_id=connection.tenant_id, tenant_name=connection.tenant_name
        )
        logger.info("Whitelabel %s switched Xero organisation: %s records to send again", whitelabel_id, count)
    SyncState.objects.filter(whitelabel_id=whitelabel_id).update(tenant_id=connection.tenant_id)


def _connection_with_settings(whitelabel_id: int) -> tuple[XeroConnection | None, AccountingSettings | None]:
    """The whitelabel's active connection, with its whitelabel and accounting settings (one query)."""
    connection = (
        XeroConnection.objects.select_related("whitelabel__accounting_settings")
        .filter(whitelabel_id=whitelabel_id, status=XeroConnection.Status.ACTIVE)
        .first()
    )
    if connection is None:
        return None, None
    try:
        return connection, connection.whitelabel.accounting_settings
    except AccountingSettings.DoesNotExist:
        return connection, None


def _run_once(
    whitelabel_id: int, state: runner.Seen, *, deadline: float, hold_partial: bool
) -> tuple[datetime.datetime | None, dict]:
    """Drain the organisation; returns when it needs the next run (None: when billing asks), and, if the run
    got through, what it leaves on the state (runner.resumed_fields; written when the lease is released or
    extended). `state`: the organisation's SyncState as this pass began."""
    connection, accounting = _connection_with_settings(whitelabel_id)
    if connection is None:
        return None, {}  # not connected, or waiting for an admin to reconnect: records wait
    if accounting is None or not accounting.uses_xero:
        _skip_all(whitelabel_id)
        return None, {}
    paused = state.paused()
    if paused is not None:
        return paused, {}
    _switch_organisation(whitelabel_id, connection, state)
    run = Run(connection.whitelabel, connection, accounting, deadline, hold_partial)
    try:
        held = _drain(run, state.last_event_at)
    except Paused as exc:
        logger.info("Xero sync for whitelabel %s paused: %s", whitelabel_id, exc.reason)
        if exc.retry_in is None:
            return None, {}  # the connection needs an admin; reconnecting asks for a run
        until = timezone.now() + datetime.timedelta(seconds=exc.retry_in)
        runner.pause(whitelabel_id, until=until, reason=exc.reason)
        if XeroRateLimited.PROBLEMS["day"] in exc.reason:
            alert_raise(
                whitelabel_id=whitelabel_id,
                kind=Alert.Kind.PAUSED,
                text=f"{connection.tenant_name} used up Xero's daily limit of calls: sending to it resumes at "
                f"{until:%d %b %Y %H:%M} UTC. Nothing is lost; other organisations are not affected.",
            )
        return until, {}
    finally:
        if run.refused:  # the run coded records against a chart it may have kept an hour: the retry reads it
            chart_recheck(connection)
    later = outbox.next_due_at(whitelabel_id, after=timezone.now())
    return min([t for t in (held, later) if t is not None], default=None), runner.resumed_fields(sent=run.sent > 0)


def run_organisation(whitelabel_id: int, *, hold_partial: bool = True) -> None:
    """One sync run for the whitelabel's organisation, if no other run holds it.

    It ends when nothing is due (and no billing change came meanwhile), or after XERO_SYNC_RUN_SECONDS;
    either way it hands the organisation back with the time of the next run, if any.
    """
    lease = runner.lease_acquire(whitelabel_id)
    if lease is None:
        return
    deadline = time.monotonic() + settings.XERO_SYNC_RUN_SECONDS
    # If the run breaks off (an error, the soft time limit), the next one comes after the first backoff.
    wake_at = timezone.now() + datetime.timedelta(seconds=settings.XERO_SYNC_RETRY_BASE_SECONDS)
    resumed: dict = {}
    try:
        while True:
            state = runner.seen(whitelabel_id)
            seen = state.event_seq
            wake_at, resumed = _run_once(whitelabel_id, state, deadline=deadline, hold_partial=hold_partial)
            if time.monotonic() > deadline:
                wake_at = timezone.now()  # give the worker back; the next run carries on
                break
            soon = timezone.now() + datetime.timedelta(seconds=settings.XERO_SYNC_MAX_HOLD_SECONDS)
            if wake_at is not None and wake_at <= soon:
                break  # a run comes soon anyway and sees whatever billing added meanwhile
            # Nothing due soon: hand back only if billing added nothing while this run worked.
            if runner.lease_release(lease, wake_at=wake_at, seen_seq=seen, resumed=resumed):
                return  # handed back
            if not runner.lease_extend(lease, resumed=resumed):
                return  # lost (the whitelabel was deleted, or the lease lapsed)
            resumed = {}
    except (DatabaseError, InterfaceError):
        _release_after_database_error(lease, wake_at)
        raise
    except BaseException:
        runner.lease_release(lease, wake_at=wake_at, resumed=resumed)
        raise
    runner.lease_release(lease, wake_at=wake_at, resumed=resumed)


def run_and_wait(
    whitelabel_id: int,
    measure: Callable[[], T],
    *,
    done: Callable[[T], bool],
    stuck: Callable[[T], str | None] = lambda state: None,
    deadline: float,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[T, str | None]:
    """Sync the organisation in this process until `done(measure())` (for `resync_xero --wait` and
    `xero_reconcile --fix`). Each run goes through the organisation's lease: while a worker's run holds it,
    this waits for that run instead of running beside it. Returns the last measure, and why it stopped early
    (`stuck(state)`'s words, or the deadline on `time.monotonic()`), None once done."""
    state = measure()
    while not done(state):
        run_organisation(whitelabel_id, hold_partial=False)
        before, state = state, measure()
        if done(state):
            break
        why = stuck(state) or ("--timeout passed; the worker sends the rest." if time.monotonic() > deadline else None)
        if why:
            return state, why
        if state == before:
            sleep(0.5)  # a worker's run holds the organisation, or a retry is not due yet
    return state, None


def _release_after_database_error(lease: runner.Lease, wake_at) -> None:
    """The database connection broke mid-run: hand the organisation back on a fresh one if possible
    (else the lease lapses on its own)."""
    from django.db import connection

    try:
        connection.close()
        # Only this run could claim the organisation's records: give them back (their outcome stays
        # unknown where a call was made, so the next run looks them up first).
        SyncRecord.objects.filter(whitelabel_id=lease.whitelabel_id, claimed_until__isnull=False).update(
            claimed_until=None
        )
        runner.lease_release(lease, wake_at=wake_at)
    except (DatabaseError, InterfaceError):
        logger.warning("Could not release the sync lease of whitelabel %s; it lapses", lease.whitelabel_id)


def whitelabels_due(now: datetime.datetime | None = None) -> list[int]:
    """Whitelabels with an active connection, records due now, and no pause (for the sweeper)."""
    now = now or timezone.now()
    active = XeroConnection.objects.filter(status=XeroConnection.Status.ACTIVE).values("whitelabel_id")
    paused = SyncState.objects.filter(paused_until__gt=now).values("whitelabel_id")
    return list(
        SyncRecord.objects.filter(outbox.due_filter(now), whitelabel_id__in=active)
        .exclude(whitelabel_id__in=paused)
        .values_list("whitelabel_id", flat=True)
        .distinct()
    )
