"""Forms of the Accounting System Settings page."""

from django import forms

from payments.models import PaymentGatewaySettings

from .connection import ChartAccount
from .models import AccountingSettings
from .sync import mapping

CURRENCIES = [(code, code) for code in ("AUD", "NZD", "USD", "GBP", "EUR", "CAD", "SGD", "FJD")]


class AccountingSettingsForm(forms.ModelForm):
    """Accounting system, payment type, revenue code and (once connected) the bank account.

    `chart` is the connected organisation's chart of accounts; when given, the revenue code must be
    an active revenue account in it and the bank account one of its active bank accounts.
    """

    class Meta:
        model = AccountingSettings
        fields = [
            "accounting_system",
            "payment_type",
            "revenue_code",
            "bank_account_code",
            "lock_date_policy",
            "record_xero_payments",
        ]
        widgets = {
            "payment_type": forms.RadioSelect,
            "lock_date_policy": forms.RadioSelect,
            "revenue_code": forms.TextInput(attrs={"placeholder": "e.g. 200", "autocomplete": "off", "maxlength": 10}),
        }

    def __init__(self, *args, chart: list[ChartAccount] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.chart = chart
        # A form posted without it (an older page, a script) keeps what was saved.
        self.fields["lock_date_policy"].required = False
        self.fields["revenue_code"].max_length = None  # our own message below is clearer than Django's
        self.fields["revenue_code"].validators = []
        if chart is None:
            del self.fields["bank_account_code"]
        else:
            banks = [a for a in chart if a.type == "BANK" and a.status == "ACTIVE"]
            self.fields["bank_account_code"] = forms.ChoiceField(
                label="Bank account",
                choices=[("", "Choose the account payments are deposited to")] + [(a.code, a.label) for a in banks],
                required=False,
                help_text="Payments and receipts are sent to Xero as deposits to this account.",
            )

    def clean_lock_date_policy(self) -> str:
        return self.cleaned_data.get("lock_date_policy") or self.instance.lock_date_policy or "hold"

    def clean_revenue_code(self) -> str:
        code = (self.cleaned_data.get("revenue_code") or "").strip()
        if not code:
            return code
        if len(code) > 10:
            raise forms.ValidationError(f"A Xero account code has at most 10 characters; '{code}' has {len(code)}.")
        if not code.isalnum() or not code.isascii():
            raise forms.ValidationError("Use only letters and digits, e.g. 200.")
        return code

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("accounting_system") != AccountingSettings.System.XERO:
            return cleaned
        code = cleaned.get("revenue_code")
        if "revenue_code" not in self.errors and not code:
            self.add_error("revenue_code", "Enter the Xero account code your sales go to, e.g. 200.")
        elif code and self.chart is not None:
            self._check_revenue_code(code)
        return cleaned

    def _check_revenue_code(self, code: str) -> None:
        problem = mapping.setting_problem("revenue_code", code, self.chart)
        if problem:
            self.add_error("revenue_code", problem)
        else:
            self.cleaned_data["revenue_code"] = next(a.code for a in self.chart if a.code.lower() == code.lower())

    def mark_refused(self, problems: dict[str, str]) -> None:
        """Mark the saved settings that Xero would refuse (services.settings_problems) on their fields, as a
        failed Save marks them: for the page shown after connecting, when what was saved could not be checked."""
        if self.is_bound:
            return
        errors = self.errors  # an unbound form has none of its own
        for field, problem in problems.items():
            if field in self.fields:
                errors[field] = self.error_class([problem], renderer=self.renderer)


class PaymentGatewayForm(forms.ModelForm):
    """The payment gateway. The password is write-only: left blank, the stored one is kept."""

    accepted_cards = forms.MultipleChoiceField(
        label="Accepted cards",
        choices=PaymentGatewaySettings.Card.choices,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Tick at least one card type your customers may pay with."},
    )
    currency = forms.ChoiceField(label="Currency", choices=CURRENCIES)
    gateway_password = forms.CharField(
        label="Password",
        required=False,
        strip=False,
        max_length=200,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )

    class Meta:
        model = PaymentGatewaySettings
        fields = ["provider", "accepted_cards", "currency", "gateway_user", "gateway_password"]
        labels = {"provider": "Provider", "gateway_user": "User"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        stored = self.instance.pk and self.instance.has_password
        self.fields["gateway_password"].help_text = (
            "A password is stored. Leave blank to keep it." if stored else "The password the gateway issued."
        )
        self.fields["gateway_user"].widget.attrs["autocomplete"] = "off"

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("gateway_password"):
            cleaned["gateway_password"] = self.instance.gateway_password if self.instance.pk else None
        if cleaned.get("gateway_user") and not cleaned.get("gateway_password"):
            self.add_error("gateway_password", "Enter the gateway password for this user.")
        return cleaned
