"""The settings page's live parts: the sync card and its endpoint, times in the whitelabel's zone,
one message per outcome, the breadcrumb's pages and the Disconnect confirmation."""

import datetime
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from accounting.models import SyncRecord, XeroConnection
from accounting.selectors import sync_summary
from payments.models import Membership
from tests.factories import AccountingSettingsFactory, MembershipFactory, WhitelabelFactory
from tests.xero import ORG1, ORG2, callback_path, connect, consent, save_settings, settings_form_data, settings_url

pytestmark = pytest.mark.django_db
Status = SyncRecord.Status


def sync_url(whitelabel):
    return reverse("accounting:xero_sync", kwargs={"whitelabel": whitelabel.slug})


def connected_row(whitelabel, **fields):
    AccountingSettingsFactory(whitelabel=whitelabel, bank_account_code="090")
    return XeroConnection.objects.create(
        whitelabel=whitelabel,
        tenant_id="t-1",
        tenant_name=ORG1,
        connection_id="c-1",
        connected_at=datetime.datetime(2026, 1, 15, 3, 4, tzinfo=datetime.UTC),
        access_token="a",
        refresh_token="r",
        **fields,
    )


def record(whitelabel, n, status, **fields):
    return SyncRecord.objects.create(
        whitelabel=whitelabel, kind=SyncRecord.Kind.INVOICE, object_id=n, label=f"INV-{n:06d}", status=status, **fields
    )


def messages_in(html: str) -> list[str]:
    return re.findall(r'<p class="message message-\w+"[^>]*>(.*?)</p>', html, re.S)


def test_page_title_and_heading_name_the_page_and_the_breadcrumb_links_to_each_level(admin_client, whitelabel):
    html = admin_client.get(settings_url(whitelabel)).content.decode()
    assert "<title>Accounting System Settings · Acme Telecom · Arena</title>" in html
    assert "<h1>Accounting System Settings</h1>" in html
    crumbs = re.findall(r'<li><a href="([^"]+)"[^>]*>([^<]+)</a></li>', html)
    assert [title for _, title in crumbs] == ["Your Account", "Settings", "Components", "Accounting System Settings"]
    assert crumbs[-1][0] == settings_url(whitelabel) and 'aria-current="page"' in html
    for url, title in crumbs[:-1]:
        page = admin_client.get(url)
        assert page.status_code == 200 and f"<h1>{title}</h1>" in page.content.decode()


def test_breadcrumb_pages_are_for_the_whitelabels_admins_only(client, whitelabel):
    outsider = MembershipFactory(whitelabel=WhitelabelFactory(), role=Membership.Role.ADMIN).user
    client.force_login(outsider)
    assert client.get(reverse("accounting:components", kwargs={"whitelabel": whitelabel.slug})).status_code == 404


def test_sync_card_counts_every_status_generically_and_shows_the_last_send_in_the_whitelabels_zone(
    admin_client, whitelabel
):
    whitelabel.time_zone = "Pacific/Auckland"
    whitelabel.save()
    connected_row(whitelabel)
    sent_at = datetime.datetime(2026, 1, 15, 1, 2, tzinfo=datetime.UTC)  # 14:02 NZDT
    record(whitelabel, 1, Status.SENT, sent_at=sent_at - datetime.timedelta(hours=1))
    record(whitelabel, 2, Status.SENT, sent_at=sent_at)
    record(whitelabel, 3, Status.FAILED, reason="Account code '999' is not a valid code")
    record(whitelabel, 4, Status.SKIPPED)
    html = admin_client.get(sync_url(whitelabel)).content.decode()
    summary = sync_summary(whitelabel)
    assert summary.last_sent_at == sent_at and summary.unsent == 2 and summary.in_progress == 0
    assert [row.label for row in summary.statuses] == ["Sent", "Failed", "Not sent"]
    assert "Sent <strong>2</strong>" in html and "Failed <strong>1</strong>" in html and "Queued" not in html
    assert 'Last sent to Xero <time datetime="2026-01-15T14:02:00+13:00">15 Jan 2026, 14:02 NZDT</time>' in html
    assert "is not a valid code" in html
    assert "2 records are not in Xero: 1 billed while Arena was not connected, 1 that Xero refused" in html
    assert "Send 2 unsent records to Xero" in html
    assert 'data-in-progress="0"' in html, "nothing on its way: the page stops polling"


