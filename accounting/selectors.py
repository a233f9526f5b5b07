"""Reads for the integration's pages."""

import datetime
from collections import Counter
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Count, F, Max, Min, Q, QuerySet, Subquery
from django.utils import timezone

from payments.models import Allocation, CreditNote, Customer, Invoice, Payment, Receipt, Whitelabel

from .models import (
    AccountingSettings,
    AlertOptOut,
    Reconciliation,
    SyncAttempt,
    SyncRecord,
    SyncState,
    XeroConnection,
    XeroImportCursor,
)
from .sync import kinds
from .xero.links import deep_link

Status = SyncRecord.Status

# Statuses a record stays in until someone (or the sweeper, much later) acts; any other status means
# a worker is about to send it, so the settings page keeps refreshing its sync card.
SETTLED = frozenset({Status.SENT, Status.FAILED, Status.SKIPPED, Status.WAITING, Status.HELD})
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
    from_xero: "FromXero | None" = None  # payments entered in Xero and recorded in Arena (accounting/imports.py)

    @property
    def statuses(self) -> list[StatusCount]:
        """Every status that has records (and always Sent), in the order the model declares them."""
        return [
            StatusCount(value, STATUS_WORDS.get(value, label), self.counts.get(value, 0))
            for value, label in Status.choices
            if self.counts.get(value) or value == Status.SENT
        ]

    @property
    def changed_example_change(self) -> str:
        """What was changed on the example, in words, without its full stop (the card puts it in brackets)."""
        return self.changed_example.xero_change.rstrip(". ") if self.changed_example else ""

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
    sent_by_arena = records.exclude(origin=SyncRecord.Origin.XERO)  # what came from Xero was never sent
    counts = {row["status"]: row["n"] for row in sent_by_arena.values("status").annotate(n=Count("id"))}
    latest = list(records.filter(status=Status.FAILED).order_by("-updated_at")[:failures])
    last_sent_at = records.filter(sent_at__isnull=False).aggregate(at=Max("sent_at"))["at"]
    retrying_soon = 0
    if counts.get(Status.FAILED):
        retrying_soon = records.filter(
            status=Status.FAILED, next_attempt_at__isnull=False, next_attempt_at__lte=timezone.now() + RETRY_SOON
        ).count()
    state = SyncState.objects.filter(whitelabel=whitelabel, paused_until__gt=timezone.now()).first()
    changed = records.filter(changed_in_xero_at__isnull=False).order_by("-changed_in_xero_at")
    reconciled = last_reconciliation(whitelabel)
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
        from_xero=from_xero(whitelabel),
    )


@dataclass(frozen=True)
class FromXero:
    """What came in from Xero: payments people entered there, recorded in Arena, and those since deleted."""

    recording: bool  # the setting is on (post-paid)
    imported: int
    reversed: int
    last_read_at: datetime.datetime | None
    credit_notes: int = 0
    problem: str = ""  # what the latest read with a problem could not record
    problem_at: datetime.datetime | None = None


