"""Create a demo whitelabel with an admin, a support user, customers, invoices and payments.

The support user is staff in the `Support` group (arena_xero/support.py), not a superuser:
it sees billing and the sync in the admin and may only retry or skip sync records. Idempotent: running it
again changes nothing and prints the same login (a support user made a superuser by older demo data is put
back in its place).

With DJANGO_DEBUG off (a deployment) it refuses to run unless told so with --allow-without-debug: then
the users it creates get fresh random passwords, printed once (the public `arena-demo` is for `make run`
only), and users that exist keep theirs.

Invoke like so:
    python manage.py load_demo_data
    python manage.py load_demo_data --password s3cret-demo-password
    DJANGO_DEBUG=0 python manage.py load_demo_data --allow-without-debug
"""

import datetime
import secrets
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from arena_xero.support import support_group_ensure
from payments.models import Membership, PaymentGatewaySettings, Whitelabel
from payments.services import LineInput, create_customer, issue_invoice, record_payment

DEMO_SLUG = "demo"
DEMO_PASSWORD = "arena-demo"  # public: for `make run` (debug on) only
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
        parser.add_argument("--password", help=f"the users' password (default: {DEMO_PASSWORD}; random without debug)")
        parser.add_argument(
            "--allow-without-debug",
            action="store_true",
            help="run although DJANGO_DEBUG is off (a staging or demo deployment): new users get random passwords",
        )

    def handle(self, *args, username: str, password: str | None, allow_without_debug: bool, **options):
        if not settings.DEBUG and not allow_without_debug:
            raise CommandError(
                "DJANGO_DEBUG is off: this looks like a deployment, where demo users with a known password would "
                "let anyone in. To load the demo data here anyway, add --allow-without-debug: its users then get "
                "fresh random passwords, printed once."
            )
        if password is not None and not settings.DEBUG:
            try:
                validate_password(password)
            except ValidationError as exc:
                raise CommandError(f"--password is too weak for a deployment: {' '.join(exc.messages)}") from None
        self.logins = []
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
                    "gateway_password": secrets.token_urlsafe(16),
                },
            )
            if created:
                self._billing(whitelabel)
        self.stdout.write(self.style.SUCCESS(f"Demo whitelabel '{whitelabel.name}' is ready."))
        roles = {username: "whitelabel admin", "support": "support staff, Django admin"}
        for name, shown in self.logins:
            self.stdout.write(f"Log in as {name} / {shown} ({roles[name]})")

    def _user(self, username: str, password: str | None, *, is_staff: bool):
        """The user, with the password asked for (debug on: `arena-demo` by default). Without debug a new user
        gets a random password, and one that exists keeps its own."""
        user, created = get_user_model().objects.get_or_create(username=username, defaults={"is_staff": is_staff})
        if settings.DEBUG or password is not None:
            wanted = password or DEMO_PASSWORD
            if created or not user.check_password(wanted):
                user.set_password(wanted)
                user.save()
            self.logins.append((username, wanted))
        elif created:
            wanted = secrets.token_urlsafe(12)
            user.set_password(wanted)
            user.save()
            self.logins.append((username, wanted))
        else:
            self.logins.append((username, "(its existing password: unchanged)"))
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
            create_customer(
                whitelabel=whitelabel, account_number=number, name=name, email=email, phone=phone, address=address
            )
            for number, name, email, phone, address in CUSTOMERS
        ]
        today = timezone.localdate()
        # Categories (nbn, mobile, voice, usage, hardware) are what the whitelabel's Xero mapping keys on.
        plan = LineInput("Mobile plan, monthly", Decimal("1"), Decimal("49.00"), Decimal("10"), "mobile")
        calls = LineInput("International calls", Decimal("12"), Decimal("0.85"), Decimal("10"), "usage")
        nbn = LineInput("NBN 100/20, monthly", Decimal("1"), Decimal("89.00"), Decimal("10"), "nbn")
        voice = LineInput("Home phone line", Decimal("1"), Decimal("15.00"), Decimal("10"), "voice")
        modem = LineInput("Wi-Fi modem", Decimal("1"), Decimal("120.00"), Decimal("10"), "hardware")
        first = issue_invoice(customers[0], [plan, calls], issue_date=today - datetime.timedelta(days=20))
        # No gateway fees: without a fee account in the Mapping they would only be skipped, saying so (README).
        record_payment(customers[0], first.total, invoice=first, reference="DEMO-TXN-1")
        issue_invoice(customers[1], [nbn, voice, modem], issue_date=today - datetime.timedelta(days=5))
        third = issue_invoice(customers[2], [plan], issue_date=today)
        record_payment(customers[2], third.total + Decimal("20.00"), invoice=third, reference="DEMO-TXN-2")
