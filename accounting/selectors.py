"""Reads for the integration's pages."""

from dataclasses import dataclass

from django.db.models import Count

from payments.models import Whitelabel

from .models import SyncRecord, SyncState, XeroConnection


@dataclass(frozen=True)
class SyncSummary:
    counts: dict[str, int]
    failures: list[SyncRecord]

    @property
    def unsent(self) -> int:
        return self.counts.get(SyncRecord.Status.SKIPPED, 0) + self.counts.get(SyncRecord.Status.FAILED, 0)


def sync_summary(whitelabel: Whitelabel, *, failures: int = 5) -> SyncSummary:
    """How many of the whitelabel's records are in each state, and the latest failures with their reasons."""
    rows = SyncRecord.objects.filter(whitelabel=whitelabel).values("status").annotate(n=Count("id"))
    counts = {row["status"]: row["n"] for row in rows}
    latest = list(
        SyncRecord.objects.filter(whitelabel=whitelabel, status=SyncRecord.Status.FAILED).order_by("-updated_at")[
            :failures
        ]
    )
    return SyncSummary(counts, latest)


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
