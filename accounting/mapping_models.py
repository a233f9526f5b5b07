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
