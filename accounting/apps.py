from django.apps import AppConfig


class AccountingConfig(AppConfig):
    name = "accounting"
    verbose_name = "Accounting (Xero)"

    def ready(self) -> None:
        from . import signals
        from .xero import endpoints  # noqa: F401 - registers its deploy check

        signals.connect_receivers()
