"""Accounting settings per whitelabel, the Xero connection, and the outbox of sync records."""

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from encrypted_fields.fields import EncryptedTextField

from payments.models import Allocation, Whitelabel

xero_account_code_validator = RegexValidator(
    r"^[A-Za-z0-9]{1,10}$",
    "A Xero account code is 1 to 10 letters or digits, e.g. 200.",
)


class AccountingSettings(models.Model):
    """Which accounting system a whitelabel uses and how Arena's money maps onto it."""

    class System(models.TextChoices):
        NONE = "none", "None"
        XERO = "xero", "Xero"

    class PaymentType(models.TextChoices):
        PREPAID = "prepaid", "Pre-paid"
        POSTPAID = "postpaid", "Post-paid"

    whitelabel = models.OneToOneField(Whitelabel, on_delete=models.CASCADE, related_name="accounting_settings")
    accounting_system = models.CharField(
        max_length=10, choices=System.choices, default=System.NONE, verbose_name="Accounting System"
    )
    payment_type = models.CharField(
        max_length=10,
        choices=PaymentType.choices,
        default=PaymentType.POSTPAID,
        verbose_name="Payment Type",
        help_text="Post-paid sends invoices and payments; pre-paid sends a receipt for every top-up.",
    )
    revenue_code = models.CharField(
        max_length=10,
        blank=True,
        validators=[xero_account_code_validator],
        verbose_name="Revenue code",
        help_text="The Xero account code sales are booked to, e.g. 200.",
    )
    bank_account_code = models.CharField(
        max_length=10,
        blank=True,
        validators=[xero_account_code_validator],
        verbose_name="Bank account",
        help_text="The Xero bank account payments and receipts are deposited to, e.g. 090.",
    )
    lock_date_policy = models.CharField(
        max_length=20,
        choices=[("hold", "Hold it until Xero's lock date moves"), ("first_open_day", "Post it on the first open day")],
        default="hold",
        verbose_name="Records dated before Xero's lock date",
        help_text="Hold: a record dated in a locked period waits until the accountant moves the lock date. "
        "First open day: it is sent dated the day after the lock date, its reference naming Arena's date.",
    )
    record_xero_payments = models.BooleanField(
        default=True,
        verbose_name="Record payments entered in Xero",
        help_text="Post-paid: a payment applied in Xero to an invoice Arena sent (a bank transfer reconciled, a "
        "receipt entered by hand) is recorded in Arena too. Pre-paid whitelabels only send.",
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        verbose_name = "accounting settings"
        verbose_name_plural = "accounting settings"

    def __str__(self) -> str:
        return f"{self.whitelabel}: {self.get_accounting_system_display()}"

    @property
    def uses_xero(self) -> bool:
        return self.accounting_system == self.System.XERO

    @property
    def imports_from_xero(self) -> bool:
        """Payments entered in Xero are recorded in Arena (post-paid, when the setting is on)."""
        return self.uses_xero and self.payment_type == self.PaymentType.POSTPAID and self.record_xero_payments


class XeroConnection(models.Model):
    """A whitelabel's link to one Xero organisation. Tokens are encrypted at rest and never shown."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        NEEDS_RECONNECT = "needs_reconnect", "Needs reconnect"
        DISCONNECTED = "disconnected", "Disconnected"

    whitelabel = models.OneToOneField(Whitelabel, on_delete=models.CASCADE, related_name="xero_connection")
    tenant_id = models.CharField(max_length=64, help_text="Xero's organisation (tenant) id.")
    tenant_name = models.CharField(max_length=255, help_text="e.g. 'Organisation 2'.")
    short_code = models.CharField(
        max_length=20,
        blank=True,
        verbose_name="Xero short code",
        help_text="The organisation's short code in Xero, e.g. '!a1B2c': links open records in this organisation.",
    )
    connection_id = models.CharField(max_length=64, help_text="Xero's id of the connection (for DELETE /connections).")
    auth_event_id = models.CharField(max_length=64, blank=True)
    scopes = models.TextField(blank=True, help_text="Scopes Xero granted, space-separated.")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    status_reason = models.TextField(blank=True, help_text="Why the connection needs attention, in words.")
    access_token = EncryptedTextField(blank=True, null=True)
    refresh_token = EncryptedTextField(blank=True, null=True)
    access_token_expires_at = models.DateTimeField(null=True, blank=True)
    refreshed_at = models.DateTimeField(null=True, blank=True)
    connected_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    connected_as = models.EmailField(blank=True, help_text="The Xero user who allowed access, e.g. 'jo@example.com'.")
    connected_at = models.DateTimeField()
    disconnected_at = models.DateTimeField(null=True, blank=True)
    period_lock_date = models.DateField(null=True, blank=True, help_text="Xero's period lock date, e.g. 2026-03-31.")
    end_of_year_lock_date = models.DateField(null=True, blank=True, help_text="Xero's end of year lock date.")
    organisation_class = models.CharField(
        max_length=30, blank=True, help_text="The organisation's Xero plan (Organisation Class), e.g. 'STANDARD'."
    )
    lock_dates_read_at = models.DateTimeField(
        null=True, blank=True, help_text="When the lock dates and plan were last read from Xero (GET /Organisation)."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant_id"],
                condition=~models.Q(status="disconnected"),
                name="one_whitelabel_per_xero_organisation",
            )
        ]

    def __str__(self) -> str:
        return f"{self.whitelabel} → {self.tenant_name} ({self.get_status_display()})"

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE

    @property
    def lock_date(self):
        """The last day Arena can't post to: the later of the two lock dates (None: nothing is locked).
        Arena's connection is not an Adviser's, so the period lock date binds it as well."""
        dates = [d for d in (self.period_lock_date, self.end_of_year_lock_date) if d]
        return max(dates, default=None)


class XeroAuthorisation(models.Model):
    """A consent that authorised several organisations and waits for the admin to pick one.

    Holds the new tokens (encrypted) so the previous connection stays intact until the choice is made.
    """

    whitelabel = models.ForeignKey(Whitelabel, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    tenants = models.JSONField(help_text="The organisations of this consent: id, tenant id and name.")
    auth_event_id = models.CharField(max_length=64, blank=True)
    scopes = models.TextField(blank=True)
    access_token = EncryptedTextField()
    refresh_token = EncryptedTextField()
    access_token_expires_at = models.DateTimeField()
    connected_as = models.EmailField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Pending Xero consent for {self.whitelabel}"


class SyncRecord(models.Model):
    """The outbox: one row per Arena record that must reach Xero, written in the same transaction as
    the billing change. It keeps the Xero id (with the organisation it belongs to), the last payload
    sent and Xero's answer beside ours; its attempts are kept in SyncAttempt."""

    class Kind(models.TextChoices):
        CONTACT = "contact", "Contact (customer)"
        INVOICE = "invoice", "Invoice"
        INVOICE_VOID = "invoice_void", "Invoice void"
        PAYMENT = "payment", "Payment on an invoice"
        OVERPAYMENT = "overpayment", "Overpayment (credit)"
        CREDIT_ALLOCATION = "credit_allocation", "Credit applied to an invoice"
        RECEIPT = "receipt", "Receipt (pre-paid)"
        CREDIT_NOTE = "credit_note", "Credit note"
        CREDIT_NOTE_ALLOCATION = "credit_note_allocation", "Credit note applied to an invoice"
        REFUND = "refund", "Refund of credit"
        REFUND_RECEIPT = "refund_receipt", "Refund receipt (pre-paid)"
        PAYMENT_REVERSAL = "payment_reversal", "Reversed payment on an invoice"
        DEPOSIT_REVERSAL = "deposit_reversal", "Reversed credit or receipt"
        GATEWAY_FEE = "gateway_fee", "Gateway fee (spend money)"
        DAILY_SUMMARY = "daily_summary", "Daily summary of receipts (pre-paid)"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        WAITING = "waiting", "Waiting for another record"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"
        HELD = "held", "Held by Xero (lock date or plan)"

    class Hold(models.TextChoices):
        LOCK_DATE = "lock_date", "Xero's lock date"
        PLAN = "plan", "The organisation's Xero plan"

    class Origin(models.TextChoices):
        ARENA = "arena", "Arena"
        XERO = "xero", "Entered in Xero"

    whitelabel = models.ForeignKey(Whitelabel, on_delete=models.CASCADE, related_name="sync_records")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    object_id = models.PositiveBigIntegerField(help_text="Primary key of the Arena record (customer, invoice, ...).")
    label = models.CharField(max_length=100, help_text="What a person calls it, e.g. 'INV-000042'.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    reason = models.TextField(
        blank=True, help_text="Why it failed, waits or was skipped (Xero's own words when it refused)."
    )
    blocked_by = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="dependants",
        help_text="The record this one waits for (e.g. a payment's invoice); it is woken when that one is sent.",
    )
    attempts = models.PositiveIntegerField(default=0, help_text="Calls made for this version of the record.")
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    claimed_until = models.DateTimeField(
        null=True, blank=True, help_text="A sync run is sending it; if the run dies, the claim lapses then."
    )
    outcome_unknown = models.BooleanField(
        default=False, help_text="A call was made whose answer never arrived: look Xero up before sending again."
    )
    version = models.PositiveIntegerField(
        default=0, help_text="Bumped when the Arena record changes; sending an older version doesn't count as sent."
    )
    xero_id = models.CharField(max_length=64, blank=True, help_text="The id Xero gave it, e.g. the InvoiceID.")
    xero_tenant_id = models.CharField(
        max_length=64, blank=True, help_text="The organisation `xero_id` belongs to; it means nothing in another."
    )
    payload = models.JSONField(null=True, blank=True, help_text="The last payload sent to Xero.")
    response = models.JSONField(null=True, blank=True, help_text="Xero's answer for this record.")
    sent_at = models.DateTimeField(null=True, blank=True)
    origin = models.CharField(
        max_length=10,
        choices=Origin.choices,
        default=Origin.ARENA,
        help_text="Where the record was made: in Arena (sent to Xero), or in Xero by a person (recorded in Arena, "
        "never sent back).",
    )
    changed_in_xero_at = models.DateTimeField(
        null=True,
        blank=True,
        db_index=True,
        verbose_name="changed in Xero",
        help_text="When Arena found that a person changed this record in Xero after it was sent (a webhook or the "
        "reconcile); it stays set until someone resolves it.",
    )
    xero_change = models.TextField(
        blank=True, help_text="What was changed in Xero, in words, e.g. 'Voided in Xero after Arena sent it.'"
    )
    held_by = models.CharField(
        max_length=10,
        choices=Hold.choices,
        blank=True,
        help_text="While held: what holds it (Xero's lock date, or a plan that refuses it). No call is made for it.",
    )
    held_lock_date = models.DateField(
        null=True, blank=True, help_text="The lock date that holds it, e.g. 2026-03-31; it goes once that moves."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "object_id"], name="one_sync_record_per_object")]
        indexes = [
            models.Index(fields=["whitelabel", "status", "next_attempt_at"], name="sync_due"),
            models.Index(fields=["whitelabel", "kind", "status"], name="sync_kind_status"),
            # The outbox's open rows only: claims (by id) and due times (by next attempt) stay quick however
            # much history the sent rows pile up.
            models.Index(
                fields=["whitelabel", "kind", "id"],
                name="sync_open_by_id",
                condition=models.Q(status__in=["pending", "failed"]),
            ),
            models.Index(
                fields=["whitelabel", "kind", "next_attempt_at"],
                name="sync_open_by_due",
                condition=models.Q(status__in=["pending", "failed"]),
            ),
        ]
        ordering = ["id"]
        # What support staff may do to a record besides looking at it (the admin's actions).
        permissions = [
            ("retry_syncrecord", "Can retry sync records now"),
            ("skip_syncrecord", "Can skip sync records, with a reason"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.label}: {self.get_status_display()}"


def allocation_kind(allocation: Allocation) -> str:
    """The sync record kind of money applied to an invoice: a payment, or credit (an overpayment) applied."""
    if allocation.source == Allocation.Source.PAYMENT:
        return SyncRecord.Kind.PAYMENT
    return SyncRecord.Kind.CREDIT_ALLOCATION


class SyncAttempt(models.Model):
    """One call made for a record: when, what went, what came back, how long it took."""

    class Outcome(models.TextChoices):
        SENT = "sent", "Sent"
        FOUND = "found", "Found already in Xero"
        REFUSED = "refused", "Refused by Xero"
        UNCLEAR = "unclear", "No clear answer"
        FAILED = "failed", "Failed"

    record = models.ForeignKey(SyncRecord, on_delete=models.CASCADE, related_name="history")
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(help_text="How long the call took, in milliseconds.")
    operation = models.CharField(max_length=40, help_text="The Xero call, e.g. 'invoices_create'.")
    xero_tenant_id = models.CharField(max_length=64, blank=True)
    version = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    message = models.TextField(blank=True, help_text="Xero's words, or what went wrong.")
    request = models.JSONField(null=True, blank=True, help_text="What was sent for this record.")
    response = models.JSONField(null=True, blank=True, help_text="What Xero answered for this record.")

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["record", "-started_at"], name="attempts_of_record")]

    def __str__(self) -> str:
        return f"{self.operation} at {self.started_at:%Y-%m-%d %H:%M:%S}: {self.get_outcome_display()}"


