"""Xero's webhooks: store the raw delivery, verify it, then process it in a task (dj-stripe's pattern).

Xero POSTs batches of thin events (an invoice or contact of an organisation was created or updated) signed
with `x-xero-signature` = base64(HMAC-SHA256(raw body, webhook key)), and expects 200 within 5 seconds (401
for a wrong signature: that is also how its "intent to receive" check is answered). Anyone can post to the
URL, so only what the key signed is stored; the rest is answered 401 (or 400) and counted. The view only
stores the delivery; `delivery_process` (in a Celery task) records each event once, however often Xero delivers
it, reads the invoices and contacts it names from Xero, compares them with what Arena sent
(`reconcile.records_check_in_xero`) and flags the records a person changed in Xero.

Xero sends no events for payments, bank transactions or accounts: the reconcile finds a deleted payment
or an archived account (a deleted payment does update its invoice, whose event is checked here).
"""

import base64
import datetime
import hashlib
import hmac
import json
import logging
from collections import defaultdict
from dataclasses import dataclass

from celery import current_app
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from . import imports, reconcile
from .models import XeroConnection, XeroWebhookDelivery, XeroWebhookEvent, XeroWebhookRefusal
from .xero.errors import XeroError, XeroRateLimited, XeroUnavailable

logger = logging.getLogger(__name__)
PROCESS_TASK = "accounting.tasks.process_xero_webhook"
Finding = XeroWebhookEvent.Finding
MAX_BODY_BYTES = 1_000_000  # Xero's batches hold at most a few hundred thin events
STALE_AFTER = datetime.timedelta(minutes=5)  # a verified delivery not processed by then is queued again


class TryLater(Exception):
    """Xero's limits, an outage, or records on their way to Xero held the processing back; the task retries
    after `retry_in` seconds."""

    def __init__(self, reason: str, retry_in: float):
        self.retry_in = retry_in
        super().__init__(reason)


class WaitingForRecords(TryLater):
    """The events of an organisation with records on their way to Xero wait for those: the task is queued
    again after `retry_in` seconds for as long as that lasts (not counted as a retry)."""


def signature_valid(body: bytes, signature: str, key: str) -> bool:
    """Xero's signature over the raw bytes, compared in constant time."""
    expected = base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(expected.encode(), (signature or "").encode())


class Refused(Exception):
    """A post to the webhook URL that is not a delivery from Xero: answered with `status`, counted, never
    stored. The message says why (for the log and the count)."""

    def __init__(self, reason: str, status: int = 401):
        self.status = status
        super().__init__(reason)


def delivery_store(*, body: bytes, signature: str, key: str) -> XeroWebhookDelivery:
    """Verify a delivery and store it as it came; its events are processed by a task after commit.

    Raises Refused (nothing stored) for a missing or wrong signature (401), or a signed body that is not
    Xero's JSON (400)."""
    if not signature:
        raise Refused("The delivery has no x-xero-signature header.")
    if not signature_valid(body, signature, key):
        raise Refused("The signature does not match XERO_WEBHOOK_KEY.")
    try:
        text = body.decode("utf-8")
        payload = json.loads(text)
        events = payload["events"]
        if not isinstance(events, list):
            raise TypeError("events is not a list")
        _check_text(payload)
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise Refused(f"Signed, but not a webhook payload ({exc}).", status=400) from None
    delivery = XeroWebhookDelivery(
        body=text,
        signature=signature[:200],
        verified=True,
        event_count=len(events),
        first_event_sequence=_sequence(payload.get("firstEventSequence")),
        last_event_sequence=_sequence(payload.get("lastEventSequence")),
    )
    if not events:  # Xero's intent-to-receive check, or an empty batch
        delivery.processed_at = timezone.now()
    delivery.save()
    if events:
        transaction.on_commit(lambda: delivery_enqueue(delivery.pk))
    return delivery


def _check_text(value) -> None:
    """ValueError if any text in the payload is one the database can't hold: a NUL or a lone surrogate
    (which JSON's escapes \\u0000 and \\ud800 decode to)."""
    if isinstance(value, dict):
        for key, item in value.items():
            _check_text(key)
            _check_text(item)
    elif isinstance(value, list):
        for item in value:
            _check_text(item)
    elif isinstance(value, str):
        if "\x00" in value:
            raise ValueError("a NUL character")
        value.encode("utf-8")  # UnicodeEncodeError (a ValueError) for a lone surrogate


