"""Celery tasks: thin, take ids, and leave the work to the sync engine.

Retries: a record's retry schedule lives in the outbox (`outbox.record_mark_failed`), never here. Celery
retries a task only when the engine could not do its work at all (the database was unreachable).
"""

import logging

from celery import shared_task
from django.conf import settings
from django.db import DatabaseError

from . import services
from .sync import engine, outbox, runner

logger = logging.getLogger(__name__)


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(DatabaseError,),
    retry_backoff=5,
    retry_jitter=True,
    max_retries=5,
    ignore_result=True,
)
def sync_organisation(whitelabel_id: int) -> None:
    """One sync run for the whitelabel's Xero organisation (a no-op if another run holds it)."""
    engine.run_organisation(whitelabel_id)


@shared_task(acks_late=True, ignore_result=True)
def sweep_outbox() -> int:
    """Periodic (Celery beat): queue a run for every organisation with due records and none queued (saved
    while the broker was down, or held by a worker that died), wake records whose dependency is gone or
    sent, forget unfinished consents, and prune old attempt history."""
    outbox.records_wake_orphans()
    woken = runner.whitelabels_to_wake(engine.whitelabels_due())
    for whitelabel_id in woken:
        runner.run_request(whitelabel_id, delay=0)
    services.pending_authorisations_purge()
    outbox.attempts_prune(older_than_days=settings.XERO_SYNC_HISTORY_DAYS)
    return len(woken)