def test_sync_card_asks_to_be_polled_while_records_are_on_their_way(admin_client, whitelabel):
    connected_row(whitelabel)
    record(whitelabel, 1, Status.PENDING)
    record(whitelabel, 2, Status.FAILED, next_attempt_at=timezone.now() + datetime.timedelta(seconds=30))
    html = admin_client.get(sync_url(whitelabel)).content.decode()
    assert "Queued <strong>1</strong>" in html
    assert 'data-in-progress="2"' in html and "2 records on their way; this card updates itself." in html
    page = admin_client.get(settings_url(whitelabel)).content.decode()
    assert re.search(r'<div id="sync-card"[^>]*aria-live="polite"[^>]*data-refresh-url="' + sync_url(whitelabel), page)
    assert 'data-in-progress="2"' in page, "the page includes the same partial"


def test_sync_card_stops_polling_while_the_connection_needs_reconnecting(admin_client, whitelabel):
    connected_row(whitelabel, status=XeroConnection.Status.NEEDS_RECONNECT, status_reason="Xero revoked access.")
    record(whitelabel, 1, Status.PENDING)
    html = admin_client.get(sync_url(whitelabel)).content.decode()
    assert 'data-in-progress="0"' in html and "paused until you reconnect" in html


def test_sync_card_endpoint_is_for_the_whitelabels_admins_only(client, whitelabel):
    assert client.get(sync_url(whitelabel)).status_code == 302
    client.force_login(MembershipFactory(whitelabel=whitelabel, role=Membership.Role.SUPPORT).user)
    assert client.get(sync_url(whitelabel)).status_code == 403


def test_connected_at_is_shown_in_the_whitelabels_zone(admin_client, whitelabel):
    connected_row(whitelabel)  # 03:04 UTC, whitelabel in Australia/Sydney (AEDT in January)
    html = admin_client.get(settings_url(whitelabel)).content.decode()
    assert "15 Jan 2026, 14:04 AEDT" in html


def test_connecting_after_saving_ends_with_one_message(admin_client, whitelabel, xero):
    html = connect(admin_client, whitelabel, xero, organisations=(ORG1,)).content.decode()
    assert messages_in(html) == [
        f"Connected to Xero organisation {ORG1}. Now choose the bank account payments are deposited to, and Save."
    ]
    assert "Settings saved" not in html


def test_after_connecting_the_bank_account_it_asks_for_has_the_focus(admin_client, whitelabel, xero):
    html = connect(admin_client, whitelabel, xero, organisations=(ORG1,)).content.decode()
    bank = re.search(r'<select name="accounting-bank_account_code"[^>]*>', html).group(0)
    assert "autofocus" in bank
    assert save_settings(admin_client, whitelabel, **{"accounting-bank_account_code": "090"}).status_code == 302
    chosen = admin_client.get(settings_url(whitelabel)).content.decode()
    assert 'selected>090 – Business Bank Account' in chosen and "autofocus" not in chosen, "left where it is"


def test_cancel_at_xero_after_saving_says_the_settings_are_saved_in_one_message(admin_client, whitelabel, xero):
    back = consent(xero, save_settings(admin_client, whitelabel)["Location"], allow=False)
    html = admin_client.get(callback_path(back), follow=True).content.decode()
    assert messages_in(html) == [
        "Your settings are saved. You cancelled the connection to Xero, so nothing is sent to Xero until you connect."
    ]


def test_reconnecting_says_what_billed_meanwhile_will_be_sent(admin_client, whitelabel, xero):
    connect(admin_client, whitelabel, xero, organisations=(ORG2,))
    admin_client.post(
        settings_url(whitelabel), settings_form_data(**{"accounting-bank_account_code": "090"}), follow=True
    )
    admin_client.post(settings_url(whitelabel) + "xero/disconnect/", follow=True)
    record(whitelabel, 1, Status.SKIPPED, reason="The whitelabel is not connected to Xero")
    back = admin_client.post(reverse("accounting:xero_connect", kwargs={"whitelabel": whitelabel.slug}))
    html = admin_client.get(callback_path(consent(xero, back["Location"], organisations=(ORG2,))), follow=True)
    html = html.content.decode()
    assert messages_in(html) == [
        f"Connected to Xero organisation {ORG2}. 1 record billed while Arena was not connected is not in Xero yet: "
        "send it with the button below."
    ]
    assert "Send 1 unsent record to Xero" in html


