"""Celery tasks: thin, take ids, and leave the work to the sync engine.

Retries: a record's retry schedule lives in the outbox (`outbox.record_mark_failed`), never here. Celery
retries a task only when the engine could not do its work at all (the database was unreachable), and a
webhook delivery's processing when Xero's limits or an outage hold it back (after Xero's Retry-After).
"""

import logging

from celery import shared_task
from django.conf import settings
from django.db import DatabaseError, InterfaceError

from payments.models import Whitelabel

from . import alerts, imports, reconcile, selectors, services, summaries, webhooks
from .errors import NotConnected
from .models import Reconciliation
from .sync import engine, outbox, runner
from .xero.errors import XeroError, XeroRateLimited, XeroUnavailable

logger = logging.getLogger(__name__)
RATE_LIMITED_RETRIES = 50  # a delivery held back by Xero's limits waits out their windows, not forever
# A first (full) reconcile of a big organisation reads many pages at 60 calls a minute: give it an hour. Later
# nightly runs read only what changed since the last one.
RECONCILE_TIME_LIMIT = 3600


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(DatabaseError, InterfaceError),
    retry_backoff=5,
    retry_jitter=True,
    max_retries=5,
    ignore_result=True,
)
def sync_organisation(whitelabel_id: int) -> None:
    """One sync run for the whitelabel's Xero organisation (a no-op if another run holds it)."""
    engine.run_organisation(whitelabel_id)


@shared_task(acks_late=True, ignore_result=True)
def make_daily_summaries() -> int:
    """Periodic (Celery beat): the daily summaries of pre-paid receipts of every day that has closed (issue 20);
    each summary's save puts it in the outbox."""
    return summaries.daily_summaries_make()


@shared_task(acks_late=True, ignore_result=True)
def sweep_outbox() -> int:
    """Periodic (Celery beat): queue a run for every organisation with due records and none queued (saved
    while the broker was down, or held by a worker that died), wake records whose dependency is gone or
    sent, forget unfinished consents, queue Xero webhook deliveries left unprocessed, and prune old attempt
    and webhook history."""
    outbox.records_wake_orphans()
    woken = runner.whitelabels_to_wake(engine.whitelabels_due())
    for whitelabel_id in woken:
        runner.run_request(whitelabel_id, delay=0)
    services.pending_authorisations_purge()
    outbox.attempts_prune(older_than_days=settings.XERO_SYNC_HISTORY_DAYS)
    webhooks.deliveries_requeue_stale()
    webhooks.deliveries_prune(older_than_days=settings.XERO_SYNC_HISTORY_DAYS)
    return len(woken)


# A task whose worker dies is delivered again (acks late), and one whose database was away is retried: what it
# did is done once whatever (a stored delivery, a recorded payment).
REDELIVERED = dict(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(DatabaseError, InterfaceError),
    retry_backoff=5,
    retry_jitter=True,
    max_retries=10,
    ignore_result=True,
)


@shared_task(**REDELIVERED)
def process_xero_webhook(self, delivery_id: int) -> None:
    """Process one stored Xero webhook delivery (a no-op once processed, or if its signature was wrong)."""
    try:
        webhooks.delivery_process(delivery_id)
    except webhooks.WaitingForRecords as exc:
        webhooks.delivery_retry_later(delivery_id, str(exc), exc.retry_in)
        webhooks.delivery_enqueue(delivery_id, countdown=exc.retry_in)  # a bill-run may outlast any retry count
    except webhooks.TryLater as exc:
        webhooks.delivery_retry_later(delivery_id, str(exc), exc.retry_in)
        raise self.retry(countdown=max(exc.retry_in, 1.0), max_retries=RATE_LIMITED_RETRIES) from None
    except (DatabaseError, InterfaceError):
        raise
    except Exception as exc:
        webhooks.delivery_failed(delivery_id, f"Unexpected error: {type(exc).__name__}: {exc}")
        raise