class SyncState(models.Model):
    """The sync runner of one whitelabel (one Xero organisation): whether a run is scheduled or running,
    and whether Xero's limits pause it. Only one run per organisation holds the lease at a time."""

    whitelabel = models.OneToOneField(Whitelabel, on_delete=models.CASCADE, related_name="sync_state")
    tenant_id = models.CharField(
        max_length=64, blank=True, help_text="The organisation the outbox was last synced to (a switch re-sends)."
    )
    event_seq = models.PositiveBigIntegerField(default=0, help_text="Bumped by every billing change to sync.")
    last_event_at = models.DateTimeField(null=True, blank=True, help_text="When billing last asked for a sync.")
    wake_at = models.DateTimeField(null=True, blank=True, help_text="When the next run is due (a task is queued).")
    lease_until = models.DateTimeField(null=True, blank=True, help_text="A run holds the organisation until then.")
    lease_token = models.CharField(max_length=32, blank=True)
    paused_until = models.DateTimeField(null=True, blank=True, help_text="Xero's limits pause sending until then.")
    pause_reason = models.TextField(blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_sent_at = models.DateTimeField(null=True, blank=True, help_text="When Xero last accepted a record.")
    runs = models.PositiveBigIntegerField(default=0, help_text="Sync runs so far.")

    class Meta:
        verbose_name = "sync state"

    def __str__(self) -> str:
        return f"Sync of {self.whitelabel}"


class WhitelabelSync(Whitelabel):
    """A whitelabel as the sync sees it: the admin's per-whitelabel summary (connection health, records by
    status, the oldest record not yet in Xero, the last send, a pause). No table of its own."""

    class Meta:
        proxy = True
        verbose_name = "Xero sync by whitelabel"
        verbose_name_plural = "Xero sync by whitelabel"


class XeroRateBucket(models.Model):
    """The database-backed rate limiter's state for one organisation (or the whole app), used when no
    Redis is configured. Times are seconds on the limiter's clock."""

    key = models.CharField(max_length=80, unique=True)
    calls = models.JSONField(default=list, help_text="Times of the calls in the current minute window.")
    day = models.JSONField(default=dict, help_text="Calls per minute slot over the last day.")
    in_flight = models.JSONField(default=dict, help_text="Calls under way: permit id -> expiry.")
    asking = models.JSONField(
        default=dict, help_text="The app's row: organisations still asking -> when they stop counting (fair share)."
    )
    blocked_until = models.FloatField(default=0.0)
    blocked_problem = models.CharField(max_length=20, blank=True)

    def __str__(self) -> str:
        return self.key


class XeroWebhookDelivery(models.Model):
    """One POST from Xero's webhooks whose signature matched `XERO_WEBHOOK_KEY`, stored as it arrived
    before it is processed (verify, store, process).

    A delivery whose signature is missing or wrong is never stored (anyone can post to the URL): it is
    answered 401 and counted per day in `XeroWebhookRefusal`, where a wrong key shows.
    """

    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    body = models.TextField(help_text="The raw body as received: the signature is over these bytes.")
    signature = models.CharField(max_length=200, blank=True, help_text="The x-xero-signature header as received.")
    verified = models.BooleanField(
        default=False, help_text="The signature matched XERO_WEBHOOK_KEY (only such deliveries are stored)."
    )
    event_count = models.PositiveIntegerField(default=0)
    first_event_sequence = models.PositiveBigIntegerField(null=True, blank=True)
    last_event_sequence = models.PositiveBigIntegerField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    retry_at = models.DateTimeField(
        null=True, blank=True, help_text="Xero's limits or an outage held processing back until then."
    )
    error = models.TextField(blank=True, help_text="Why processing failed or stopped, e.g. 'Xero is unavailable'.")

    class Meta:
        verbose_name = "Xero webhook delivery"
        verbose_name_plural = "Xero webhook deliveries"
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["verified", "processed_at"], name="webhook_unprocessed")]

    def __str__(self) -> str:
        return f"Xero webhook delivery {self.pk} ({self.event_count} events)"


