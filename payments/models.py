"""Arena's billing records. Amounts are Decimal with a currency code; services.py is the only writer."""

import zoneinfo
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q, Sum
from django.utils import timezone
from encrypted_fields.fields import EncryptedCharField

MONEY = {"max_digits": 14, "decimal_places": 2}
# A unit price may carry four decimal places (telco usage: per minute, per megabyte); what it adds up to
# (line amounts, totals) stays at two, and goes to Xero with unitdp=4 so Xero keeps all four.
UNIT_PRICE = {"max_digits": 16, "decimal_places": 4}
# A line's category: a short code the whitelabel defines ("nbn", "mobile"), mapped to Xero accounts.
CATEGORY_MAX = 30
category_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9_-]*$", "Use a short code of lower-case letters, digits, - or _, e.g. 'nbn'."
)
currency_code_validator = RegexValidator(r"^[A-Z]{3}$", "Use a three-letter ISO currency code, e.g. AUD.")


def default_time_zone() -> str:
    return settings.TIME_ZONE


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a time zone name; use one like 'Australia/Sydney'.")


class Whitelabel(models.Model):
    """A reseller that bills its own customers through Arena."""

    name = models.CharField(max_length=200, help_text="Shown to customers, e.g. 'Acme Telecom'.")
    slug = models.SlugField(unique=True, help_text="Used in URLs, e.g. 'acme'.")
    default_currency = models.CharField(
        max_length=3, default="AUD", validators=[currency_code_validator], help_text="ISO code, e.g. AUD."
    )
    time_zone = models.CharField(
        max_length=64,
        default=default_time_zone,
        validators=[validate_time_zone],
        help_text="IANA time zone of the whitelabel's books, e.g. 'Australia/Sydney'; dates sent to Xero are local.",
    )
    next_invoice_number = models.PositiveIntegerField(default=1, editable=False)
    next_receipt_number = models.PositiveIntegerField(default=1, editable=False)
    next_credit_note_number = models.PositiveIntegerField(default=1, editable=False)
    next_refund_number = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name

    @property
    def tzinfo(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)

    def local_date(self, moment=None):
        """The whitelabel's calendar date at `moment` (default now): the date its books show."""
        return timezone.localtime(moment or timezone.now(), self.tzinfo).date()


class Membership(models.Model):
    """Links a user to a whitelabel with a role."""

    class Role(models.TextChoices):
        ADMIN = "admin", "Whitelabel admin"
        SUPPORT = "support", "Support staff"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    whitelabel = models.ForeignKey(Whitelabel, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "whitelabel"], name="one_membership_per_user")]

    def __str__(self) -> str:
        return f"{self.user} – {self.whitelabel} ({self.get_role_display()})"


class Customer(models.Model):
    """A whitelabel's customer: the one who receives invoices and pays."""

    whitelabel = models.ForeignKey(Whitelabel, on_delete=models.PROTECT, related_name="customers")
    account_number = models.CharField(max_length=50, help_text="Unique within the whitelabel, e.g. 'C-1001'.")
    name = models.CharField(max_length=255, help_text="Person or company name, e.g. 'Jane Citizen'.")
    email = models.EmailField(blank=True, help_text="Where invoices and reminders go.")
    phone = models.CharField(max_length=50, blank=True)
    address = models.TextField(blank=True, help_text="Postal address, one line per row.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["whitelabel", "account_number"], name="unique_account_number_per_whitelabel"
            )
        ]
        ordering = ["account_number"]

    def __str__(self) -> str:
        return f"{self.name} ({self.account_number})"