@shared_task(acks_late=True, ignore_result=True)
def reconcile_all() -> int:
    """Periodic (Celery beat, XERO_RECONCILE_SCHEDULE): queue a reconcile for every connected whitelabel."""
    whitelabels = reconcile.whitelabels_to_reconcile()
    for whitelabel in whitelabels:
        reconcile_whitelabel.delay(whitelabel.pk)
    return len(whitelabels)


@shared_task(
    acks_late=True,
    ignore_result=True,
    time_limit=RECONCILE_TIME_LIMIT,
    soft_time_limit=RECONCILE_TIME_LIMIT - 30,
)
def reconcile_whitelabel(whitelabel_id: int) -> None:
    """Compare one whitelabel's books with Xero's (what changed since the last nightly run) and flag what a
    person changed in Xero. It never sends anything: `xero_reconcile --fix` does, when someone asks."""
    whitelabel = Whitelabel.objects.filter(pk=whitelabel_id).first()
    if whitelabel is None:
        return
    plan = reconcile.nightly_plan(whitelabel)
    try:
        reconcile.whitelabel_reconcile(
            whitelabel=whitelabel,
            since=plan.since,
            only=plan.only,
            chain_from=plan.chain_from,
            budget=reconcile.day_share_budget(),
            trigger=Reconciliation.Trigger.SCHEDULE,
        )
    except (NotConnected, XeroError) as exc:
        logger.warning("Nightly reconcile of whitelabel %s not done: %s", whitelabel_id, exc)


@shared_task(acks_late=True, ignore_result=True)
def lock_dates_check() -> int:
    """Hourly (Celery beat): read the lock dates again of each organisation with records held by one (or
    never read), so they go as soon as the accountant moves the lock date. Returns how many were read."""
    read = 0
    for connection in selectors.connections_to_read_lock_dates():
        if services.connection_read_lock_dates(connection=connection) is not None:
            read += 1
    return read


@shared_task(acks_late=True, ignore_result=True)
def refresh_idle_connections() -> int:
    """Daily (Celery beat): refresh connections unused for 50 days before Xero's 60-day refresh-token expiry."""
    return services.connections_refresh_idle()


@shared_task(acks_late=True, ignore_result=True)
def mail_alerts(whitelabel_id: int | None, kind: str) -> bool:
    """Mail the alerts of one kind that wait for the whitelabel (at most one email a kind a day)."""
    return alerts.alerts_mail(whitelabel_id=whitelabel_id, kind=kind)


@shared_task(acks_late=True, ignore_result=True)
def mail_alerts_due() -> int:
    """Hourly (Celery beat): the digests whose day is up."""
    return alerts.alerts_mail_due()


@shared_task(acks_late=True, ignore_result=True)
def poll_xero_payments() -> int:
    """Periodic (Celery beat, XERO_IMPORT_POLL_SECONDS): ask for a read of the payments entered in Xero of every
    whitelabel that records them (what webhooks missed)."""
    whitelabel_ids = imports.whitelabels_to_import()
    for whitelabel_id in whitelabel_ids:
        imports.import_request(whitelabel_id, delay=0)
    return len(whitelabel_ids)


@shared_task(**REDELIVERED)
def import_xero_payments(self, whitelabel_id: int) -> None:
    """Record the payments people entered (or deleted) in the whitelabel's Xero organisation since the last
    read. A worker killed midway leaves the task to run again: what it recorded is not recorded twice."""
    whitelabel = Whitelabel.objects.filter(pk=whitelabel_id).first()
    if whitelabel is None:
        return
    try:
        imports.payments_import(whitelabel=whitelabel)
    except XeroRateLimited as exc:
        raise self.retry(countdown=max(exc.retry_after or 1.0, 1.0), max_retries=RATE_LIMITED_RETRIES) from None
    except XeroUnavailable:
        raise self.retry(countdown=30) from None
    except (NotConnected, XeroError) as exc:
        logger.warning("Payments entered in Xero not read for whitelabel %s: %s", whitelabel_id, exc)
