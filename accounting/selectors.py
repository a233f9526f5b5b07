"""Reads for the integration's pages."""

from dataclasses import dataclass

from django.db.models import Count

from payments.models import Whitelabel

from .models import SyncRecord


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