class Invoice(models.Model):
    """An invoice issued to a customer. Totals are fixed when it is issued."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ISSUED = "issued", "Issued"
        PAID = "paid", "Paid"
        VOID = "void", "Void"

    whitelabel = models.ForeignKey(Whitelabel, on_delete=models.PROTECT, related_name="invoices")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="invoices")
    number = models.CharField(max_length=50, help_text="Unique within the whitelabel, e.g. 'INV-000042'.")
    issue_date = models.DateField()
    due_date = models.DateField()
    currency = models.CharField(max_length=3, validators=[currency_code_validator])
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    subtotal = models.DecimalField(**MONEY, default=Decimal("0"))
    tax_total = models.DecimalField(**MONEY, default=Decimal("0"))
    total = models.DecimalField(**MONEY, default=Decimal("0"))
    amount_paid = models.DecimalField(
        **MONEY, default=Decimal("0"), help_text="Payments, credit and credit notes applied (reversed ones not)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["whitelabel", "number"], name="unique_invoice_number_per_whitelabel"),
            models.CheckConstraint(condition=Q(amount_paid__lte=models.F("total")), name="invoice_not_overpaid"),
        ]
        ordering = ["issue_date", "id"]

    def __str__(self) -> str:
        return self.number

    @property
    def amount_due(self) -> Decimal:
        return self.total - self.amount_paid


class InvoiceLine(models.Model):
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    description = models.CharField(max_length=500, help_text="e.g. 'Mobile plan, November'.")
    quantity = models.DecimalField(max_digits=12, decimal_places=4, validators=[MinValueValidator(Decimal("0"))])
    unit_amount = models.DecimalField(
        **UNIT_PRICE, help_text="Price of one unit, excluding tax, to four decimal places, e.g. 0.0125 a minute."
    )
    tax_rate = models.DecimalField(
        max_digits=5, decimal_places=2, default=Decimal("0"), help_text="Percent, e.g. 10.00 for 10% GST."
    )
    line_amount = models.DecimalField(**MONEY, help_text="Quantity × unit amount, excluding tax.")
    tax_amount = models.DecimalField(**MONEY)
    category = models.CharField(
        max_length=CATEGORY_MAX,
        blank=True,
        validators=[category_validator],
        help_text="What was sold, a short code the whitelabel defines, e.g. 'nbn'.",
    )

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.description


class Payment(models.Model):
    """Money received from a customer. What is not allocated to invoices is the customer's credit."""

    class Kind(models.TextChoices):
        PAYMENT = "payment", "Payment"
        TOP_UP = "top_up", "Credit top-up"

    class Method(models.TextChoices):
        CARD = "card", "Card"
        BANK_TRANSFER = "bank_transfer", "Bank transfer"
        DIRECT_DEBIT = "direct_debit", "Direct debit"
        CASH = "cash", "Cash"

    class Source(models.TextChoices):
        ARENA = "arena", "Arena"
        XERO = "xero", "Xero"

    whitelabel = models.ForeignKey(Whitelabel, on_delete=models.PROTECT, related_name="payments")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="payments")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.PAYMENT)
    amount = models.DecimalField(**MONEY, validators=[MinValueValidator(Decimal("0.01"))])
    currency = models.CharField(max_length=3, validators=[currency_code_validator])
    received_at = models.DateTimeField()
    method = models.CharField(max_length=20, choices=Method.choices, default=Method.CARD)
    gateway_reference = models.CharField(max_length=100, blank=True, help_text="The gateway's transaction id.")
    fee = models.DecimalField(
        **MONEY,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text="What the gateway kept of the amount, e.g. 1.75; the amount is the gross the customer paid.",
    )
    reversed_at = models.DateTimeField(
        null=True, blank=True, help_text="When the money went back (a chargeback or a bounced direct debit)."
    )
    reversal_reason = models.CharField(max_length=200, blank=True, help_text="e.g. 'Chargeback 4837'.")
    source = models.CharField(
        max_length=10,
        choices=Source.choices,
        default=Source.ARENA,
        help_text="Where the payment was entered: in Arena (and sent on), or in the accounting system (and "
        "recorded here).",
    )
    source_id = models.CharField(
        max_length=64,
        blank=True,
        help_text="The payment's id where it was entered, when not in Arena, e.g. Xero's PaymentID "
        "'64a9418e-9733-44e1-99f8-7e73a27adc38'.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive"),
            # Recorded once, however often it is read: a payment entered elsewhere is one Arena payment.
            models.UniqueConstraint(
                fields=["whitelabel", "source", "source_id"],
                condition=~Q(source_id=""),
                name="one_payment_per_source_id",
            ),
        ]
        ordering = ["received_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount} {self.currency} from {self.customer}"

    @property
    def unallocated(self) -> Decimal:
        """The credit this money still holds: not applied to invoices, not refunded, not reversed."""
        if self.reversed_at is not None:
            return Decimal("0")
        allocated = self.allocations.filter(reversed_at__isnull=True).aggregate(total=Sum("amount"))["total"]
        refunded = self.refund_parts.aggregate(total=Sum("amount"))["total"]
        return self.amount - (allocated or Decimal("0")) - (refunded or Decimal("0"))


class Allocation(models.Model):
    """Part of a payment applied to an invoice: when the money came in, or later from credit."""

    class Source(models.TextChoices):
        PAYMENT = "payment", "Applied when received"
        CREDIT = "credit", "Applied later from credit"

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="allocations")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="allocations")
    amount = models.DecimalField(**MONEY)
    source = models.CharField(max_length=10, choices=Source.choices)
    allocated_at = models.DateTimeField()
    reversed_at = models.DateTimeField(null=True, blank=True, help_text="Undone when its payment was reversed.")

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="allocation_amount_positive")]
        ordering = ["allocated_at", "id"]

    def __str__(self) -> str:
        return f"{self.amount} of payment {self.payment_id} to {self.invoice}"