def from_xero(whitelabel: Whitelabel) -> FromXero | None:
    accounting = AccountingSettings.objects.filter(whitelabel=whitelabel).first()
    if accounting is None or accounting.payment_type != AccountingSettings.PaymentType.POSTPAID:
        return None
    entered = Payment.objects.filter(whitelabel=whitelabel, source=Payment.Source.XERO)
    last = XeroImportCursor.objects.filter(whitelabel=whitelabel).aggregate(at=Max("last_read_at"))["at"]
    problem = (
        XeroImportCursor.objects.filter(whitelabel=whitelabel)
        .exclude(last_error="")
        .order_by("-last_error_at")
        .values("last_error", "last_error_at")
        .first()
    ) or {"last_error": "", "last_error_at": None}
    return FromXero(
        recording=accounting.record_xero_payments,
        imported=entered.count(),
        reversed=entered.filter(reversed_at__isnull=False).count(),
        last_read_at=last,
        credit_notes=CreditNote.objects.filter(whitelabel=whitelabel, source=Payment.Source.XERO).count(),
        problem=problem["last_error"],
        problem_at=problem["last_error_at"],
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


# The support console (the admin) ---------------------------------------------------------------------

# Statuses of records still meant for Xero: the oldest of them is how far behind a whitelabel is.
NOT_YET_IN_XERO = (Status.PENDING, Status.WAITING, Status.FAILED)


def record_xero_target(record: SyncRecord) -> tuple[str, str] | None:
    """What of Xero's a record became, as (what, id) for xero.links.deep_link, or None if it is in no
    organisation (each kind's row in sync/kinds.py says where it shows in Xero)."""
    if not (record.xero_id and record.xero_tenant_id):
        return None
    return kinds.of(record.kind).xero_page(record)


def record_xero_link(record: SyncRecord, *, short_code: str = "") -> str:
    """The link that opens what the record became in Xero's web app ("" if it is in no organisation)."""
    target = record_xero_target(record)
    return deep_link(*target, short_code=short_code) if target else ""


def short_code_of(tenant_id: str):
    """A subquery: the short code of the organisation `tenant_id` (an OuterRef), from its connection."""
    return Subquery(
        XeroConnection.objects.filter(tenant_id__iexact=tenant_id)
        .exclude(short_code="")
        .order_by("-connected_at")
        .values("short_code")[:1]
    )


def organisation_names() -> dict[str, str]:
    """Organisation names by tenant id (lower case), from the connections Arena has or had."""
    return {
        tenant_id.lower(): name
        for tenant_id, name in XeroConnection.objects.order_by("connected_at").values_list("tenant_id", "tenant_name")
    }


def record_arena_object(record: SyncRecord) -> kinds.ArenaLink | None:
    """The Arena record behind a sync record, as support finds it in the admin (None if it was deleted, or
    shown on no page of its own): each kind's row in sync/kinds.py says which."""
    return kinds.of(record.kind).arena_link(record.object_id)


def records_matching(term: str) -> Q:
    """Sync records whose Arena record matches `term`: an invoice or receipt number, or a customer's name,
    account number or email (for the admin's search, beside the label and the Xero id)."""
    kind = SyncRecord.Kind
    customers = Customer.objects.filter(
        Q(name__icontains=term) | Q(account_number__icontains=term) | Q(email__icontains=term)
    ).values("pk")
    invoices = Invoice.objects.filter(Q(number__icontains=term) | Q(customer__in=customers)).values("pk")
    payments = Payment.objects.filter(Q(receipt__number__icontains=term) | Q(customer__in=customers)).values("pk")
    allocations = Allocation.objects.filter(Q(invoice__in=invoices) | Q(payment__in=payments)).values("pk")
    receipts = Receipt.objects.filter(payment__in=payments).values("pk")
    return (
        Q(kind=kind.CONTACT, object_id__in=customers)
        | Q(kind__in=[kind.INVOICE, kind.INVOICE_VOID], object_id__in=invoices)
        | Q(kind__in=[kind.PAYMENT, kind.CREDIT_ALLOCATION], object_id__in=allocations)
        | Q(kind=kind.OVERPAYMENT, object_id__in=payments)
        | Q(kind=kind.RECEIPT, object_id__in=receipts)
    )


def whitelabels_with_sync_counts(whitelabels: QuerySet) -> QuerySet:
    """Whitelabels annotated for the sync summary list: records in each status, the oldest one not yet in
    Xero, the connection's status and organisation, the last send and any pause."""
    counts = {f"n_{status}": Count("sync_records", filter=Q(sync_records__status=status)) for status in Status.values}
    return whitelabels.annotate(
        **counts,
        oldest_unsent_at=Min("sync_records__created_at", filter=Q(sync_records__status__in=NOT_YET_IN_XERO)),
        connection_status=F("xero_connection__status"),
        organisation=F("xero_connection__tenant_name"),
        last_sent_at=F("sync_state__last_sent_at"),
        paused_until=F("sync_state__paused_until"),
    )


@dataclass(frozen=True)
class SyncHealth:
    """One whitelabel's sync at a glance, for support."""

    whitelabel: Whitelabel
    accounting: AccountingSettings | None
    connection: XeroConnection | None
    counts: dict[str, int]
    oldest_unsent: SyncRecord | None
    last_sent_at: datetime.datetime | None
    paused_until: datetime.datetime | None
    pause_reason: str

    @property
    def connection_health(self) -> str:
        """In words: whether records can reach Xero now, and if not what must happen."""
        if self.accounting is None or not self.accounting.uses_xero:
            return "No accounting system: nothing is sent to Xero."
        connection = self.connection
        if connection is None or connection.status == XeroConnection.Status.DISCONNECTED:
            return "Not connected to Xero: records are kept as not sent until an admin connects."
        if connection.status == XeroConnection.Status.NEEDS_RECONNECT:
            return f"Needs reconnect: {connection.status_reason or 'Xero no longer accepts its tokens.'}"
        if self.paused_until:
            return f"Connected to {connection.tenant_name}; paused by Xero's limits."
        return f"Connected to {connection.tenant_name}."

    @property
    def healthy(self) -> bool:
        return bool(self.connection and self.connection.is_active and not self.paused_until)


def sync_health(whitelabel: Whitelabel) -> SyncHealth:
    records = SyncRecord.objects.filter(whitelabel=whitelabel)
    sent_by_arena = records.exclude(origin=SyncRecord.Origin.XERO)  # what came from Xero was never sent
    counts = {row["status"]: row["n"] for row in sent_by_arena.values("status").annotate(n=Count("id"))}
    state = SyncState.objects.filter(whitelabel=whitelabel).first()
    paused_until = state.paused_until if state and state.paused_until and state.paused_until > timezone.now() else None
    return SyncHealth(
        whitelabel=whitelabel,
        accounting=AccountingSettings.objects.filter(whitelabel=whitelabel).first(),
        connection=XeroConnection.objects.filter(whitelabel=whitelabel).select_related("connected_by").first(),
        counts={status: counts.get(status, 0) for status in Status.values},
        oldest_unsent=records.filter(status__in=NOT_YET_IN_XERO).order_by("created_at", "id").first(),
        last_sent_at=(state and state.last_sent_at)
        or records.filter(sent_at__isnull=False).aggregate(at=Max("sent_at"))["at"],
        paused_until=paused_until,
        pause_reason=state.pause_reason if paused_until else "",
    )


# Ops: resync_xero -------------------------------------------------------------------------------------

# The command's names for the kinds of record, in the order the engine sends them.
RESYNC_KINDS = {row.name: row.kind for row in kinds.KINDS}
CHUNK = 2000  # ids per query: SQLite limits the parameters of one statement


def chunks(ids: list[int], size: int = CHUNK):
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def whitelabel_sync_problem(whitelabel: Whitelabel) -> str | None:
    """Why the whitelabel's records can't reach Xero now, in words that say what to do; None if they can."""
    accounting = AccountingSettings.objects.filter(whitelabel=whitelabel).first()
    if accounting is None or not accounting.uses_xero:
        return (
            f"{whitelabel.slug} has no accounting system: an admin must choose Xero on its Accounting System "
            "Settings page and connect an organisation first."
        )
    connection = XeroConnection.objects.filter(whitelabel=whitelabel).first()
    if connection is None or connection.status == XeroConnection.Status.DISCONNECTED:
        return f"{whitelabel.slug} is not connected to Xero: an admin must connect it on its settings page first."
    if connection.status == XeroConnection.Status.NEEDS_RECONNECT:
        why = connection.status_reason or "Xero no longer accepts its tokens."
        return (
            f"{whitelabel.slug} needs reconnecting to Xero ({why.rstrip('.')}). An admin must press Reconnect on "
            "its settings page; its records wait until then."
        )
    return None


def whitelabels_connected(
    *, statuses: tuple[str, ...] = (XeroConnection.Status.ACTIVE, XeroConnection.Status.NEEDS_RECONNECT)
) -> list[Whitelabel]:
    """Every whitelabel that uses Xero and whose connection is in `statuses` (by default: working or needing
    a reconnect), by slug."""
    return list(
        Whitelabel.objects.filter(
            accounting_settings__accounting_system=AccountingSettings.System.XERO,
            xero_connection__status__in=statuses,
        ).order_by("slug")
    )


def last_reconciliation(whitelabel: Whitelabel, *, complete: bool = False) -> Reconciliation | None:
    """The whitelabel's latest reconcile that finished without an error (with `complete`, the latest that also
    read everything it set out to, rather than leave some to the next night)."""
    finished = Reconciliation.objects.filter(whitelabel=whitelabel, finished_at__isnull=False, error="")
    if complete:
        finished = finished.filter(unread=[])
    return finished.order_by("-started_at").first()


def whitelabel_day_start(whitelabel: Whitelabel, day: datetime.date) -> datetime.datetime:
    """Midnight at the start of `day` in the whitelabel's time zone."""
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=whitelabel.tzinfo)