class XeroWebhookRefusal(models.Model):
    """How many posts to the webhook URL were refused on a day (no signature, a wrong one, too large, not
    Xero's format), and the last reason: a count, never what was sent."""

    day = models.DateField(unique=True, help_text="In TIME_ZONE.")
    count = models.PositiveIntegerField(default=0)
    last_at = models.DateTimeField()
    last_reason = models.CharField(max_length=200, help_text="e.g. 'The signature does not match XERO_WEBHOOK_KEY.'")

    class Meta:
        verbose_name = "refused webhook delivery count"
        verbose_name_plural = "refused webhook deliveries"
        ordering = ["-day"]

    def __str__(self) -> str:
        return f"{self.count} refused on {self.day}"


class XeroWebhookEvent(models.Model):
    """One event of a delivery. Xero delivers at least once: an event is stored (and processed) once,
    however many deliveries carry it."""

    class Finding(models.TextChoices):
        PENDING = "pending", "Waiting to be processed"
        CHANGED = "changed", "Changed in Xero: the record is flagged"
        AGREES = "agrees", "Agrees with what Arena sent"
        IN_FLIGHT = "in_flight", "Arena is still sending it: left to the reconcile"
        IGNORED = "ignored", "Ignored"
        FAILED = "failed", "Failed"

    key = models.CharField(
        max_length=64,
        unique=True,
        help_text="SHA-256 of the event's organisation, category, type, resource and date: a repeat is found by it.",
    )
    delivery = models.ForeignKey(XeroWebhookDelivery, on_delete=models.CASCADE, related_name="events")
    tenant_id = models.CharField(max_length=64, help_text="The organisation the event is about.")
    category = models.CharField(max_length=20, help_text="INVOICE, CONTACT or CREDITNOTE.")
    event_type = models.CharField(max_length=20, help_text="CREATE or UPDATE.")
    resource_id = models.CharField(max_length=64, help_text="The InvoiceID or ContactID that changed.")
    event_date = models.DateTimeField(null=True, blank=True)
    whitelabel = models.ForeignKey(Whitelabel, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    record = models.ForeignKey(SyncRecord, null=True, blank=True, on_delete=models.SET_NULL, related_name="xero_events")
    finding = models.CharField(max_length=10, choices=Finding.choices, default=Finding.PENDING, db_index=True)
    note = models.TextField(blank=True, help_text="What processing found, in words.")
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "Xero webhook event"
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.category} {self.event_type} {self.resource_id}"


