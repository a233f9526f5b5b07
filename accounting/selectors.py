"""Reads for the integration's pages."""

import datetime
from dataclasses import dataclass

from django.db.models import Count, Max
from django.utils import timezone

from payments.models import Whitelabel

from .models import Reconciliation, SyncRecord, SyncState, XeroConnection

Status = SyncRecord.Status

# Statuses a record stays in until someone (or the sweeper, much later) acts; any other status means
# a worker is about to send it, so the settings page keeps refreshing its sync card.
SETTLED = frozenset({Status.SENT, Status.FAILED, Status.SKIPPED, Status.WAITING})
# Words on the settings page where the status name is jargon; other statuses show their own label.
STATUS_WORDS = {Status.PENDING: "Queued", Status.SKIPPED: "Not sent"}
# A failed record retried this soon counts as in progress too (the card refreshes until it is retried).
RETRY_SOON = datetime.timedelta(minutes=2)


@dataclass(frozen=True)
class StatusCount:
    status: str
    label: str
    count: int


@dataclass(frozen=True)
class SyncSummary:
    counts: dict[str, int]
    failures: list[SyncRecord]
    last_sent_at: datetime.datetime | None = None
    retrying_soon: int = 0
    paused_until: datetime.datetime | None = None
    pause_reason: str = ""
    changed_in_xero: int = 0  # records a person changed in Xero after they were sent, not yet resolved
    changed_example: SyncRecord | None = None
    reconciled_at: datetime.datetime | None = None  # when the books were last compared with Xero's
    setting_drift: tuple[str, ...] = ()  # e.g. the revenue account archived in Xero, from that comparison

    @property
    def statuses(self) -> list[StatusCount]:
        """Every status that has records (and always Sent), in the order the model declares them."""
        return [
            StatusCount(value, STATUS_WORDS.get(value, label), self.counts.get(value, 0))
            for value, label in Status.choices
            if self.counts.get(value) or value == Status.SENT
        ]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def skipped(self) -> int:
        return self.counts.get(Status.SKIPPED, 0)

    @property
    def failed(self) -> int:
        return self.counts.get(Status.FAILED, 0)

    @property
    def unsent(self) -> int:
        """Records only a resync sends: billed while not connected (skipped) or given up on (failed)."""
        return self.skipped + self.failed

    @property
    def in_progress(self) -> int:
        """Records a worker will send shortly: the page polls while there are any."""
        return sum(n for status, n in self.counts.items() if status not in SETTLED) + self.retrying_soon


def sync_summary(whitelabel: Whitelabel, *, failures: int = 5) -> SyncSummary:
    """How many of the whitelabel's records are in each state, when Xero last accepted one, and the
    latest failures with their reasons."""
    records = SyncRecord.objects.filter(whitelabel=whitelabel)
    counts = {row["status"]: row["n"] for row in records.values("status").annotate(n=Count("id"))}
    latest = list(records.filter(status=Status.FAILED).order_by("-updated_at")[:failures])
    last_sent_at = records.filter(sent_at__isnull=False).aggregate(at=Max("sent_at"))["at"]
    retrying_soon = 0
    if counts.get(Status.FAILED):
        retrying_soon = records.filter(
            status=Status.FAILED, next_attempt_at__isnull=False, next_attempt_at__lte=timezone.now() + RETRY_SOON
        ).count()
    state = SyncState.objects.filter(whitelabel=whitelabel, paused_until__gt=timezone.now()).first()
    changed = records.filter(changed_in_xero_at__isnull=False).order_by("-changed_in_xero_at")
    reconciled = (
        Reconciliation.objects.filter(whitelabel=whitelabel, finished_at__isnull=False, error="")
        .order_by("-started_at")
        .first()
    )
    return SyncSummary(
        counts,
        latest,
        last_sent_at,
        retrying_soon,
        paused_until=state.paused_until if state else None,
        pause_reason=state.pause_reason if state else "",
        changed_in_xero=changed.count(),
        changed_example=changed.first(),
        reconciled_at=reconciled.finished_at if reconciled else None,
        setting_drift=tuple(d["detail"] for d in reconciled.differences if d.get("what") == "setting")
        if reconciled
        else (),
    )


@dataclass(frozen=True)
class BooksSwitch:
    """Connecting another organisation than the one the whitelabel's records were sent to."""

    organisation: str
    sent: int


def books_switch(whitelabel: Whitelabel, tenant_id: str) -> BooksSwitch | None:
    """What connecting `tenant_id` would switch away from, or None if it switches nothing."""
    previous = SyncState.objects.filter(whitelabel=whitelabel).values_list("tenant_id", flat=True).first()
    if not previous or previous.lower() == tenant_id.lower():
        return None
    sent = SyncRecord.objects.filter(
        whitelabel=whitelabel, status=SyncRecord.Status.SENT, xero_tenant_id=previous
    ).count()
    if not sent:
        return None
    connection = XeroConnection.objects.filter(whitelabel=whitelabel, tenant_id=previous).first()
    name = connection.tenant_name if connection else "the organisation it was connected to before"
    return BooksSwitch(organisation=name, sent=sent)