class CreditNote(models.Model):
    """Money taken off an issued invoice: what it owed less, and the rest (if any) the customer's credit."""

    whitelabel = models.ForeignKey(Whitelabel, on_delete=models.PROTECT, related_name="credit_notes")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="credit_notes")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="credit_notes")
    number = models.CharField(max_length=50, help_text="Unique within the whitelabel, e.g. 'CN-000003'.")
    issue_date = models.DateField()
    currency = models.CharField(max_length=3, validators=[currency_code_validator])
    reason = models.CharField(max_length=200, help_text="Why, e.g. 'Overcharged for roaming'.")
    subtotal = models.DecimalField(**MONEY)
    tax_total = models.DecimalField(**MONEY)
    total = models.DecimalField(**MONEY)
    source = models.CharField(
        max_length=10,
        choices=Payment.Source.choices,
        default=Payment.Source.ARENA,
        help_text="Where the credit note was entered: in Arena (and sent on), or in the accounting system (and "
        "recorded here).",
    )
    source_id = models.CharField(
        max_length=64, blank=True, help_text="Its id where it was entered, when not in Arena: Xero's CreditNoteID."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["whitelabel", "number"], name="unique_credit_note_number_per_whitelabel"),
            models.CheckConstraint(condition=Q(total__gt=0), name="credit_note_total_positive"),
            # Recorded once, however often it is read.
            models.UniqueConstraint(
                fields=["whitelabel", "source", "source_id"],
                condition=~Q(source_id=""),
                name="one_credit_note_per_source_id",
            ),
        ]
        ordering = ["issue_date", "id"]

    def __str__(self) -> str:
        return self.number

    @property
    def unallocated(self) -> Decimal:
        """The credit it still holds: not applied to invoices, not refunded."""
        allocated = self.allocations.aggregate(total=Sum("amount"))["total"]
        refunded = self.refund_parts.aggregate(total=Sum("amount"))["total"]
        return self.total - (allocated or Decimal("0")) - (refunded or Decimal("0"))


class CreditNoteLine(models.Model):
    credit_note = models.ForeignKey(CreditNote, on_delete=models.CASCADE, related_name="lines")
    description = models.CharField(max_length=500)
    quantity = models.DecimalField(max_digits=12, decimal_places=4)
    unit_amount = models.DecimalField(**UNIT_PRICE)
    tax_rate = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal("0"))
    line_amount = models.DecimalField(**MONEY)
    tax_amount = models.DecimalField(**MONEY)
    category = models.CharField(
        max_length=CATEGORY_MAX,
        blank=True,
        validators=[category_validator],
        help_text="The category of what it credits, e.g. 'mobile'.",
    )

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.description


