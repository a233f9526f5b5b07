"""A whitelabel's mapping of Arena's billing onto its Xero organisation's accounts (issue 20): each line
category to a revenue account and up to two tracking options, each tax rate to a Xero tax type, each payment
method to the account its money is deposited to and the expense account its gateway fees go to.

Unmapped values keep the settings page's Revenue code, Bank account and the tax type chosen by effective
rate. A change applies forward: what was sent keeps the payload it was sent with.
"""

from django.db import models

from payments.models import CATEGORY_MAX, Payment, Whitelabel, category_validator

from .models import xero_account_code_validator


class CategoryMapping(models.Model):
    """Lines of a category go to this revenue account, tracked by these options."""

    whitelabel = models.ForeignKey(Whitelabel, on_delete=models.CASCADE, related_name="xero_category_mappings")
    category = models.CharField(max_length=CATEGORY_MAX, validators=[category_validator], help_text="e.g. 'nbn'.")
    account_code = models.CharField(
        max_length=10, validators=[xero_account_code_validator], help_text="A Xero revenue account, e.g. 201."
    )
    tracking = models.JSONField(
        default=list, blank=True, help_text='Up to two tracking options, e.g. [{"Name": "Region", "Option": "NSW"}].'
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["whitelabel", "category"], name="one_mapping_per_category")]
        ordering = ["whitelabel", "category"]

    def __str__(self) -> str:
        return f"{self.category} → {self.account_code}"

    @property
    def tracking_text(self) -> str:
        return ", ".join(f"{t['Name']}:{t['Option']}" for t in self.tracking or [])


class TaxMapping(models.Model):
    """Lines taxed at this rate carry this Xero tax type."""

    whitelabel = models.ForeignKey(Whitelabel, on_delete=models.CASCADE, related_name="xero_tax_mappings")
    tax_rate = models.DecimalField(max_digits=5, decimal_places=2, help_text="Percent, e.g. 0 or 10.")
    tax_type = models.CharField(max_length=50, help_text="A Xero tax type for sales, e.g. EXEMPTOUTPUT.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["whitelabel", "tax_rate"], name="one_mapping_per_tax_rate")]
        ordering = ["whitelabel", "tax_rate"]

    def __str__(self) -> str:
        return f"{self.tax_rate.normalize()}% → {self.tax_type}"


class MethodMapping(models.Model):
    """Money taken by this method is deposited to this account (a bank or clearing account); what the gateway
    keeps goes to the fee account."""

    whitelabel = models.ForeignKey(Whitelabel, on_delete=models.CASCADE, related_name="xero_method_mappings")
    method = models.CharField(max_length=20, choices=Payment.Method.choices)
    account_code = models.CharField(
        max_length=10, validators=[xero_account_code_validator], help_text="A Xero bank account, e.g. 092."
    )
    fee_account_code = models.CharField(
        max_length=10, blank=True, validators=[xero_account_code_validator],
        help_text="A Xero expense account for the gateway's fees, e.g. 404.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["whitelabel", "method"], name="one_mapping_per_method")]
        ordering = ["whitelabel", "method"]

    def __str__(self) -> str:
        return f"{self.method} → {self.account_code}"


class MappingOptions(models.Model):
    """The whitelabel's choices beyond the rows: whether pre-paid receipts go to Xero one by one or as one
    Receive Money per day per payment method (the daily summary)."""

    whitelabel = models.OneToOneField(Whitelabel, on_delete=models.CASCADE, related_name="xero_mapping_options")
    daily_summary = models.BooleanField(
        default=False,
        help_text="Pre-paid: one Receive Money per day per payment method instead of one per receipt.",
    )
    summary_since = models.DateTimeField(
        null=True, blank=True, help_text="Receipts received from then on go in daily summaries."
    )
    summarised_through = models.DateField(
        null=True, blank=True, help_text="The last day (the whitelabel's) whose summaries are made."
    )

    class Meta:
        verbose_name_plural = "mapping options"

    def __str__(self) -> str:
        return f"Daily summary {'on' if self.daily_summary else 'off'} for {self.whitelabel}"


class DailySummary(models.Model):
    """One day's pre-paid receipts of one payment method, sent as one Receive Money after the day closed; top-ups
    reversed after their day was sent come out of the next day's summary (never by editing a sent one)."""

    whitelabel = models.ForeignKey(Whitelabel, on_delete=models.PROTECT, related_name="xero_daily_summaries")
    day = models.DateField(help_text="The whitelabel's local date.")
    method = models.CharField(max_length=20, choices=Payment.Method.choices)
    currency = models.CharField(max_length=3)
    first_receipt = models.CharField(max_length=50, blank=True)
    last_receipt = models.CharField(max_length=50, blank=True)
    receipts = models.PositiveIntegerField(default=0)
    total_in = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    total_reversed = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    reversed_receipts = models.TextField(blank=True, help_text="The receipts of the top-ups it reverses.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["whitelabel", "day", "method", "currency"], name="one_summary_per_day")
        ]
        ordering = ["day", "method"]
        verbose_name_plural = "daily summaries"

    def __str__(self) -> str:
        return f"{self.day} {self.method}"

    @property
    def number(self) -> str:
        return f"SUM-{self.day:%Y%m%d}-{self.method}"


class DailySummaryEntry(models.Model):
    """A payment in a summary: its money in, or its reversal. Each at most once (exactly once)."""

    class Direction(models.TextChoices):
        IN = "in", "Received"
        REVERSED = "reversed", "Reversed"

    summary = models.ForeignKey(DailySummary, on_delete=models.CASCADE, related_name="entries")
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="xero_summary_entries")
    direction = models.CharField(max_length=10, choices=Direction.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["payment", "direction"], name="a_payment_once_per_direction")
        ]
