"""The Xero connect flow, end to end against the sandbox over HTTP."""

import re
import threading
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection as db_connection
from django.test import Client
from django.utils import timezone

from accounting import connection, services
from accounting.models import XeroAuthorisation, XeroConnection
from accounting.xero.errors import XeroConnectionRevoked
from payments.models import Membership
from payments.services import LineInput, issue_invoice
from tests.factories import CustomerFactory, MembershipFactory, WhitelabelFactory
from tests.xero import ORG1, ORG2, callback_path, connect, consent, save_settings, settings_url, tenant_ids

pytestmark = pytest.mark.django_db
PLAN = LineInput("Plan", Decimal("1"), Decimal("100.00"), Decimal("10"))


def messages_of(response) -> str:
    return " ".join(str(m) for m in response.context["messages"]) if response.context else ""


def test_save_connect_allow_ends_connected_with_organisation_name(admin_client, whitelabel, xero):
    response = connect(admin_client, whitelabel, xero, organisations=(ORG2,))
    assert response.redirect_chain[-1][0] == settings_url(whitelabel)
    html = response.content.decode()
    assert f"Connected to Xero organisation {ORG2}." in html
    assert ORG2 in html and "Disconnect" in html
    conn = XeroConnection.objects.get(whitelabel=whitelabel)
    assert conn.status == XeroConnection.Status.ACTIVE
    assert conn.tenant_id == tenant_ids(xero, ORG2)[0]
    assert conn.connected_by.username == "acme-admin"
    assert conn.connected_as == "demo@example.com", "the Xero user, from the id token"
    assert "Xero user demo@example.com" in html
    assert "accounting.invoices" in conn.scopes.split()
    assert conn.short_code == "!z9Y8x", "read from GET /Organisation, for links that open records in Xero"


def test_a_short_code_xero_cannot_give_now_is_left_blank_and_the_connection_stands(admin_client, whitelabel, xero):
    xero.add_fault(method="GET", path="/api.xro/2.0/Organisation", mode="status", status=503)
    connect(admin_client, whitelabel, xero)
    conn = XeroConnection.objects.get(whitelabel=whitelabel)
    assert (conn.status, conn.short_code) == (XeroConnection.Status.ACTIVE, "")


def test_authorise_url_carries_state_pkce_and_granular_scopes(admin_client, whitelabel, xero, settings):
    location = save_settings(admin_client, whitelabel)["Location"]
    query = parse_qs(urlsplit(location).query)
    assert location.startswith(settings.XERO_AUTHORIZE_URL)
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) >= 43
    assert len(query["state"][0]) >= 32
    assert query["redirect_uri"] == [settings.XERO_REDIRECT_URI]
    assert set(query["scope"][0].split()) >= {
        "offline_access",
        "accounting.invoices",
        "accounting.payments",
        "accounting.banktransactions",
        "accounting.contacts",
        "accounting.settings.read",
    }


def test_tokens_are_encrypted_at_rest(admin_client, whitelabel, xero):
    connect(admin_client, whitelabel, xero)
    conn = XeroConnection.objects.get(whitelabel=whitelabel)
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT access_token, refresh_token FROM accounting_xeroconnection")
        raw_access, raw_refresh = cursor.fetchone()
    assert conn.access_token.count(".") == 2, "the access token is a JWT"
    assert conn.access_token not in raw_access and conn.refresh_token not in raw_refresh


def test_connections_are_filtered_by_this_consents_auth_event(admin_client, whitelabel, xero):
    connect(admin_client, whitelabel, xero, organisations=(ORG1,))
    other = WhitelabelFactory()
    other_admin = MembershipFactory(whitelabel=other, role=Membership.Role.ADMIN).user
    other_client = Client()
    other_client.force_login(other_admin)
    # The same Xero user consents again for ORG2: only ORG2 belongs to this consent.
    response = connect(other_client, other, xero, organisations=(ORG2,))
    assert f"Connected to Xero organisation {ORG2}." in response.content.decode()
    assert XeroConnection.objects.get(whitelabel=other).tenant_name == ORG2
    requests_log = xero.requests_log()
    assert any(r["path"].lower() == "/connections" and "authEventId" in (r.get("query") or "") for r in requests_log)


