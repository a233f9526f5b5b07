"""Celery tasks: thin, take ids, and leave the work to the sync engine."""

import logging

from celery import shared_task
from django.conf import settings
from django.db import DatabaseError

from . import services
from .sync import engine, outbox
from .xero.errors import XeroError

logger = logging.getLogger(__name__)


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(DatabaseError, XeroError),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
    ignore_result=True,
)
def sync_whitelabel(whitelabel_id: int) -> None:
    """Send the due outbox rows of one whitelabel; come back when the next one falls due."""
    delay = engine.sync_whitelabel(whitelabel_id)
    if delay is not None and delay <= settings.XERO_SYNC_RESCHEDULE_WITHIN_SECONDS:
        outbox.request_sync(whitelabel_id, countdown=delay)


@shared_task(acks_late=True, ignore_result=True)
def sweep_outbox() -> int:
    """Periodic (Celery beat): enqueue every whitelabel with due rows (e.g. saved while the broker was
    down), and forget unfinished consents."""
    due = engine.whitelabels_due()
    for whitelabel_id in due:
        outbox.request_sync(whitelabel_id)
    services.pending_authorisations_purge()
    return len(due)
