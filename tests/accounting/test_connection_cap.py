"""Xero lets an app that has not completed its certification connect 25 organisations. Arena counts the ones
it holds (XERO_APP_CONNECTION_LIMIT): the admin sees how many are used, support is warned from 80%, and a
whitelabel that would be one too many is told so before Xero refuses it."""

import re

import pytest
from django.contrib.messages import get_messages

from accounting.models import AccountingSettings, XeroConnection
from accounting.selectors import app_connections
from payments.models import Membership
from tests.factories import MembershipFactory, UserFactory, WhitelabelFactory
from tests.second_factor import log_in_verified
from tests.xero import connect

SAVE = {
    "action": "save",
    "accounting-accounting_system": "xero",
    "accounting-payment_type": "postpaid",
    "accounting-revenue_code": "200",
    "gateway-provider": "windcave",
    "gateway-accepted_cards": ["visa"],
    "gateway-currency": "AUD",
    "gateway-gateway_user": "",
    "gateway-gateway_password": "",
}


def settings_url(whitelabel) -> str:
    return f"/account/{whitelabel.slug}/settings/components/accounting-system/"


@pytest.fixture
def at_the_cap(admin_client, whitelabel, xero, settings):
    """Acme holds Arena's only connection of a cap of 1; another whitelabel's admin is logged in too."""
    settings.XERO_APP_CONNECTION_LIMIT = 1
    connect(admin_client, whitelabel, xero)
    other = WhitelabelFactory(name="Beta Mobile", slug="beta")
    user = MembershipFactory(whitelabel=other, role=Membership.Role.ADMIN, user=UserFactory(username="beta")).user
    return other, user


def test_a_whitelabel_one_too_many_is_told_before_xero_refuses_and_its_settings_are_kept(at_the_cap, client):
    other, user = at_the_cap
    client.force_login(user)
    page = client.post(settings_url(other), SAVE)
    assert page.status_code == 302 and page.url == settings_url(other), "not sent to Xero's consent page"
    (message,) = [str(m) for m in get_messages(page.wsgi_request)]
    assert message.startswith("Arena's Xero app is connected to 1 organisations, as many as Xero lets an app")
    assert "Your settings are kept; ask Arena support" in message
    assert AccountingSettings.objects.get(whitelabel=other).revenue_code == "200"
    assert client.post(f"/account/{other.slug}/settings/components/accounting-system/xero/connect/").url == (
        settings_url(other)
    ), "Connect says the same"


def test_the_whitelabel_holding_a_connection_may_reconnect_at_the_cap(at_the_cap, admin_client, whitelabel, xero):
    XeroConnection.objects.filter(whitelabel=whitelabel).update(status=XeroConnection.Status.NEEDS_RECONNECT)
    assert app_connections().used == 1, "Xero still counts a connection that needs reconnecting"
    reconnect = admin_client.post(f"{settings_url(whitelabel)}xero/connect/")
    assert reconnect.url.startswith(f"{xero.url}/identity/connect/authorize")


def test_the_admin_shows_the_connections_used_and_warns_support_from_80_percent(at_the_cap, client, settings):
    support = UserFactory(username="jo-support", is_staff=True, is_superuser=True)
    log_in_verified(client, support)
    settings.XERO_APP_CONNECTION_LIMIT = 2
    listing = client.get("/admin/accounting/xeroconnection/").content.decode()
    assert "Xero connections: 1 of the 2 organisations Xero lets Arena&#x27;s app connect" in listing
    assert not re.search(r"Xero refuses every new organisation", listing), "50% used: no warning"
    settings.XERO_APP_CONNECTION_LIMIT = 1
    listing = client.get("/admin/accounting/xeroconnection/").content.decode()
    assert "1 of 1 used: at 1, Xero refuses every new organisation until the app completes" in listing


def test_the_sandbox_refuses_an_app_past_its_cap_with_xeros_words(xero, admin_client, whitelabel, settings):
    xero.configure(app_connection_limit=1)
    connect(admin_client, whitelabel, xero)  # the app's first organisation
    other = WhitelabelFactory(name="Beta Mobile", slug="beta")
    user = MembershipFactory(whitelabel=other, role=Membership.Role.ADMIN, user=UserFactory(username="beta")).user
    admin_client.force_login(user)
    consent = admin_client.post(settings_url(other), SAVE)
    page = xero.http.get(consent.url)
    tenant = xero.tenant_ids["Organisation 2"]
    refused = xero.http.post(
        f"{xero.url}/identity/connect/authorize",
        data={**dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page.text)), "tenant_id": tenant, "action": "allow"},
        allow_redirects=False,
    )
    assert refused.status_code == 403
    assert "needs to complete certification before it can connect to more Xero organisations" in refused.text