def test_disconnect_asks_first_and_says_what_will_happen(admin_client, whitelabel, xero):
    connect(admin_client, whitelabel, xero)
    url = reverse("accounting:xero_disconnect", kwargs={"whitelabel": whitelabel.slug})
    assert f'href="{url}"' in admin_client.get(settings_url(whitelabel)).content.decode()
    html = admin_client.get(url).content.decode()
    assert "Disconnect from Xero?" in html and "is <strong>not</strong> sent to Xero" in html
    assert "Keep connected" in html
    assert XeroConnection.objects.get(whitelabel=whitelabel).is_active, "asking changes nothing"
    done = admin_client.post(url, follow=True).content.decode()
    assert messages_in(done)[0].startswith(f"Disconnected from Xero organisation {ORG1}.")
    assert XeroConnection.objects.get(whitelabel=whitelabel).status == XeroConnection.Status.DISCONNECTED


def test_resync_message_uses_a_proper_plural(admin_client, whitelabel, xero):
    connect(admin_client, whitelabel, xero)
    record(whitelabel, 1, Status.SKIPPED)
    html = admin_client.post(settings_url(whitelabel) + "xero/resync/", follow=True).content.decode()
    assert "1 record will be sent to Xero" in html and "record(s)" not in html
    html = admin_client.post(settings_url(whitelabel) + "xero/resync/", follow=True).content.decode()
    assert "Nothing to send" in html


def test_a_wrong_revenue_code_marks_the_field_for_screen_readers(admin_client, whitelabel):
    html = save_settings(admin_client, whitelabel, **{"accounting-revenue_code": "20 0"}).content.decode()
    field = re.search(r'<input[^>]*name="accounting-revenue_code"[^>]*>', html).group(0)
    assert 'aria-invalid="true"' in field
    assert 'aria-describedby="id_accounting-revenue_code_helptext id_accounting-revenue_code_error"' in field
    assert 'id="id_accounting-revenue_code_helptext"' in html and 'id="id_accounting-revenue_code_error"' in html


def test_the_card_names_one_change_made_in_xero_in_a_sentence_that_ends_once(admin_client, whitelabel):
    connected_row(whitelabel)
    record(
        whitelabel,
        2,
        Status.SENT,
        changed_in_xero_at=timezone.now(),
        xero_change="Voided in Xero after Arena sent it; Arena still bills it.",
    )
    html = " ".join(admin_client.get(sync_url(whitelabel)).content.decode().split())
    assert (
        "Changed in Xero: <strong>1</strong> record was changed by a person in Xero after Arena sent it (Invoice "
        "INV-000002: Voided in Xero after Arena sent it; Arena still bills it). Arena does not overwrite"
    ) in html


def test_the_cards_refreshes_do_not_keep_an_idle_session_alive(admin_client, whitelabel):
    """The card refreshes itself as long as the page is open; only the admin's own requests move the session's
    idle expiry (SESSION_IDLE_MINUTES) on, so a page left open still logs out."""
    from django.contrib.sessions.models import Session

    connected_row(whitelabel)
    admin_client.get(settings_url(whitelabel))
    session = Session.objects.get(session_key=admin_client.session.session_key)
    soon = timezone.now() + datetime.timedelta(minutes=1)
    Session.objects.filter(pk=session.pk).update(expire_date=soon)

    refreshed = admin_client.get(sync_url(whitelabel))

    assert refreshed.status_code == 200 and "sessionid" not in refreshed.cookies
    assert Session.objects.get(pk=session.pk).expire_date == soon
    admin_client.get(settings_url(whitelabel))
    assert Session.objects.get(pk=session.pk).expire_date > soon + datetime.timedelta(minutes=20), "a real request"
