"""When sync runs: at most one run per Xero organisation at a time, across all workers and machines.

A billing change bumps the whitelabel's `SyncState.event_seq` in its own transaction and, unless a run
is already under way or queued, queues one `XERO_SYNC_COALESCE_SECONDS` later (published after the
commit), so a burst becomes full batches. A run holds
a lease on the SyncState row (the lease lapses if its worker dies; it lasts as long as the task's hard
time limit); when it ends it hands the lease back and schedules the next wake-up, if anything is due
later, as one delayed task. It only lets go without a wake-up if no billing change arrived while it
worked (the event counter is unchanged); otherwise it runs again. Nothing here calls Xero; a queued run is
announced to the rate limiter (`limits.expect`), so the app-wide minute is shared with it from the start.
"""

import datetime
import logging
import secrets
from dataclasses import dataclass

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from ..models import SyncState, XeroConnection
from ..xero import limits

logger = logging.getLogger(__name__)
SYNC_TASK = "accounting.tasks.sync_organisation"


@dataclass(frozen=True)
class Lease:
    whitelabel_id: int
    token: str
    until: datetime.datetime


def lease_seconds() -> float:
    """A run's lease lasts as long as its task may live: a killed worker's organisation is free again then."""
    return settings.CELERY_TASK_TIME_LIMIT + 10


def _ensure_state(whitelabel_id: int) -> None:
    from payments.models import Whitelabel

    if Whitelabel.objects.filter(pk=whitelabel_id).exists():  # a queued run may outlive its whitelabel
        SyncState.objects.get_or_create(whitelabel_id=whitelabel_id)


def run_request(whitelabel_id: int, *, delay: float | None = None) -> None:
    """Something changed for this whitelabel: make sure a run comes, after the coalescing window.

    Called inside the transaction that made the change (the billing transaction): the counter and the
    schedule change with it, so a rolled-back change asks for nothing, and no commit of its own is added.
    One UPDATE when the run is queued by it, two when a run is already running or queued; the task is
    published after the commit.
    """
    now = timezone.now()
    at = now + datetime.timedelta(seconds=settings.XERO_SYNC_COALESCE_SECONDS if delay is None else delay)
    bump = {"event_seq": F("event_seq") + 1, "last_event_at": now}
    state = SyncState.objects.filter(whitelabel_id=whitelabel_id)
    if state.filter(_schedulable(now, at)).update(wake_at=at, **bump):
        transaction.on_commit(lambda: _queue_due(whitelabel_id, at))
    elif not state.update(**bump):
        _ensure_state(whitelabel_id)  # the first change of a new whitelabel
        if state.exists():
            run_request(whitelabel_id, delay=delay)


def _schedulable(now: datetime.datetime, at: datetime.datetime) -> Q:
    """No run holds the organisation, and none is queued for `at` or earlier (or the queued one is lost)."""
    stale = now - datetime.timedelta(seconds=settings.XERO_SYNC_SWEEP_SECONDS)
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    return free & (Q(wake_at__isnull=True) | Q(wake_at__gt=at) | Q(wake_at__lt=stale))


def _queue_due(whitelabel_id: int, at: datetime.datetime) -> None:
    """Queue the run for records that fell due, and tell the rate limiter the organisation has calls to make from
    `at`: it counts for the app-wide minute's shares before its run, queued behind others, makes a call."""
    if not _enqueue_or_forget(whitelabel_id, at):
        return
    tenant_id = (
        XeroConnection.objects.filter(whitelabel_id=whitelabel_id, status=XeroConnection.Status.ACTIVE)
        .values_list("tenant_id", flat=True)
        .first()
    )
    if tenant_id:
        limits.expect(tenant_id, after=(at - timezone.now()).total_seconds())


def _enqueue_or_forget(whitelabel_id: int, at: datetime.datetime) -> bool:
    if _enqueue(whitelabel_id, at):
        return True
    SyncState.objects.filter(whitelabel_id=whitelabel_id, wake_at=at).update(wake_at=None)
    return False


def _enqueue(whitelabel_id: int, at: datetime.datetime) -> bool:
    """Publish the run task for `at`. If the broker is down the outbox waits for the sweeper."""
    countdown = max((at - timezone.now()).total_seconds(), 0.0)
    try:
        # By name: the tasks module sits above the engine (it calls it), so the engine doesn't import it.
        current_app.send_task(SYNC_TASK, (whitelabel_id,), countdown=countdown or None)
    except Exception as exc:  # noqa: BLE001 - any broker failure: the sweeper queues it later
        logger.warning(
            "Could not queue a Xero sync for whitelabel %s (%s); the sweeper will", whitelabel_id, type(exc).__name__
        )
        return False
    return True