def test_cancel_on_consent_page_shows_message_and_changes_nothing(admin_client, whitelabel, xero):
    location = save_settings(admin_client, whitelabel)["Location"]
    back = consent(xero, location, allow=False)
    assert "error=access_denied" in back
    response = admin_client.get(callback_path(back), follow=True)
    assert "You cancelled the connection to Xero" in response.content.decode()
    assert not XeroConnection.objects.exists()


def test_two_organisations_authorised_admin_picks_one(admin_client, whitelabel, xero):
    location = save_settings(admin_client, whitelabel)["Location"]
    back = consent(xero, location, organisations=(ORG1, ORG2))
    response = admin_client.get(callback_path(back))
    assert response.status_code == 302
    page = admin_client.get(response["Location"])
    assert ORG1 in page.content.decode() and ORG2 in page.content.decode()
    assert not XeroConnection.objects.exists(), "nothing connected until the admin picks"
    done = admin_client.post(
        response["Location"], {"tenant_id": tenant_ids(xero, ORG2)[0], "action": "choose"}, follow=True
    )
    assert f"Connected to Xero organisation {ORG2}." in done.content.decode()
    chosen = XeroConnection.objects.get(whitelabel=whitelabel)
    assert (chosen.tenant_name, chosen.connected_as) == (ORG2, "demo@example.com")
    assert not XeroAuthorisation.objects.exists()
    assert {c["tenantName"] for c in xero.state()["connections"]} == {ORG2}, "the unused connection was removed"


@pytest.mark.parametrize("state", ["", "forged-state-value"])
def test_forged_or_missing_state_is_refused(admin_client, whitelabel, xero, state):
    location = save_settings(admin_client, whitelabel)["Location"]
    back = consent(xero, location)
    query = parse_qs(urlsplit(back).query)
    response = admin_client.get("/accounting/xero/callback/", {"code": query["code"][0], "state": state}, follow=True)
    assert "did not recognise the request" in response.content.decode()
    assert not XeroConnection.objects.exists()


def test_replayed_state_is_refused(admin_client, whitelabel, xero):
    location = save_settings(admin_client, whitelabel)["Location"]
    back = consent(xero, location)
    admin_client.get(callback_path(back))
    assert XeroConnection.objects.count() == 1
    response = admin_client.get(callback_path(back), follow=True)
    assert "did not recognise the request" in response.content.decode()


def test_state_from_another_users_session_is_refused(admin_client, whitelabel, xero):
    location = save_settings(admin_client, whitelabel)["Location"]
    back = consent(xero, location)
    intruder = Client()
    intruder.force_login(MembershipFactory(whitelabel=whitelabel, role=Membership.Role.ADMIN).user)
    response = intruder.get(callback_path(back), follow=True)
    assert "did not recognise the request" in response.content.decode()
    assert not XeroConnection.objects.exists()


def test_pkce_mismatch_fails_with_message(admin_client, whitelabel, xero):
    location = save_settings(admin_client, whitelabel)["Location"]
    session = admin_client.session
    state = parse_qs(urlsplit(location).query)["state"][0]
    pending = session[services.SESSION_KEY]
    pending[state]["verifier"] = "x" * 64
    session[services.SESSION_KEY] = pending
    session.save()
    response = admin_client.get(callback_path(consent(xero, location)), follow=True)
    assert "The connection to Xero failed" in response.content.decode()
    assert not XeroConnection.objects.exists()


@pytest.mark.parametrize("mode, status", [("status", 400), ("status", 500), ("timeout", None)])
def test_token_endpoint_failures_end_on_settings_page_with_message(admin_client, whitelabel, xero, mode, status):
    location = save_settings(admin_client, whitelabel)["Location"]
    back = consent(xero, location)
    fault = {"method": "POST", "path": "/connect/token", "mode": mode, "count": 1}
    if status:
        fault["status"] = status
    else:
        fault["delay"] = 5
    xero.add_fault(**fault)
    response = admin_client.get(callback_path(back), follow=True)
    assert response.redirect_chain[-1][0] == settings_url(whitelabel)
    assert "The connection to Xero failed" in response.content.decode()
    assert not XeroConnection.objects.exists()


