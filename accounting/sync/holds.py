"""What the organisation itself won't take: documents dated in a period its accountant locked, and what its
Xero plan doesn't allow. Both are held (status held), with no call made and no attempt counted, instead of
being refused by Xero every hour until their attempts run out.

- **Lock dates** (`PeriodLockDate`, `EndOfYearLockDate` on `GET /Organisation`) are kept on the connection
  (accounting/lockdates.py reads them). Before a batch goes, each record dated on or before the lock date is,
  by the whitelabel's policy, either **held** ("Dated 28 Feb 2026, before Xero's lock date 31 Mar 2026") until
  the lock date moves, or **posted on the first open day**: dated the day after the lock date, its reference
  naming Arena's date. A refusal that names a lock date (the accountant locked a period since the last read)
  reads the lock dates again and holds the record the same way.
- **Plans**: a refusal saying the organisation's plan doesn't allow it (Ledger and Cashbook plans have no
  invoices; some plans cap invoices a month) holds the record with what the admin can do; saving the
  settings page or `resync_xero` sends it again.
"""

import datetime
import logging
import re

from django.utils import timezone

from ..models import SyncRecord, XeroConnection
from ..xero import client
from ..xero.client import parse_xero_date, xero_date
from . import outbox

logger = logging.getLogger(__name__)
Status = SyncRecord.Status
Hold = SyncRecord.Hold
FIRST_OPEN_DAY = "first_open_day"
LOCK_WORDS = re.compile(r"\block date\b", re.IGNORECASE)
PLAN_WORDS = re.compile(
    r"(subscription|plan)\b.*\b(does not allow|doesn't allow|not allowed|does not include|upgrade|limit)",
    re.IGNORECASE,
)
PLAN_ADVICE = (
    "The organisation's Xero plan does not allow it: upgrade the plan in Xero (Settings > Subscription and "
    "billing), then save the Accounting System Settings page (or ask support to resync) to send it."
)
REFERENCE_MAX = 255


def day(value: datetime.date) -> str:
    """28 Feb 2026: how a person reads a date in a reason."""
    return f"{value.day} {value:%b %Y}"


def lock_reason(on: datetime.date, lock: datetime.date) -> str:
    return (
        f"Dated {day(on)}, before Xero's lock date {day(lock)}: held, with no call to Xero, until the "
        "accountant moves the lock date in Xero; it is sent as soon as that happens."
    )


def _date_of(body: dict) -> datetime.date | None:
    value = body.get("Date")
    return parse_xero_date(value) if isinstance(value, str) else None


def lock_date(run) -> datetime.date | None:
    """The run's organisation's lock date, read from Xero if this connection never read it."""
    if run.connection.lock_dates_read_at is None:
        run.organisation_setting("lock-dates", lambda connection: lock_dates_read_in_run(run))
    return run.connection.lock_date


def honour_lock_dates(run, items: list) -> list:
    """The items that may go now: those dated in a locked period are held, or moved to the first open day
    (by the whitelabel's policy). Moving is idempotent: a moved body is after the lock date."""
    lock = lock_date(run)
    if lock is None:
        return items
    keep = []
    for item in items:
        on = _date_of(item.body)
        if on is None or on > lock:
            keep.append(item)
        elif run.accounting.lock_date_policy == FIRST_OPEN_DAY:
            _post_on_first_open_day(item, on, lock)
            keep.append(item)
        else:
            record_hold(item.record, by=Hold.LOCK_DATE, lock_date=lock, reason=lock_reason(on, lock))
    return keep


def _post_on_first_open_day(item, on: datetime.date, lock: datetime.date) -> None:
    """Date the body the day after the lock date and name Arena's date in its reference. A reference that is
    the record's look-up key (payments, receipts) stays its key: the look-up finds the moved one."""
    opens = lock + datetime.timedelta(days=1)
    body = item.body
    body["Date"] = xero_date(opens)
    due = parse_xero_date(body["DueDate"]) if isinstance(body.get("DueDate"), str) else None
    if due is not None and due < opens:
        body["DueDate"] = xero_date(opens)
    note = f"Arena date {day(on)}"
    if "Reference" in body or body.get("Type") in ("ACCREC", "ACCRECCREDIT"):
        old = str(body.get("Reference") or "")
        new = f"{old} ({note})" if old else note
        body["Reference"] = new[:REFERENCE_MAX]
        if item.key and item.key == old:
            item.key = body["Reference"]


def record_hold(record: SyncRecord, *, by: str, reason: str, lock_date: datetime.date | None = None) -> None:
    """Hold the record: no call is made for it until what holds it changes; no attempt is counted."""
    outbox.record_hold(record, by=by, reason=reason, lock_date=lock_date)
    logger.info("Sync record %s held by %s", record.pk, by)


def held_instead_of_refused(run, record: SyncRecord, messages: list[str], body: dict) -> bool:
    """Xero refused the record for a lock date or the plan: hold it (the call is not counted as an attempt)
    and return True; False for any other refusal."""
    text = " ".join(messages)
    record.outcome_unknown = False  # Xero answered: it did nothing
    if LOCK_WORDS.search(text):
        run.organisation_setting("lock-dates-after-refusal", lambda connection: lock_dates_read_in_run(run))
        lock = run.connection.lock_date
        on = _date_of(body or {})
        reason = lock_reason(on, lock) if on and lock else f"Xero refused it for its lock date: {text}"
        record.attempts = max(record.attempts - 1, 0)
        record_hold(record, by=Hold.LOCK_DATE, lock_date=lock, reason=reason)
        return True
    if PLAN_WORDS.search(text):
        record.attempts = max(record.attempts - 1, 0)
        record_hold(record, by=Hold.PLAN, reason=f"Xero refused it: {text} {PLAN_ADVICE}")
        return True
    return False


def holds_release(connection, *, plan: bool = False) -> int:
    """Send again what the lock date no longer holds (it moved, or was removed), and with `plan`, what the
    plan held (an admin says it changed). Returns how many go."""
    held = SyncRecord.objects.filter(whitelabel_id=connection.whitelabel_id, status=Status.HELD)
    lock = connection.lock_date
    by_lock = held.filter(held_by=Hold.LOCK_DATE)
    if lock is not None:
        by_lock = by_lock.exclude(held_lock_date=lock)
    released = outbox.records_release_holds(by_lock)
    if plan:
        released += outbox.records_release_holds(held.filter(held_by=Hold.PLAN))
    if released:
        logger.info("Released %s held sync record(s) of whitelabel %s", released, connection.whitelabel_id)
    return released


# The organisation's lock dates and plan, kept on the connection --------------------------------------


def lock_dates_store(connection: XeroConnection, organisation: dict) -> None:
    """Keep what `GET /Organisation` says of the lock dates and plan on the connection (and on `connection`)."""
    fields = {
        "period_lock_date": parse_xero_date(organisation.get("PeriodLockDate") or None),
        "end_of_year_lock_date": parse_xero_date(organisation.get("EndOfYearLockDate") or None),
        "organisation_class": str(organisation.get("Class") or "")[:30],
        "lock_dates_read_at": timezone.now(),
    }
    XeroConnection.objects.filter(pk=connection.pk).update(**fields)
    for name, value in fields.items():
        setattr(connection, name, value)


def lock_dates_read_in_run(run) -> None:
    """Read the lock dates in a sync run (limits pause the run) and release what no longer waits for them."""
    lock_dates_store(run.connection, run.call(client.organisation_get))
    holds_release(run.connection)