class Reconciliation(models.Model):
    """One comparison of a whitelabel's books in Arena with its Xero organisation's (`xero_reconcile`, or
    the nightly task): what was compared, every difference found, and what was re-sent."""

    class Trigger(models.TextChoices):
        COMMAND = "command", "xero_reconcile"
        SCHEDULE = "schedule", "Nightly"

    whitelabel = models.ForeignKey(Whitelabel, on_delete=models.CASCADE, related_name="reconciliations")
    tenant_id = models.CharField(max_length=64)
    tenant_name = models.CharField(max_length=255, blank=True)
    trigger = models.CharField(max_length=10, choices=Trigger.choices)
    since = models.DateTimeField(
        null=True, blank=True, help_text="Only what changed from then on was compared; empty: everything."
    )
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    compared = models.JSONField(default=dict, help_text="How many of each were compared, e.g. {'invoices': 12}.")
    differences = models.JSONField(default=list, help_text="Every difference found, with its kind and ids.")
    drift = models.PositiveIntegerField(default=0, help_text="Differences found.")
    fixed = models.PositiveIntegerField(default=0, help_text="Records missing in Xero that were sent again.")
    error = models.TextField(blank=True, help_text="Why the comparison could not be finished.")
    calls = models.PositiveIntegerField(default=0, help_text="Xero calls it made.")
    unread = models.JSONField(
        default=list,
        blank=True,
        help_text="Xero's collections it had no share of the day's calls left for, e.g. ['receipts']: the next "
        "nightly run reads them (empty: it compared everything it set out to).",
    )
    covers_from = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Once complete: everything changed from then on is compared (the start of the first run of a "
        "comparison that took several nights). The next nightly run reads what changed since.",
    )

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["whitelabel", "-started_at"], name="reconciliations_of_whitelabel")]

    def __str__(self) -> str:
        return f"Reconciliation of {self.whitelabel} at {self.started_at:%Y-%m-%d %H:%M}"