def test_organisation_already_linked_to_another_whitelabel_is_refused(admin_client, whitelabel, xero):
    other = WhitelabelFactory()
    other_client = Client()
    other_client.force_login(MembershipFactory(whitelabel=other, role=Membership.Role.ADMIN).user)
    connect(other_client, other, xero, organisations=(ORG1,))
    response = connect(admin_client, whitelabel, xero, organisations=(ORG1,))
    assert "already connected to another Arena whitelabel" in response.content.decode()
    assert not XeroConnection.objects.filter(whitelabel=whitelabel).exists()
    assert XeroConnection.objects.get(whitelabel=other).status == XeroConnection.Status.ACTIVE


def test_failed_reconnect_keeps_the_previous_connection(admin_client, whitelabel, xero):
    connect(admin_client, whitelabel, xero, organisations=(ORG1,))
    before = XeroConnection.objects.get(whitelabel=whitelabel)
    location = admin_client.post(settings_url(whitelabel) + "xero/connect/")["Location"]
    admin_client.get(callback_path(consent(xero, location, allow=False)))
    after = XeroConnection.objects.get(whitelabel=whitelabel)
    assert (after.status, after.tenant_id, after.refresh_token) == (
        before.status,
        before.tenant_id,
        before.refresh_token,
    )


def test_expired_token_is_refreshed_and_rotated_refresh_token_persisted(admin_client, whitelabel, xero):
    connect(admin_client, whitelabel, xero)
    conn = XeroConnection.objects.get(whitelabel=whitelabel)
    old_refresh = conn.refresh_token
    XeroConnection.objects.filter(pk=conn.pk).update(access_token_expires_at=timezone.now())
    creds = connection.connection_credentials(conn)
    conn.refresh_from_db()
    assert creds.access_token == conn.access_token
    assert conn.refresh_token != old_refresh
    assert conn.access_token_expires_at > timezone.now()
    assert connection.chart_of_accounts(conn, fresh=True), "the new token works"


def test_401_from_xero_refreshes_once_and_retries(admin_client, whitelabel, xero):
    connect(admin_client, whitelabel, xero)
    conn = XeroConnection.objects.get(whitelabel=whitelabel)
    xero.advance_clock(31 * 60)  # Xero's clock: the access token expired, ours doesn't know yet
    assert connection.chart_of_accounts(conn, fresh=True)
    refreshes = [r for r in xero.requests_log() if r["path"] == "/connect/token"]
    assert len(refreshes) == 2, "one code exchange, one refresh"


@pytest.mark.django_db(transaction=True)
def test_two_workers_refreshing_at_once_make_one_refresh_call(client, xero):
    whitelabel = WhitelabelFactory(slug="acme")
    admin = MembershipFactory(whitelabel=whitelabel, role=Membership.Role.ADMIN).user
    client.force_login(admin)
    connect(client, whitelabel, xero)
    conn = XeroConnection.objects.get(whitelabel=whitelabel)
    XeroConnection.objects.filter(pk=conn.pk).update(access_token_expires_at=timezone.now())
    xero.clear_requests_log()
    barrier, results = threading.Barrier(2), []

    def worker():
        barrier.wait()
        try:
            results.append(connection.connection_credentials(conn).access_token)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 2 and results[0] == results[1]
    assert len([r for r in xero.requests_log() if r["path"] == "/connect/token"]) == 1
    conn.refresh_from_db()
    assert conn.access_token == results[0]


def test_revoked_refresh_token_marks_needs_reconnect_and_shows_banner(admin_client, whitelabel, xero):
    connect(admin_client, whitelabel, xero)
    conn = XeroConnection.objects.get(whitelabel=whitelabel)
    xero.revoke_connection(conn.connection_id)
    XeroConnection.objects.filter(pk=conn.pk).update(access_token_expires_at=timezone.now())
    with pytest.raises(XeroConnectionRevoked):
        connection.connection_credentials(conn)
    conn.refresh_from_db()
    assert conn.status == XeroConnection.Status.NEEDS_RECONNECT
    page = admin_client.get(settings_url(whitelabel)).content.decode()
    assert "Xero needs to be reconnected" in page and "Reconnect" in page
    response = admin_client.post(settings_url(whitelabel) + "xero/connect/")
    assert response["Location"].startswith(xero.url)


