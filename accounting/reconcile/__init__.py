"""Drift detection: compare a whitelabel's books in Arena with its Xero organisation's (issue 11).

Arena pushes, but a person can still change Xero's books underneath (void or edit an invoice, delete a
payment, archive the revenue account or a contact, merge contacts), and a record may have been sent before
a bug was fixed. `whitelabel_reconcile` reads Xero's side back page by page through the rate limiter
(`If-Modified-Since` with `since`), `books_compare` compares it with Arena per record and per customer and
returns typed `Difference`s, and the service then

- flags the sync records a person changed in Xero (`SyncRecord.changed_in_xero_at`): reported, never
  overwritten, and kept until someone resolves them;
- with `fix`, sends again what Xero lacks, and only that: each such record becomes a new version whose
  outcome is unknown, so the engine looks it up in Xero first and creates only what is really missing.

Only what Arena has sent to this organisation is compared (status sent). Records on their way, failed or
skipped are counted as "not in Xero yet" (the sync card and resync_xero deal with those), and amounts that
such records would change (an invoice's amount due, a customer's credit) are not compared while they are.
Webhooks use the same checks on the one invoice or contact Xero says changed (`records_check_in_xero`).
"""

from .books import Difference, DriftKind
from .compare import books_compare
from .service import (
    RecordCheck,
    Report,
    day_share_budget,
    last_reconciled_since,
    nightly_plan,
    records_check_in_xero,
    records_flag,
    whitelabel_connection_active,
    whitelabel_reconcile,
    whitelabels_to_reconcile,
)

__all__ = [
    "Difference",
    "DriftKind",
    "RecordCheck",
    "Report",
    "books_compare",
    "day_share_budget",
    "last_reconciled_since",
    "nightly_plan",
    "records_check_in_xero",
    "records_flag",
    "whitelabel_connection_active",
    "whitelabel_reconcile",
    "whitelabels_to_reconcile",
]
