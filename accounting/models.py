"""Accounting settings per whitelabel, the Xero connection, and the outbox of sync records."""

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

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