class Alert(models.Model):
    """Something a person should know about a whitelabel's books in Xero, for the next email of its kind: at
    most one email per kind per whitelabel a day, telling everything raised since the last one (a digest)."""

    class Kind(models.TextChoices):
        RECONNECT = "reconnect", "The Xero connection needs a reconnect"
        FAILED = "failed", "Records failed for good"
        HELD = "held", "Records held by Xero's lock date or plan"
        PAUSED = "paused", "Xero's daily limit paused the sync"
        CHANGED = "changed", "Changes found in Xero"
        APP_CONNECTIONS = "app_connections", "Arena's Xero app is nearly full"

    whitelabel = models.ForeignKey(
        Whitelabel, null=True, blank=True, on_delete=models.CASCADE, related_name="alerts",
        help_text="Whose books; empty for an alert about Arena's Xero app (support only).",
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    text = models.TextField(help_text="What happened, in words, e.g. 'Payment RCPT-1 INV-1: held by the lock date'.")
    created_at = models.DateTimeField(auto_now_add=True)
    mailed_at = models.DateTimeField(null=True, blank=True, help_text="When the email telling it went out.")

    class Meta:
        indexes = [models.Index(fields=["whitelabel", "kind", "mailed_at"], name="alerts_to_mail")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.text[:60]}"


class AlertOptOut(models.Model):
    """A user who turned off Arena's emails about Xero (on their alerts page)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alert_opt_out")
    created_at = models.DateTimeField(auto_now_add=True)


class XeroImportCursor(models.Model):
    """How far Arena has read what people entered in a whitelabel's Xero organisation: the next read asks
    Xero (`If-Modified-Since`) only for what changed from `payments_since` on, so nothing is missed across
    restarts; what is read again at the boundary is recorded once (`Payment.source_id` is unique)."""

    whitelabel = models.ForeignKey(Whitelabel, on_delete=models.CASCADE, related_name="xero_import_cursors")
    tenant_id = models.CharField(max_length=64, help_text="The organisation read; a cursor means nothing in another.")
    payments_since = models.DateTimeField(
        null=True, blank=True, help_text="Xero's UpdatedDateUTC of the newest payment read (the next read starts here)."
    )
    overpayments_since = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Xero's UpdatedDateUTC of the newest overpayment read (credit entered in Xero).",
    )
    prepayments_since = models.DateTimeField(
        null=True, blank=True, help_text="Xero's UpdatedDateUTC of the newest prepayment read (money received ahead)."
    )
    credit_notes_since = models.DateTimeField(
        null=True, blank=True, help_text="Xero's UpdatedDateUTC of the newest credit note read (credit notes entered)."
    )
    last_read_at = models.DateTimeField(null=True, blank=True, help_text="When Arena last read Xero's payments.")
    reads = models.PositiveBigIntegerField(default=0, help_text="Calls made to read payments.")
    imported = models.PositiveIntegerField(default=0, help_text="Payments entered in Xero that Arena recorded.")
    reversed = models.PositiveIntegerField(default=0, help_text="Recorded payments reversed: deleted in Xero.")
    last_error = models.TextField(
        blank=True,
        help_text="What the latest read with a problem could not record, and why (kept until a later read has "
        "problems of its own, or support clears it).",
    )
    last_error_at = models.DateTimeField(null=True, blank=True, help_text="When that read was.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["whitelabel", "tenant_id"], name="one_import_cursor_per_org")]

    def __str__(self) -> str:
        return f"Import from {self.tenant_id} for {self.whitelabel}"


from .mapping_models import (  # noqa: E402, F401  (issue 20's models)
    CategoryMapping,
    DailySummary,
    DailySummaryEntry,
    MappingOptions,
    MethodMapping,
    TaxMapping,
)
