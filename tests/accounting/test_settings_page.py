import re

import pytest
from django.urls import reverse

from accounting.models import AccountingSettings
from payments.models import Membership, PaymentGatewaySettings
from tests.factories import GatewaySettingsFactory, MembershipFactory, UserFactory, WhitelabelFactory
from tests.xero import settings_form_data

pytestmark = pytest.mark.django_db


def url(whitelabel):
    return reverse("accounting:settings", kwargs={"whitelabel": whitelabel.slug})


def form_data(**overrides):
    return settings_form_data(
        **{
            "gateway-accepted_cards": ["visa", "amex"],
            "gateway-gateway_user": "merchant-9",
            "gateway-gateway_password": "p@ss-word",
            **overrides,
        }
    )


def test_page_shows_both_sections_with_breadcrumbs(admin_client, whitelabel):
    response = admin_client.get(url(whitelabel))
    assert response.status_code == 200
    html = response.content.decode()
    for text in (
        "Your Account",
        "Components",
        "Accounting System Settings",
        "Accounting system settings",
        "Payment gateway",
        "Revenue code",
        "Pre-paid",
        "Post-paid",
        "Accepted cards",
        "Save",
        "Cancel",
    ):
        assert text in html


def test_saving_xero_postpaid_200_and_gateway_is_shown_on_reload(admin_client, whitelabel, settings):
    response = admin_client.post(url(whitelabel), form_data())
    assert response.status_code == 302
    assert response["Location"].startswith(settings.XERO_AUTHORIZE_URL + "?"), "not connected yet: off to Xero"
    settings = AccountingSettings.objects.get(whitelabel=whitelabel)
    assert (settings.accounting_system, settings.payment_type, settings.revenue_code) == ("xero", "postpaid", "200")
    gateway = PaymentGatewaySettings.objects.get(whitelabel=whitelabel)
    assert gateway.accepted_cards == ["visa", "amex"]
    assert gateway.gateway_password == "p@ss-word"
    page = admin_client.get(url(whitelabel)).content.decode()
    assert 'value="200"' in page
    assert re.search(r'value="postpaid"[^>]*checked', page)
    assert re.search(r'<option value="xero" selected>', page)
    assert 'value="merchant-9"' in page


@pytest.mark.parametrize(
    "code, message",
    [
        ("", "Enter the Xero account code"),
        ("12345678901", "at most 10 characters"),
        ("20 0", "only letters and digits"),
        ("2<0>", "only letters and digits"),
    ],
)
def test_bad_revenue_code_shows_error_next_to_field_and_saves_nothing(admin_client, whitelabel, code, message):
    response = admin_client.post(url(whitelabel), form_data(**{"accounting-revenue_code": code}))
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html
    assert 'id="id_accounting-revenue_code_error"' in html
    assert "Nothing was saved" in html
    assert not AccountingSettings.objects.filter(whitelabel=whitelabel, accounting_system="xero").exists()
    assert not PaymentGatewaySettings.objects.filter(whitelabel=whitelabel).exists()


def test_revenue_code_is_optional_without_an_accounting_system(admin_client, whitelabel):
    admin_client.post(
        url(whitelabel), form_data(**{"accounting-accounting_system": "none", "accounting-revenue_code": ""})
    )
    assert AccountingSettings.objects.get(whitelabel=whitelabel).accounting_system == "none"


def test_cancel_discards_changes(admin_client, whitelabel):
    admin_client.post(url(whitelabel), form_data())
    response = admin_client.post(
        url(whitelabel),
        form_data(action="cancel", **{"accounting-revenue_code": "999", "accounting-payment_type": "prepaid"}),
        follow=True,
    )
    assert "Changes discarded." in response.content.decode()
    settings = AccountingSettings.objects.get(whitelabel=whitelabel)
    assert (settings.revenue_code, settings.payment_type) == ("200", "postpaid")


def test_gateway_password_is_write_only_and_blank_keeps_the_stored_one(admin_client, whitelabel):
    GatewaySettingsFactory(whitelabel=whitelabel, gateway_password="stored-secret")
    page = admin_client.get(url(whitelabel)).content.decode()
    assert "stored-secret" not in page
    assert "A password is stored" in page
    admin_client.post(url(whitelabel), form_data(**{"gateway-gateway_password": ""}))
    assert PaymentGatewaySettings.objects.get(whitelabel=whitelabel).gateway_password == "stored-secret"
    admin_client.post(url(whitelabel), form_data(**{"gateway-gateway_password": "new-secret"}))
    assert PaymentGatewaySettings.objects.get(whitelabel=whitelabel).gateway_password == "new-secret"


def test_gateway_password_is_encrypted_at_rest(whitelabel):
    from django.db import connection

    GatewaySettingsFactory(whitelabel=whitelabel, gateway_password="stored-secret")
    with connection.cursor() as cursor:
        cursor.execute("SELECT gateway_password FROM payments_paymentgatewaysettings")
        (raw,) = cursor.fetchone()
    assert raw and "stored-secret" not in raw


def test_gateway_user_without_any_password_is_rejected(admin_client, whitelabel):
    response = admin_client.post(url(whitelabel), form_data(**{"gateway-gateway_password": ""}))
    assert response.status_code == 400
    assert "Enter the gateway password" in response.content.decode()


def test_gateway_needs_at_least_one_card(admin_client, whitelabel):
    response = admin_client.post(url(whitelabel), form_data(**{"gateway-accepted_cards": None}))
    assert "Tick at least one card type" in response.content.decode()


def test_anonymous_user_is_sent_to_login(client, whitelabel):
    response = client.get(url(whitelabel))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_admin_of_another_whitelabel_gets_404(client, whitelabel):
    outsider = MembershipFactory(whitelabel=WhitelabelFactory(), role=Membership.Role.ADMIN).user
    client.force_login(outsider)
    assert client.get(url(whitelabel)).status_code == 404
    assert client.post(url(whitelabel), form_data()).status_code == 404
    assert not AccountingSettings.objects.filter(whitelabel=whitelabel).exists()


def test_support_staff_cannot_change_settings(client, whitelabel):
    support = MembershipFactory(whitelabel=whitelabel, role=Membership.Role.SUPPORT).user
    client.force_login(support)
    assert client.get(url(whitelabel)).status_code == 403
    assert client.post(url(whitelabel), form_data()).status_code == 403
    assert not AccountingSettings.objects.filter(whitelabel=whitelabel).exists()


def test_settings_home_redirects_admin_to_their_whitelabel(admin_client, whitelabel):
    response = admin_client.get(reverse("accounting:settings_home"))
    assert response["Location"] == url(whitelabel)


def test_user_without_membership_is_refused_at_settings_home(client):
    client.force_login(UserFactory())
    assert client.get(reverse("accounting:settings_home")).status_code == 403


def test_logging_in_lands_on_the_admins_settings_page(client, admin_user, whitelabel):
    response = client.post(reverse("login"), {"username": "acme-admin", "password": "pw-for-tests"}, follow=True)
    assert response.redirect_chain[-1][0] == url(whitelabel)
    assert "Accounting System Settings" in response.content.decode()
