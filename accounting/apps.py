from django.apps import AppConfig


class AccountingConfig(AppConfig):
    name = "accounting"
    verbose_name = "Accounting (Xero)"

    def ready(self) -> None:
        from . import signals

        signals.connect_receivers()
