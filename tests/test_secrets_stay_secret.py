"""No Xero token, client secret or gateway password appears in the logs (the app's and the Celery
worker's) of a full connect, sync and token refresh, nor in the pages, the admin's HTML, the database's
own rows or `dumpdata`; and every worker log line is one line with an ISO 8601 UTC time."""

import datetime
import io
import logging
import re
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection as db
from django.test import Client
from django.utils import timezone

from accounting.models import SyncRecord, XeroConnection
from payments.models import Membership, PaymentGatewaySettings
from payments.services import LineInput, issue_invoice, record_payment
from tests.factories import CustomerFactory, MembershipFactory, UserFactory, WhitelabelFactory
from tests.second_factor import log_in_verified
from tests.xero import connect, save_settings, settings_url, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

GATEWAY_PASSWORD = "gw-Pa55word-that-must-stay-secret"
LINE = LineInput("Mobile plan", Decimal("1"), Decimal("100.00"), Decimal("10"))
ISO_UTC_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00 [A-Z]+ \S+ ")


def sent(record_filter) -> bool:
    return SyncRecord.objects.filter(**record_filter).exists() and not (
        SyncRecord.objects.filter(**record_filter).exclude(status=SyncRecord.Status.SENT).exists()
    )


def tokens_of(connection: XeroConnection) -> set[str]:
    connection.refresh_from_db()
    return {connection.access_token, connection.refresh_token, connection.access_token.rsplit(".", 1)[-1]}


def raw_database_rows() -> str:
    """Every row of every table as the database holds it (what a dump would contain)."""
    rows = []
    with db.cursor() as cursor:
        for table in db.introspection.table_names():
            cursor.execute(f"SELECT * FROM {db.ops.quote_name(table)}")
            rows += [repr(row) for row in cursor.fetchall()]
    return "\n".join(rows)


def dumpdata() -> str:
    out = io.StringIO()
    call_command("dumpdata", "accounting", "payments", "axes", stdout=out)
    return out.getvalue()


def test_a_full_connect_and_sync_leaks_no_secret(xero, sync_worker, caplog):
    caplog.set_level(logging.DEBUG)
    worker_log_start = sync_worker.log_path.stat().st_size
    whitelabel = WhitelabelFactory(slug="acme", name="Acme")
    admin = Client()
    admin.force_login(MembershipFactory(whitelabel=whitelabel, role=Membership.Role.ADMIN).user)
    connect(admin, whitelabel, xero, **{"gateway-gateway_password": GATEWAY_PASSWORD})
    response = save_settings(admin, whitelabel, **{"accounting-bank_account_code": "090"})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert PaymentGatewaySettings.objects.get(whitelabel=whitelabel).gateway_password == GATEWAY_PASSWORD
    connection = XeroConnection.objects.get(whitelabel=whitelabel)
    secrets = tokens_of(connection)

    customer = CustomerFactory(whitelabel=whitelabel)
    invoice = issue_invoice(customer, [LINE])
    record_payment(customer, Decimal("150.00"), invoice=invoice)
    wait_until(lambda: sent({"whitelabel": whitelabel}), timeout=60, message="the first records to reach Xero")

    # The access token runs out: the worker refreshes it (new access and refresh tokens) and goes on.
    XeroConnection.objects.filter(pk=connection.pk).update(
        access_token_expires_at=timezone.now() - datetime.timedelta(minutes=1)
    )
    second = issue_invoice(customer, [LINE])
    wait_until(lambda: sent({"whitelabel": whitelabel, "object_id": second.pk}), timeout=60, message="a refresh")
    refreshed = tokens_of(connection)
    assert refreshed.isdisjoint(secrets), "the worker should have refreshed the tokens"
    secrets |= refreshed | {GATEWAY_PASSWORD, settings.XERO_CLIENT_SECRET, settings.SECRET_KEY}

    support = Client()
    log_in_verified(support, UserFactory(username="support-jo", is_staff=True, is_superuser=True))
    pages = {
        "settings page": admin.get(settings_url(whitelabel)),
        "admin connections": support.get("/admin/accounting/xeroconnection/"),
        "admin connection": support.get(f"/admin/accounting/xeroconnection/{connection.pk}/change/"),
        "admin sync records": support.get("/admin/accounting/syncrecord/"),
        "admin gateway": support.get("/admin/payments/paymentgatewaysettings/"),
    }
    gateway = PaymentGatewaySettings.objects.get(whitelabel=whitelabel)
    pages["admin gateway change"] = support.get(f"/admin/payments/paymentgatewaysettings/{gateway.pk}/change/")
    for record in SyncRecord.objects.filter(whitelabel=whitelabel)[:3]:
        pages[f"admin {record.label}"] = support.get(f"/admin/accounting/syncrecord/{record.pk}/change/")
    worker_log = sync_worker.log_path.read_text()[worker_log_start:]
    places = {
        "app log": caplog.text,
        "worker log": worker_log,
        "database rows": raw_database_rows(),
        "dumpdata": dumpdata(),
        **{name: page.content.decode() for name, page in pages.items() if page.status_code == 200},
    }
    assert {"settings page", "admin connection", "app log", "worker log"} <= set(places)
    for place, text in places.items():
        leaked = [secret[:12] + "..." for secret in secrets if secret in text]
        assert not leaked, f"{place} shows {leaked}"

    lines = [line for line in worker_log.splitlines() if line.strip()]
    assert any("Task accounting.tasks.sync_organisation" in line for line in lines)
    bad = [line for line in lines if not ISO_UTC_LINE.match(line)]
    assert not bad, f"worker log lines not in the app's format: {bad[:3]}"