def test_disconnect_removes_connection_at_xero_and_keeps_arena_data(admin_client, whitelabel, xero):
    connect(admin_client, whitelabel, xero)
    conn = XeroConnection.objects.get(whitelabel=whitelabel)
    response = admin_client.post(settings_url(whitelabel) + "xero/disconnect/", follow=True)
    assert f"Disconnected from Xero organisation {ORG1}" in response.content.decode()
    conn.refresh_from_db()
    assert conn.status == XeroConnection.Status.DISCONNECTED
    assert conn.access_token is None and conn.refresh_token is None
    assert any(r["method"] == "DELETE" and conn.connection_id in r["path"] for r in xero.requests_log())
    assert "Connect to Xero" in admin_client.get(settings_url(whitelabel)).content.decode()


def test_connected_page_offers_bank_accounts_and_checks_revenue_code(admin_client, whitelabel, xero):
    connect(admin_client, whitelabel, xero)
    page = admin_client.get(settings_url(whitelabel)).content.decode()
    assert "090 – Business Bank Account" in page
    response = save_settings(
        admin_client, whitelabel, **{"accounting-revenue_code": "400", "accounting-bank_account_code": "090"}
    )
    assert response.status_code == 400
    assert "not a revenue account" in response.content.decode() and "200" in response.content.decode()
    response = save_settings(
        admin_client, whitelabel, **{"accounting-revenue_code": "210", "accounting-bank_account_code": "090"}
    )
    assert "archived" in response.content.decode()
    response = save_settings(admin_client, whitelabel, **{"accounting-revenue_code": "999"})
    assert "Xero has no account with code 999" in response.content.decode()
    ok = save_settings(admin_client, whitelabel, **{"accounting-bank_account_code": "090"})
    assert ok.status_code == 302
    whitelabel.accounting_settings.refresh_from_db()
    assert whitelabel.accounting_settings.bank_account_code == "090"


def test_a_revenue_code_saved_while_disconnected_is_checked_when_connecting(admin_client, whitelabel, xero):
    """Saved while no organisation could say (issue 19, item 1): connecting checks it. The message names the code
    as the settings page does, the field is marked as a failed Save marks it, and nothing is offered for sending
    until it is corrected."""
    connect(admin_client, whitelabel, xero)
    admin_client.post(settings_url(whitelabel) + "xero/disconnect/", follow=True)
    assert save_settings(admin_client, whitelabel, **{"accounting-revenue_code": "400"}).status_code == 302
    issue_invoice(CustomerFactory(whitelabel=whitelabel), [PLAN])

    response = admin_client.post(settings_url(whitelabel) + "xero/connect/")
    back = admin_client.get(callback_path(consent(xero, response["Location"])), follow=True)

    problem = "Account 400 – Advertising is not a revenue account. Use one of: 200, 201, 202, 203, 260, 270."
    assert messages_of(back).startswith(
        f"Connected to Xero organisation {ORG1}. Revenue code 400 can't be used with {ORG1}: {problem} "
        "Correct it below, and Save: until then Arena sends Xero nothing that needs it."
    )
    page = back.content.decode()
    (field,) = re.findall(r'<input type="text" name="accounting-revenue_code"[^>]*>', page)
    assert 'value="400"' in field and 'aria-invalid="true"' in field
    assert re.search(r'aria-describedby="[^"]*id_accounting-revenue_code_error"', field)
    assert f'<div class="error" id="id_accounting-revenue_code_error"><p>{problem}</p></div>' in page.replace(
        "&#x27;", "'"
    )
    assert "unsent record" not in page, "no Send button while Xero would refuse what it sends"
    assert "Correct the revenue code below, and Save, before sending" in page
    sync_card = admin_client.get(settings_url(whitelabel) + "xero/sync/").content.decode()
    assert "Correct the revenue code below, and Save, before sending" in sync_card

    fixed = save_settings(
        admin_client, whitelabel, **{"accounting-revenue_code": "200", "accounting-bank_account_code": "090"}
    )
    assert fixed.status_code == 302
    page = admin_client.get(settings_url(whitelabel)).content.decode()
    assert 'aria-invalid="true"' not in page and "Send 2 unsent records to Xero" in page


def test_a_bank_account_xero_no_longer_takes_is_marked_too(admin_client, whitelabel, xero):
    connect(admin_client, whitelabel, xero, **{"accounting-bank_account_code": "091"})
    assert save_settings(admin_client, whitelabel, **{"accounting-bank_account_code": "091"}).status_code == 302
    xero.archive_account("091")
    services.organisation_caches_clear(XeroConnection.objects.get(whitelabel=whitelabel))

    page = admin_client.get(settings_url(whitelabel)).content.decode()

    assert 'name="accounting-bank_account_code" aria-invalid="true"' in page
    assert "Account 091 – Business Savings Account is archived in Xero. Use one of: 090, 092." in page


