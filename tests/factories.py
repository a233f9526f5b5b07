"""Factories for the billing and accounting models; the one place tests build rows."""

import factory
from django.contrib.auth import get_user_model

from accounting.models import AccountingSettings
from payments.models import Customer, Membership, PaymentGatewaySettings, Whitelabel
from payments.services import create_customer


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw-for-tests")


class WhitelabelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Whitelabel

    name = factory.Sequence(lambda n: f"Whitelabel {n}")
    slug = factory.Sequence(lambda n: f"wl{n}")
    default_currency = "AUD"


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    whitelabel = factory.SubFactory(WhitelabelFactory)
    role = Membership.Role.ADMIN


class CustomerFactory(factory.django.DjangoModelFactory):
    """Customers are made by payments.services.create_customer, as Arena makes them."""

    class Meta:
        model = Customer

    whitelabel = factory.SubFactory(WhitelabelFactory)
    account_number = factory.Sequence(lambda n: f"C-{1000 + n}")
    name = factory.Sequence(lambda n: f"Customer {n}")
    email = factory.LazyAttribute(lambda c: f"{c.account_number.lower()}@example.com")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return create_customer(**kwargs)


class GatewaySettingsFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PaymentGatewaySettings

    whitelabel = factory.SubFactory(WhitelabelFactory)
    accepted_cards = ["visa", "mastercard"]
    currency = "AUD"
    gateway_user = "merchant-1"
    gateway_password = "gateway-secret"


class AccountingSettingsFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AccountingSettings
        django_get_or_create = ("whitelabel",)

    whitelabel = factory.SubFactory(WhitelabelFactory)
    accounting_system = AccountingSettings.System.XERO
    payment_type = AccountingSettings.PaymentType.POSTPAID
    revenue_code = "200"