def lease_acquire(whitelabel_id: int) -> Lease | None:
    """Take the organisation for one run; None if another run holds it."""
    now = timezone.now()
    lease = Lease(whitelabel_id, secrets.token_hex(8), now + datetime.timedelta(seconds=lease_seconds()))
    for _ in range(2):
        taken = SyncState.objects.filter(
            Q(lease_until__isnull=True) | Q(lease_until__lt=now), whitelabel_id=whitelabel_id
        ).update(lease_until=lease.until, lease_token=lease.token, wake_at=None, last_run_at=now, runs=F("runs") + 1)
        if taken:
            return lease
        if SyncState.objects.filter(whitelabel_id=whitelabel_id).exists():
            return None
        _ensure_state(whitelabel_id)
    return None


@dataclass(frozen=True)
class Seen:
    """What a run needs of the organisation's SyncState as it starts a pass, read in one query: the billing
    changes counted so far (and when the last came), any pause, and the organisation it last sent to."""

    event_seq: int = 0
    paused_until: datetime.datetime | None = None
    tenant_id: str | None = None  # None: no SyncState row
    last_event_at: datetime.datetime | None = None

    def paused(self) -> datetime.datetime | None:
        """Until when Xero's limits pause sending, if they still do."""
        until = self.paused_until
        return until if until and until > timezone.now() else None


def seen(whitelabel_id: int) -> Seen:
    fields = ("event_seq", "paused_until", "tenant_id", "last_event_at")
    row = SyncState.objects.filter(whitelabel_id=whitelabel_id).values(*fields).first()
    return Seen(**row) if row else Seen()


def lease_release(
    lease: Lease, *, wake_at: datetime.datetime | None, seen_seq: int | None = None, resumed: dict | None = None
) -> bool:
    """Hand the organisation back. With `seen_seq`, only if no billing change came since (else False:
    the caller runs again, since the change's own request found the organisation busy). With `wake_at`,
    one run is queued for then (far wake-ups are left to the sweeper). `resumed`: what a run that got
    through leaves on the state (`resumed_fields`), written with the release, in the same statement."""
    query = SyncState.objects.filter(whitelabel_id=lease.whitelabel_id, lease_token=lease.token)
    if seen_seq is not None:
        query = query.filter(event_seq=seen_seq)
    if not query.update(lease_until=None, lease_token="", wake_at=wake_at, **(resumed or {})):
        return False
    horizon = timezone.now() + datetime.timedelta(seconds=settings.XERO_SYNC_RESCHEDULE_WITHIN_SECONDS)
    if wake_at is not None and wake_at <= horizon:
        _enqueue_or_forget(lease.whitelabel_id, wake_at)
    return True


def lease_extend(lease: Lease, *, resumed: dict | None = None) -> bool:
    """Still working: keep the lease (False if it was lost, e.g. it lapsed and another run took it). `resumed`:
    as for lease_release."""
    until = timezone.now() + datetime.timedelta(seconds=lease_seconds())
    state = SyncState.objects.filter(whitelabel_id=lease.whitelabel_id, lease_token=lease.token)
    return bool(state.update(lease_until=until, **(resumed or {})))


def pause(whitelabel_id: int, *, until: datetime.datetime | None, reason: str) -> None:
    """Xero's limits (or a lost connection) stop sending; shown on the settings page and in the admin."""
    SyncState.objects.filter(whitelabel_id=whitelabel_id).update(paused_until=until, pause_reason=reason)


def paused_until(whitelabel_id: int) -> datetime.datetime | None:
    state = SyncState.objects.filter(whitelabel_id=whitelabel_id).values("paused_until").first()
    until = state and state["paused_until"]
    return until if until and until > timezone.now() else None


def resumed_fields(*, sent: bool) -> dict:
    """What a run that got through leaves on the state: any pause cleared, and when Xero last accepted
    something. Written with the lease's release or extension (no statement of its own)."""
    fields = {"paused_until": None, "pause_reason": ""}
    if sent:
        fields["last_sent_at"] = timezone.now()
    return fields


def whitelabels_to_wake(whitelabel_ids) -> list[int]:
    """Of these whitelabels (with due records), those with no run under way and none queued in time."""
    now = timezone.now()
    stale = now - datetime.timedelta(seconds=settings.XERO_SYNC_SWEEP_SECONDS)
    busy = SyncState.objects.filter(
        Q(lease_until__gte=now) | Q(wake_at__gte=stale), whitelabel_id__in=whitelabel_ids
    ).values_list("whitelabel_id", flat=True)
    return sorted(set(whitelabel_ids) - set(busy))