def test_an_organisation_without_the_billing_currency_is_named_at_connect_and_at_save(admin_client, whitelabel, xero):
    whitelabel.default_currency = "USD"
    whitelabel.save()
    warning = (
        f"Arena bills Acme Telecom in USD, but Xero organisation {ORG1} does not have that currency, so Xero will "
        "refuse what Arena sends. Add USD in Xero (Accounting > Advanced > Currencies)"
    )

    connected = connect(admin_client, whitelabel, xero)
    assert f"Connected to Xero organisation {ORG1}." in messages_of(connected) and warning in messages_of(connected)

    saved = admin_client.get(save_settings(admin_client, whitelabel, **{"accounting-bank_account_code": "090"}).url)
    assert messages_of(saved).startswith("Accounting system settings saved. " + warning)
    whitelabel.default_currency = "NZD"  # Organisation 1 has AUD and NZD
    whitelabel.save()
    saved = admin_client.get(save_settings(admin_client, whitelabel, **{"accounting-bank_account_code": "090"}).url)
    assert messages_of(saved) == "Accounting system settings saved."


def test_tokens_never_reach_the_logs(admin_client, whitelabel, xero, caplog, settings):
    import logging

    caplog.set_level(logging.DEBUG)
    logging.getLogger().setLevel(logging.DEBUG)
    connect(admin_client, whitelabel, xero)
    conn = XeroConnection.objects.get(whitelabel=whitelabel)
    first = (conn.access_token, conn.refresh_token)
    connection.connection_refresh(connection=conn, rejected_token=conn.access_token)
    conn.refresh_from_db()
    text = caplog.text
    for token in (*first, conn.access_token, conn.refresh_token):
        assert token not in text
    assert "connected to Xero organisation" in text


def test_unfinished_organisation_choice_is_forgotten_with_its_tokens(admin_client, whitelabel, xero):
    location = save_settings(admin_client, whitelabel)["Location"]
    admin_client.get(callback_path(consent(xero, location, organisations=(ORG1, ORG2))))
    pending = XeroAuthorisation.objects.get()
    assert services.pending_authorisations_purge() == 0, "still fresh"
    XeroAuthorisation.objects.filter(pk=pending.pk).update(created_at=timezone.now() - services.PENDING_TTL * 2)
    assert services.pending_authorisations_purge() == 1
    assert not XeroAuthorisation.objects.exists()
    response = admin_client.post(
        settings_url(whitelabel) + f"xero/organisation/{pending.pk}/", {"tenant_id": tenant_ids(xero, ORG1)[0]}
    )
    assert response.status_code == 404


def test_admin_sees_sync_state_and_can_send_what_was_billed_before_connecting(admin_client, whitelabel, xero):
    from decimal import Decimal

    from accounting.models import SyncRecord
    from payments.services import LineInput, issue_invoice
    from tests.factories import CustomerFactory

    invoice = issue_invoice(CustomerFactory(whitelabel=whitelabel), [LineInput("Plan", Decimal("1"), Decimal("10.00"))])
    connect(admin_client, whitelabel, xero)
    page = admin_client.get(settings_url(whitelabel)).content.decode()
    assert "Send 2 unsent records to Xero" in page
    response = admin_client.post(settings_url(whitelabel) + "xero/resync/", follow=True)
    assert "2 records will be sent to Xero" in response.content.decode()
    assert (
        SyncRecord.objects.get(kind=SyncRecord.Kind.INVOICE, object_id=invoice.pk).status == SyncRecord.Status.PENDING
    )
    SyncRecord.objects.filter(kind=SyncRecord.Kind.INVOICE).update(
        status=SyncRecord.Status.FAILED, reason="Xero refused it: Account code '999' is not a valid code"
    )
    page = admin_client.get(settings_url(whitelabel)).content.decode()
    assert "Failed <strong>1</strong>" in page and "is not a valid code" in page


def test_resync_without_a_connection_sends_nothing(admin_client, whitelabel):
    response = admin_client.post(settings_url(whitelabel) + "xero/resync/", follow=True)
    assert "Nothing was sent" in response.content.decode()