def resync_records(
    whitelabel: Whitelabel,
    *,
    statuses: list[str],
    kinds: list[str],
    since: datetime.date | None = None,
    until: datetime.date | None = None,
) -> QuerySet:
    """The whitelabel's records in `statuses` of `kinds`, billed (the outbox row made) between `since` and
    `until` inclusive, as dates in the whitelabel's time zone; oldest first. Sent invoices voided in Arena
    are left to their void's record (outbox.records_recheck)."""
    records = SyncRecord.objects.filter(whitelabel=whitelabel, status__in=statuses, kind__in=kinds).exclude(
        status=Status.SENT,
        kind=SyncRecord.Kind.INVOICE,
        object_id__in=Invoice.objects.filter(status=Invoice.Status.VOID).values("id"),
    )
    if since:
        records = records.filter(created_at__gte=whitelabel_day_start(whitelabel, since))
    if until:
        records = records.filter(created_at__lt=whitelabel_day_start(whitelabel, until + datetime.timedelta(days=1)))
    return records.order_by("created_at", "id")


@dataclass
class ResyncOutcome:
    """Where the records a resync asked for are now."""

    total: int = 0
    already_in_xero: int = 0  # looked up and found there: nothing was sent
    sent: int = 0
    failed: int = 0
    not_sent: int = 0  # skipped by the sync: nothing to send (e.g. voided before it reached Xero)
    on_the_way: int = 0  # pending, being sent, waiting for a record on its way, or retried before the deadline
    reasons: Counter = field(default_factory=Counter)
    not_sent_reasons: Counter = field(default_factory=Counter)

    @property
    def settled(self) -> int:
        return self.total - self.on_the_way

    @property
    def all_in_xero(self) -> bool:
        return not (self.failed or self.on_the_way)


