"""Create a demo whitelabel with an admin, a support user, customers, invoices and payments.

The support user is staff in the `Support` group (arena_xero/support.py), not a superuser:
it sees billing and the sync in the admin and may only retry or skip sync records. Idempotent: running it
again changes nothing and prints the same login (a support user made a superuser by older demo data is put
back in its place).

Invoke like so:
    python manage.py load_demo_data
    python manage.py load_demo_data --password s3cret-demo
"""

import datetime
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from arena_xero.support import support_group_ensure
from payments.models import Customer, Membership, PaymentGatewaySettings, Whitelabel
from payments.services import LineInput, issue_invoice, record_payment

DEMO_SLUG = "demo"
CUSTOMERS = [
    ("C-1001", "Jane Citizen", "jane@example.com", "+61 400 000 001", "1 George St\nSydney NSW 2000"),
    (
        "C-1002",
        "Bright Sparks Pty Ltd",
        "accounts@brightsparks.example",
        "+61 2 9000 0002",
        "22 Pitt St\nSydney NSW 2000",
    ),
    ("C-1003", "Harbour Cafe", "owner@harbourcafe.example", "+61 2 9000 0003", "5 Circular Quay\nSydney NSW 2000"),
]


class Command(BaseCommand):
    help = "Create (once) a demo whitelabel, its admin user, customers, invoices and payments."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--password", default="arena-demo")

    def handle(self, *args, username: str, password: str, **options):
        with transaction.atomic():
            whitelabel, created = Whitelabel.objects.get_or_create(
                slug=DEMO_SLUG, defaults={"name": "Demo Telecom", "default_currency": "AUD"}
            )
            admin = self._user(username, password, is_staff=False)
            support = self._support_user(password)
            Membership.objects.get_or_create(
                user=admin, whitelabel=whitelabel, defaults={"role": Membership.Role.ADMIN}
            )
            Membership.objects.get_or_create(
                user=support, whitelabel=whitelabel, defaults={"role": Membership.Role.SUPPORT}
            )
            PaymentGatewaySettings.objects.get_or_create(
                whitelabel=whitelabel,
                defaults={
                    "accepted_cards": ["visa", "mastercard"],
                    "currency": "AUD",
                    "gateway_user": "demo-gateway",
                    "gateway_password": "demo-gateway-password",
                },
            )
            if created:
                self._billing(whitelabel)
        self.stdout.write(self.style.SUCCESS(f"Demo whitelabel '{whitelabel.name}' is ready."))
        self.stdout.write(f"Log in as {username} / {password} (whitelabel admin)")
        self.stdout.write(f"Log in as support / {password} (support staff, Django admin)")

    def _user(self, username: str, password: str, *, is_staff: bool):
        user, created = get_user_model().objects.get_or_create(username=username, defaults={"is_staff": is_staff})
        if created or not user.check_password(password):
            user.set_password(password)
            user.save()
        return user

    def _support_user(self, password: str):
        """Staff in the Support group, never a superuser (older demo data made it one)."""
        user = self._user("support", password, is_staff=True)
        if not user.is_staff or user.is_superuser:
            user.is_staff, user.is_superuser = True, False
            user.save(update_fields=["is_staff", "is_superuser"])
        user.groups.add(support_group_ensure())
        return user

    def _billing(self, whitelabel: Whitelabel) -> None:
        customers = [
            Customer.objects.create(
                whitelabel=whitelabel, account_number=number, name=name, email=email, phone=phone, address=address
            )
            for number, name, email, phone, address in CUSTOMERS
        ]
        today = timezone.localdate()
        plan = LineInput("Mobile plan, monthly", Decimal("1"), Decimal("49.00"), Decimal("10"))
        calls = LineInput("International calls", Decimal("12"), Decimal("0.85"), Decimal("10"))
        first = issue_invoice(customers[0], [plan, calls], issue_date=today - datetime.timedelta(days=20))
        record_payment(customers[0], first.total, invoice=first, reference="DEMO-TXN-1")
        issue_invoice(customers[1], [plan, plan], issue_date=today - datetime.timedelta(days=5))
        third = issue_invoice(customers[2], [plan], issue_date=today)
        record_payment(customers[2], third.total + Decimal("20.00"), invoice=third, reference="DEMO-TXN-2")