class CreditNoteAllocation(models.Model):
    """Part of a credit note taken off an invoice: its own invoice when issued, or a later one."""

    credit_note = models.ForeignKey(CreditNote, on_delete=models.PROTECT, related_name="allocations")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="credit_note_allocations")
    amount = models.DecimalField(**MONEY)
    allocated_at = models.DateTimeField()

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="credit_note_allocation_positive")]
        ordering = ["allocated_at", "id"]

    def __str__(self) -> str:
        return f"{self.amount} of {self.credit_note} to {self.invoice}"


class Refund(models.Model):
    """Unused credit paid back to the customer. Its number is the refund receipt's, e.g. 'RFD-000002'."""

    whitelabel = models.ForeignKey(Whitelabel, on_delete=models.PROTECT, related_name="refunds")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="refunds")
    number = models.CharField(max_length=50, help_text="Unique within the whitelabel, e.g. 'RFD-000002'.")
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3, validators=[currency_code_validator])
    method = models.CharField(max_length=20, choices=Payment.Method.choices, default=Payment.Method.BANK_TRANSFER)
    reference = models.CharField(max_length=100, blank=True, help_text="e.g. the bank transfer's reference.")
    refunded_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["whitelabel", "number"], name="unique_refund_number_per_whitelabel"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive"),
        ]
        ordering = ["refunded_at", "id"]

    def __str__(self) -> str:
        return self.number


class RefundPart(models.Model):
    """Which credit a refund paid back: what a payment left over, or a credit note's rest."""

    refund = models.ForeignKey(Refund, on_delete=models.PROTECT, related_name="parts")
    payment = models.ForeignKey(Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="refund_parts")
    credit_note = models.ForeignKey(
        CreditNote, null=True, blank=True, on_delete=models.PROTECT, related_name="refund_parts"
    )
    amount = models.DecimalField(**MONEY)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_part_positive"),
            models.CheckConstraint(
                condition=Q(payment__isnull=False, credit_note__isnull=True)
                | Q(payment__isnull=True, credit_note__isnull=False),
                name="refund_part_has_one_source",
            ),
        ]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.amount} of {self.refund} from {self.payment or self.credit_note}"


class Receipt(models.Model):
    """The receipt Arena issues for every payment or credit top-up."""

    whitelabel = models.ForeignKey(Whitelabel, on_delete=models.PROTECT, related_name="receipts")
    payment = models.OneToOneField(Payment, on_delete=models.PROTECT, related_name="receipt")
    number = models.CharField(max_length=50, help_text="Unique within the whitelabel, e.g. 'RCT-000007'.")
    issued_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["whitelabel", "number"], name="unique_receipt_number_per_whitelabel")
        ]
        ordering = ["issued_at", "id"]

    def __str__(self) -> str:
        return self.number


class PaymentGatewaySettings(models.Model):
    """How a whitelabel takes card payments. The password is encrypted at rest and never shown."""

    class Provider(models.TextChoices):
        WINDCAVE = "windcave", "Windcave (formerly DPS)"
        DPS = "dps", "DPS PaymentExpress (legacy)"
        STRIPE = "stripe", "Stripe"

    class Card(models.TextChoices):
        VISA = "visa", "Visa"
        MASTERCARD = "mastercard", "Mastercard"
        AMEX = "amex", "American Express"
        DINERS = "diners", "Diners Club"
        JCB = "jcb", "JCB"

    whitelabel = models.OneToOneField(Whitelabel, on_delete=models.CASCADE, related_name="gateway_settings")
    provider = models.CharField(max_length=20, choices=Provider.choices, default=Provider.WINDCAVE)
    accepted_cards = models.JSONField(default=list, help_text="Card schemes offered at checkout, e.g. ['visa'].")
    currency = models.CharField(max_length=3, default="AUD", validators=[currency_code_validator])
    gateway_user = models.CharField(max_length=100, blank=True, help_text="The user name the gateway issued.")
    gateway_password = EncryptedCharField(max_length=200, blank=True, null=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "payment gateway settings"
        verbose_name_plural = "payment gateway settings"

    def __str__(self) -> str:
        return f"{self.get_provider_display()} for {self.whitelabel}"

    @property
    def has_password(self) -> bool:
        return bool(self.gateway_password)