def refusal_count(*, reason: str) -> None:
    """Count a refused post on today's row (one row a day, whatever is posted)."""
    now = timezone.now()
    day, reason = timezone.localdate(now), reason[:200]
    for _ in range(2):
        updated = XeroWebhookRefusal.objects.filter(day=day).update(
            count=F("count") + 1, last_at=now, last_reason=reason
        )
        if updated:
            return
        try:
            with transaction.atomic():
                XeroWebhookRefusal.objects.create(day=day, count=1, last_at=now, last_reason=reason)
            return
        except IntegrityError:
            continue  # another request made today's row first: count on it


def _sequence(value) -> int | None:
    return value if isinstance(value, int) and value >= 0 else None


def delivery_enqueue(delivery_id: int, *, countdown: float | None = None) -> bool:
    """Queue the processing task; if the broker is down the sweeper queues it later."""
    try:
        # By name: the tasks module sits above this one (it calls it).
        current_app.send_task(PROCESS_TASK, (delivery_id,), countdown=countdown)
    except Exception as exc:  # noqa: BLE001 - the delivery is stored; the sweeper catches up
        logger.warning("Could not queue Xero webhook delivery %s (%s); the sweeper will", delivery_id, exc)
        return False
    return True


def event_key(event: dict) -> str:
    """What makes an event the same event when Xero delivers it again (its batch and sequence may differ)."""
    parts = [str(event.get(name) or "").lower() for name in ("tenantId", "eventCategory", "eventType", "resourceId")]
    parts.append(str(event.get("eventDateUtc") or ""))
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def _event_date(value) -> datetime.datetime | None:
    try:
        moment = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


def events_record(delivery: XeroWebhookDelivery) -> int:
    """Store the delivery's events that were never stored before; returns how many were new."""
    new = 0
    for event in json.loads(delivery.body)["events"]:
        if not isinstance(event, dict):
            continue
        try:
            with transaction.atomic():
                XeroWebhookEvent.objects.create(
                    key=event_key(event),
                    delivery=delivery,
                    tenant_id=str(event.get("tenantId") or "")[:64],
                    category=str(event.get("eventCategory") or "")[:20],
                    event_type=str(event.get("eventType") or "")[:20],
                    resource_id=str(event.get("resourceId") or "")[:64],
                    event_date=_event_date(event.get("eventDateUtc")),
                )
            new += 1
        except IntegrityError:
            pass  # delivered before: processed (or being processed) with its first delivery
    return new


@dataclass(frozen=True)
class Processed:
    new_events: int
    findings: dict[str, int]


def delivery_process(delivery_id: int) -> Processed | None:
    """Process a stored, verified delivery: each new event once. Returns None if there is nothing to do."""
    delivery = XeroWebhookDelivery.objects.filter(pk=delivery_id, verified=True).first()
    if delivery is None or delivery.processed_at is not None:
        return None
    new = events_record(delivery)
    pending = list(delivery.events.filter(finding=Finding.PENDING))
    by_tenant = defaultdict(list)
    for event in pending:
        by_tenant[event.tenant_id.lower()].append(event)
    waiting = [tenant_id for tenant_id, events in by_tenant.items() if not _process_tenant(tenant_id, events)]
    if waiting:
        raise WaitingForRecords(
            f"Records are on their way to Xero for {len(waiting)} organisation(s): their events are read once "
            "those are in.",
            settings.XERO_WEBHOOK_BACKLOG_RETRY_SECONDS,
        )
    XeroWebhookDelivery.objects.filter(pk=delivery.pk).update(processed_at=timezone.now(), error="", retry_at=None)
    findings = defaultdict(int)
    for finding in delivery.events.values_list("finding", flat=True):
        findings[finding] += 1
    return Processed(new, dict(findings))


HANDLED = {"INVOICE", "CONTACT"}  # what Arena sends; credit notes aren't (issue 14)


