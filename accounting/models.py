"""Accounting settings per whitelabel, the Xero connection, and the outbox of sync records."""

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from encrypted_fields.fields import EncryptedTextField

from payments.models import Whitelabel

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
    revenue_tax_type = models.CharField(
        max_length=50, blank=True, help_text="Tax type of the revenue account in Xero, e.g. OUTPUT (read from Xero)."
    )
    bank_account_code = models.CharField(
        max_length=10,
        blank=True,
        validators=[xero_account_code_validator],
        verbose_name="Bank account",
        help_text="The Xero bank account payments and receipts are deposited to, e.g. 090.",
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


class XeroConnection(models.Model):
    """A whitelabel's link to one Xero organisation. Tokens are encrypted at rest and never shown."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        NEEDS_RECONNECT = "needs_reconnect", "Needs reconnect"
        DISCONNECTED = "disconnected", "Disconnected"

    whitelabel = models.OneToOneField(Whitelabel, on_delete=models.CASCADE, related_name="xero_connection")
    tenant_id = models.CharField(max_length=64, help_text="Xero's organisation (tenant) id.")
    tenant_name = models.CharField(max_length=255, help_text="e.g. 'Organisation 2'.")
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
    the billing change. It keeps the Xero id, the last payload sent and Xero's answer beside ours."""

    class Kind(models.TextChoices):
        CONTACT = "contact", "Contact (customer)"
        INVOICE = "invoice", "Invoice"
        INVOICE_VOID = "invoice_void", "Invoice void"
        PAYMENT = "payment", "Payment on an invoice"
        OVERPAYMENT = "overpayment", "Overpayment (credit)"
        CREDIT_ALLOCATION = "credit_allocation", "Credit applied to an invoice"
        RECEIPT = "receipt", "Receipt (pre-paid)"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    whitelabel = models.ForeignKey(Whitelabel, on_delete=models.CASCADE, related_name="sync_records")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    object_id = models.PositiveBigIntegerField(help_text="Primary key of the Arena record (customer, invoice, ...).")
    label = models.CharField(max_length=100, help_text="What a person calls it, e.g. 'INV-000042'.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    reason = models.TextField(
        blank=True, help_text="Why it failed, waits or was skipped (Xero's own words when it refused)."
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    claimed_until = models.DateTimeField(null=True, blank=True, help_text="A worker holds the record until then.")
    outcome_unknown = models.BooleanField(
        default=False, help_text="A call was made whose answer never arrived: look Xero up before sending again."
    )
    version = models.PositiveIntegerField(
        default=0, help_text="Bumped when the Arena record changes; sending an older version doesn't count as sent."
    )
    xero_id = models.CharField(max_length=64, blank=True, help_text="The id Xero gave it, e.g. the InvoiceID.")
    payload = models.JSONField(null=True, blank=True, help_text="The last payload sent to Xero.")
    response = models.JSONField(null=True, blank=True, help_text="Xero's answer for this record.")
    xero_tenant_id = models.CharField(max_length=64, blank=True, help_text="The organisation it was sent to.")
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "object_id"], name="one_sync_record_per_object")]
        indexes = [models.Index(fields=["whitelabel", "status", "next_attempt_at"], name="sync_due")]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.label}: {self.get_status_display()}"
