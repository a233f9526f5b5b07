"""Alerts by email, with a real worker and a real SMTP server: each arrives once, to the whitelabel's admins who
want them (and support), with a link to the settings page; a second incident the same day waits and joins the
next email (the digest) instead of sending another."""

import datetime
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from accounting import alerts
from accounting.models import Alert, SyncRecord
from accounting.tasks import mail_alerts_due
from payments.services import LineInput, issue_invoice, record_payment
from tests.books import admin_client_for, all_sent, connected, outbox_settled
from tests.factories import CustomerFactory, MembershipFactory, UserFactory
from tests.xero import save_settings, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
PLAN = LineInput("Mobile plan", Decimal("1"), Decimal("100.00"), Decimal("10"))


def days_ago(days: int) -> datetime.date:
    return datetime.date.today() - datetime.timedelta(days=days)


def noon(day: datetime.date) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(12), tzinfo=datetime.UTC)


def body_of(message) -> str:
    return message.get_payload(decode=True).decode()


@pytest.fixture
def admins(xero):
    whitelabel = connected(xero)
    wanting = MembershipFactory(whitelabel=whitelabel, user=UserFactory(username="ann", email="ann@acme.example"))
    quiet = MembershipFactory(whitelabel=whitelabel, user=UserFactory(username="bob", email="bob@acme.example"))
    browser = Client()
    browser.force_login(quiet.user)
    assert browser.post("/accounting/alerts/", {}).status_code == 302  # Bob turns alerts off
    assert "Email me these alerts" in browser.get("/accounting/alerts/").content.decode()
    return whitelabel, wanting.user, quiet.user


def test_held_records_are_mailed_once_and_a_second_incident_joins_the_next_digest(
    xero, sync_worker, smtp_server, admins
):
    whitelabel, ann, bob = admins
    customer = CustomerFactory(whitelabel=whitelabel)
    first = issue_invoice(customer, [PLAN], issue_date=days_ago(30))
    second = issue_invoice(customer, [PLAN], issue_date=days_ago(30))
    all_sent((first, SyncRecord.Kind.INVOICE), (second, SyncRecord.Kind.INVOICE))
    xero.set_lock_dates(period_lock_date=days_ago(10))
    saved = save_settings(admin_client_for(whitelabel), whitelabel, **{"accounting-bank_account_code": "090"})
    assert saved.status_code == 302

    record_payment(customer, Decimal("110.00"), invoice=first, received_at=noon(days_ago(20)))
    (email,) = smtp_server.wait_for(1)
    assert "held by Xero's lock date or plan" in email["Subject"]
    recipients = sorted(a.strip() for a in email["To"].split(","))
    assert "ann@acme.example" in recipients and "support@arena.example" in recipients
    assert "bob@acme.example" not in recipients, "Bob turned alerts off"
    assert f"to {first.number}" in body_of(email) and "before Xero's lock date" in body_of(email)
    assert f"/account/{whitelabel.slug}/settings/components/accounting-system/" in body_of(email)

    record_payment(customer, Decimal("110.00"), invoice=second, received_at=noon(days_ago(19)))
    wait_until(lambda: Alert.objects.filter(kind=Alert.Kind.HELD, mailed_at__isnull=True).exists(), message="a 2nd")
    outbox_settled(whitelabel)
    assert alerts.alerts_mail_due() == 0, "at most one email of a kind a day: it waits"
    assert len(smtp_server.messages()) == 1

    Alert.objects.filter(mailed_at__isnull=False).update(mailed_at=timezone.now() - datetime.timedelta(hours=25))
    mail_alerts_due.delay()  # the hourly digest, once the day is up
    digest = smtp_server.wait_for(2)[-1]
    assert f"to {second.number}" in body_of(digest) and f"to {first.number}" not in body_of(digest)
    assert "Since the last email" in body_of(digest)
    assert not Alert.objects.filter(mailed_at__isnull=True).exists()


def test_a_connection_that_needs_a_reconnect_is_mailed(xero, sync_worker, smtp_server, admins):
    whitelabel, ann, bob = admins
    xero.revoke_connection(tenant_id=xero.tenant_ids["Organisation 1"])
    issue_invoice(CustomerFactory(whitelabel=whitelabel), [PLAN])

    (email,) = smtp_server.wait_for(1)
    assert "needs a reconnect" in email["Subject"]
    assert "Reconnect Xero on the settings page" in body_of(email)
    assert email["To"].count("ann@acme.example") == 1


def test_support_is_alerted_when_the_app_reaches_80_percent_of_its_connections(xero, settings, mailoutbox):
    settings.EMAIL_URL = "smtp://mail.arena.example:25"  # this process: Django's test outbox
    settings.XERO_ALERTS_SUPPORT_EMAIL = ["support@arena.example"]
    settings.XERO_APP_CONNECTION_LIMIT = 1
    connected(xero)

    assert alerts.alerts_mail(whitelabel_id=None, kind=Alert.Kind.APP_CONNECTIONS)
    (email,) = mailoutbox
    assert email.to == ["support@arena.example"], "support only, not the whitelabel's admins"
    assert "connected to 1 of the 1 organisations" in email.body and "/admin/" in email.body
    assert not alerts.alerts_mail(whitelabel_id=None, kind=Alert.Kind.APP_CONNECTIONS), "once a day"


def test_changes_found_in_xero_and_records_failed_for_good_are_raised_for_the_next_email(xero, settings):
    from accounting.sync import outbox

    whitelabel = connected(xero)
    invoice = issue_invoice(CustomerFactory(whitelabel=whitelabel), [PLAN])
    record = SyncRecord.objects.get(kind=SyncRecord.Kind.INVOICE, object_id=invoice.pk)
    outbox.records_mark_changed_in_xero({record.pk: ["Voided in Xero after Arena sent it."]})
    record.attempts = settings.XERO_SYNC_MAX_ATTEMPTS
    outbox.record_mark_failed(record, reason="Xero refused it: Account code '999' is not a valid code.")

    raised = {a.kind: a.text for a in Alert.objects.filter(whitelabel=whitelabel)}
    assert raised[Alert.Kind.CHANGED] == f"Invoice {invoice.number}: Voided in Xero after Arena sent it."
    assert raised[Alert.Kind.FAILED].startswith(f"Invoice {invoice.number} failed for good: Xero refused it")