def _process_tenant(tenant_id: str, events: list[XeroWebhookEvent]) -> bool:
    """The organisation's events, processed; False if they wait (pending) for its records on their way to Xero:
    on bill-run day Xero tells of every invoice Arena creates and pays, and reading each in the organisation's
    share of the app's minute would slow what billing sends (bench/RESULTS.md)."""
    connection = (
        XeroConnection.objects.filter(tenant_id__iexact=tenant_id)
        .exclude(status=XeroConnection.Status.DISCONNECTED)
        .select_related("whitelabel")
        .first()
    )
    if connection is None:
        _finish(events, Finding.IGNORED, "No whitelabel is connected to this Xero organisation.")
        return True
    if connection.is_active and imports.sending_backlog(connection.whitelabel_id):
        return False
    if connection.is_active and any(e.category == "INVOICE" for e in events):
        _import_payments(connection)
    by_category = defaultdict(list)
    for event in events:
        event.whitelabel = connection.whitelabel
        if event.category not in HANDLED:
            _finish([event], Finding.IGNORED, f"Arena sends no {event.category.lower() or 'such'} records to Xero.")
        elif event.event_type == "CREATE":
            # Created in Xero: by Arena (it was sent as it is) or by a person (not one of Arena's records).
            _finish([event], Finding.IGNORED, "Created in Xero; nothing to compare yet.")
        else:
            by_category[event.category].append(event)
    if not by_category:
        return True
    if not connection.is_active:
        _finish([e for es in by_category.values() for e in es], Finding.FAILED, "The Xero connection needs an admin.")
        return True
    for category, group in by_category.items():
        ids = list(dict.fromkeys(e.resource_id for e in group))
        try:
            checks = reconcile.records_check_in_xero(connection, category, ids)
        except XeroRateLimited as exc:
            raise TryLater(str(exc), exc.retry_after) from None
        except XeroUnavailable as exc:
            raise TryLater(str(exc), 30.0) from None
        except XeroError as exc:
            _finish(group, Finding.FAILED, f"Xero could not be read: {exc}")
            continue
        for event in group:
            check = checks.get(event.resource_id)
            event.record = check.record if check else None
            _finish([event], check.finding if check else Finding.IGNORED, check.note if check else "")
    return True


def _import_payments(connection: XeroConnection) -> None:
    """A payment entered (or deleted) in Xero changes its invoice: record it before the invoices are compared,
    so that what Arena now records is not reported as a change. One read for the whole delivery."""
    if not imports.imports_from_xero(connection.whitelabel):
        return
    try:
        imports.payments_import(whitelabel=connection.whitelabel)
    except XeroRateLimited as exc:
        raise TryLater(str(exc), exc.retry_after) from None
    except XeroUnavailable as exc:
        raise TryLater(str(exc), 30.0) from None
    except XeroError as exc:
        logger.warning("Payments entered in Xero not read for whitelabel %s: %s", connection.whitelabel_id, exc)


def _finish(events: list[XeroWebhookEvent], finding: str, note: str) -> None:
    now = timezone.now()
    for event in events:
        event.finding, event.note, event.processed_at = finding, note[:2000], now
        event.save(update_fields=["finding", "note", "processed_at", "whitelabel", "record"])


def delivery_retry_later(delivery_id: int, reason: str, retry_in: float) -> None:
    """Processing waits for Xero (its limits, an outage); the task tries again then."""
    retry_at = timezone.now() + datetime.timedelta(seconds=retry_in)
    XeroWebhookDelivery.objects.filter(pk=delivery_id).update(error=reason[:2000], retry_at=retry_at)


def delivery_failed(delivery_id: int, reason: str) -> None:
    """Processing broke on something retrying won't fix: keep the reason; the events left are failed."""
    now = timezone.now()
    XeroWebhookDelivery.objects.filter(pk=delivery_id).update(error=reason[:2000], processed_at=now)
    XeroWebhookEvent.objects.filter(delivery_id=delivery_id, finding=Finding.PENDING).update(
        finding=Finding.FAILED, note=reason[:2000], processed_at=now
    )


def deliveries_requeue_stale(now: datetime.datetime | None = None) -> list[int]:
    """Safety net for the sweeper: verified deliveries still unprocessed a while after they came, or after
    their retry was due (the broker was down, or the worker died), are queued again. Returns their ids."""
    now = now or timezone.now()
    stale = XeroWebhookDelivery.objects.filter(verified=True, processed_at__isnull=True).filter(
        Q(retry_at__isnull=True, received_at__lt=now - STALE_AFTER) | Q(retry_at__lt=now - STALE_AFTER)
    )
    return [pk for pk in stale.values_list("pk", flat=True)[:100] if delivery_enqueue(pk)]


def deliveries_prune(*, older_than_days: int) -> int:
    cutoff = timezone.now() - datetime.timedelta(days=older_than_days)
    deleted, _ = XeroWebhookDelivery.objects.filter(received_at__lt=cutoff).delete()
    return deleted