def resync_outcome(
    ids: list[int], *, since: datetime.datetime, retry_by: datetime.datetime | None = None
) -> ResyncOutcome:
    """Count the records `ids` by where they are, attempts made from `since` on telling sent from found.
    A failed record due to be retried by `retry_by` counts as on its way."""
    now = timezone.now()
    fields = ("id", "status", "reason", "claimed_until", "next_attempt_at", "blocked_by_id")
    rows = {row["id"]: row for part in chunks(ids) for row in SyncRecord.objects.filter(id__in=part).values(*fields)}
    found = set()
    for part in chunks(ids):
        found |= set(
            SyncAttempt.objects.filter(record_id__in=part, started_at__gte=since, outcome=SyncAttempt.Outcome.FOUND)
            .values_list("record_id", flat=True)
            .distinct()
        )
    blockers: dict[int, dict | None] = {}

    def row_of(pk: int) -> dict | None:
        if pk not in rows and pk not in blockers:
            blockers[pk] = SyncRecord.objects.filter(pk=pk).values(*fields).first()
        return rows.get(pk) or blockers.get(pk)

    def on_its_way(row: dict, depth: int = 0) -> bool:
        if row["claimed_until"] and row["claimed_until"] > now or row["status"] == Status.PENDING:
            return True
        if row["status"] == Status.FAILED:
            return bool(retry_by and row["next_attempt_at"] and row["next_attempt_at"] <= retry_by)
        if row["status"] == Status.WAITING and row["blocked_by_id"] and depth < 20:
            blocker = row_of(row["blocked_by_id"])
            return bool(blocker) and on_its_way(blocker, depth + 1)
        return False

    outcome = ResyncOutcome(total=len(rows))
    for row in rows.values():
        if row["status"] == Status.SENT:
            if row["id"] in found:
                outcome.already_in_xero += 1
            else:
                outcome.sent += 1
        elif on_its_way(row):
            outcome.on_the_way += 1
        elif row["status"] == Status.SKIPPED:
            outcome.not_sent += 1
            outcome.not_sent_reasons[row["reason"]] += 1
        else:
            outcome.failed += 1
            outcome.reasons[row["reason"] or "No reason given."] += 1
    return outcome


# Xero's cap on an app's connections ---------------------------------------------------------------


@dataclass(frozen=True)
class AppConnections:
    """How many organisations Arena's Xero app is connected to, against XERO_APP_CONNECTION_LIMIT (Xero lets an
    app that has not completed its certification connect 25)."""

    used: int
    limit: int
    holders: frozenset  # the whitelabels holding one

    NEARLY = 0.8  # support hears of it from here

    @property
    def full(self) -> bool:
        return self.used >= self.limit

    @property
    def nearly_full(self) -> bool:
        return self.used >= self.limit * self.NEARLY

    def holds(self, whitelabel: Whitelabel) -> bool:
        return whitelabel.pk in self.holders


def app_connections() -> AppConnections:
    """Connections Arena holds at Xero: active ones, and those waiting for a reconnect (Xero still counts them)."""
    held = XeroConnection.objects.exclude(status=XeroConnection.Status.DISCONNECTED)
    holders = frozenset(held.values_list("whitelabel_id", flat=True))
    return AppConnections(used=len(holders), limit=settings.XERO_APP_CONNECTION_LIMIT, holders=holders)



def connections_to_read_lock_dates() -> QuerySet:
    """Active connections whose organisation holds records by its lock date, or whose lock dates were never
    read (connected before Arena read them): the hourly check reads theirs again."""
    held = SyncRecord.objects.filter(status=Status.HELD, held_by=SyncRecord.Hold.LOCK_DATE).values("whitelabel_id")
    return XeroConnection.objects.filter(status=XeroConnection.Status.ACTIVE).filter(
        Q(whitelabel_id__in=held) | Q(lock_dates_read_at__isnull=True)
    )


def alerts_wanted(user) -> bool:
    """Whether the user gets Arena's emails about Xero (they are on unless turned off)."""
    return not AlertOptOut.objects.filter(user=user).exists()
