"""The support console (the Django admin): who may see and do what, read-only billing, the sync records'
filters, search, actions, links into Xero and history, the summary per whitelabel, and no token anywhere."""

import datetime
import html
import re
from decimal import Decimal
from importlib import import_module
from urllib.parse import urlencode

import pytest
from django.apps import apps as django_apps
from django.contrib.auth.models import Group, Permission
from django.urls import reverse
from django.utils import timezone

from accounting.models import SyncAttempt, SyncRecord, SyncState, XeroConnection
from accounting.selectors import record_xero_link
from arena_xero.support import SUPPORT_GROUP, support_group_ensure, support_permissions
from payments.models import Invoice, Membership, Payment
from payments.services import LineInput, issue_invoice, record_payment, void_invoice
from tests.factories import AccountingSettingsFactory, CustomerFactory, MembershipFactory, UserFactory
from tests.second_factor import log_in_verified

pytestmark = pytest.mark.django_db
Kind, Status = SyncRecord.Kind, SyncRecord.Status
PLAN = LineInput("Plan", Decimal("1"), Decimal("100.00"), Decimal("10"))
TENANT = "a3c2e0f6-6d7b-4c1e-9f3a-1b2c3d4e5f60"
INVOICE_ID = "1cf1a11c-a067-4a05-9c8b-06f281f7afed"
ACCESS_TOKEN = "eyJ-secret-access-token-do-not-show"
REFRESH_TOKEN = "secret-refresh-token-do-not-show"


def support_user(username="support-jo"):
    """Staff in the Support group (made again if a transactional test flushed the one the migration made)."""
    user = UserFactory(username=username, is_staff=True)
    user.groups.add(support_group_ensure())
    return user


@pytest.fixture
def support_client(client):
    log_in_verified(client, support_user())
    return client


@pytest.fixture
def superuser_client(client):
    log_in_verified(client, UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def connection(whitelabel):
    AccountingSettingsFactory(whitelabel=whitelabel)
    return XeroConnection.objects.create(
        whitelabel=whitelabel,
        tenant_id=TENANT,
        tenant_name="Organisation 1",
        short_code="!a1B2c",
        connection_id="conn-1",
        scopes="offline_access accounting.invoices accounting.contacts",
        connected_at=timezone.now(),
        connected_as="demo@example.com",
        refreshed_at=timezone.now(),
        access_token=ACCESS_TOKEN,
        refresh_token=REFRESH_TOKEN,
    )


def record_of(obj, kind) -> SyncRecord:
    return SyncRecord.objects.get(kind=kind, object_id=obj.pk)


def mark(record: SyncRecord, **fields) -> SyncRecord:
    SyncRecord.objects.filter(pk=record.pk).update(**fields)
    record.refresh_from_db()
    return record


def sent(record, xero_id, **fields):
    return mark(record, status=Status.SENT, xero_id=xero_id, xero_tenant_id=TENANT, next_attempt_at=None, **fields)


def page(client, url: str, status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code)
    return response.content.decode()


def listed(client, query: str) -> set[str]:
    """The labels of the sync records the list shows for `query`."""
    content = page(client, f"/admin/accounting/syncrecord/?{query}")
    rows = re.findall(r'<th class="field-record_label"><a href="[^"]+">(.*?)</a>', content)
    return {html.unescape(re.sub(r"<[^>]+>", "", row)) for row in rows}


# Who may do what -------------------------------------------------------------------------------------


def test_the_support_group_may_view_billing_and_sync_and_only_retry_or_skip():
    Group.objects.filter(name=SUPPORT_GROUP).delete()
    import_module("accounting.migrations.0004_support_group").create_support_group(django_apps, None)
    import_module("accounting.migrations.0006_support_sees_money_back").grant(django_apps, None)
    import_module("accounting.migrations.0009_webhook_refusals").forget_unverified_and_grant(django_apps, None)
    import_module("accounting.migrations.0015_import_credits").grant(django_apps, None)
    group = Group.objects.get(name=SUPPORT_GROUP)
    codenames = set(group.permissions.values_list("codename", flat=True))
    assert {
        "view_invoice",
        "view_payment",
        "view_creditnote",
        "view_refund",
        "view_syncrecord",
        "view_xeroconnection",
        "view_whitelabelsync",
    } <= codenames
    assert codenames - {c for c in codenames if c.startswith("view_")} == {"retry_syncrecord", "skip_syncrecord"}
    assert set(support_permissions()) == set(group.permissions.all()), "the migrations and the code agree"
    Group.objects.filter(name=SUPPORT_GROUP).delete()
    assert set(support_group_ensure().permissions.all()) == set(support_permissions()), "made again if missing"


def test_people_who_are_not_staff_are_sent_to_the_admins_login(client, admin_user):
    assert client.get("/admin/")["Location"].startswith("/admin/login/")
    client.force_login(admin_user)
    assert client.get("/admin/accounting/syncrecord/")["Location"].startswith("/admin/login/")


def test_staff_outside_the_support_group_see_nothing(client):
    log_in_verified(client, UserFactory(username="intern", is_staff=True))
    assert "permission to view or edit anything" in page(client, "/admin/")
    page(client, "/admin/accounting/syncrecord/", status=403)


def test_support_sees_billing_and_sync_but_cannot_add_change_or_delete(support_client, whitelabel, connection):
    invoice = issue_invoice(CustomerFactory(whitelabel=whitelabel), [PLAN])
    index = page(support_client, "/admin/")
    for section in ("Sync records", "Xero sync by whitelabel", "Xero connections", "Invoices", "Payments"):
        assert section in index
    assert "/add/" not in index and "Users" not in index
    content = page(support_client, f"/admin/payments/invoice/{invoice.pk}/change/")
    assert invoice.number in content and 'name="_save"' not in content
    for url in (
        "/admin/payments/invoice/add/",
        "/admin/payments/payment/add/",
        "/admin/payments/membership/add/",
        f"/admin/payments/invoice/{invoice.pk}/delete/",
        f"/admin/accounting/xeroconnection/{connection.pk}/delete/",
        f"/admin/accounting/syncrecord/{record_of(invoice, Kind.INVOICE).pk}/delete/",
        "/admin/auth/user/",
    ):
        assert support_client.get(url).status_code == 403, url
    support_client.post(f"/admin/payments/invoice/{invoice.pk}/change/", {"status": "void", "total": "1.00"})
    invoice.refresh_from_db()
    assert (invoice.status, invoice.total) == (Invoice.Status.ISSUED, Decimal("110.00"))


def test_billing_is_read_only_for_superusers_too(superuser_client, whitelabel, connection):
    customer = CustomerFactory(whitelabel=whitelabel)
    invoice = issue_invoice(customer, [PLAN])
    record_payment(customer, invoice.total, invoice=invoice)
    payment = Payment.objects.get()
    for url in (
        "/admin/payments/invoice/add/",
        "/admin/payments/payment/add/",
        "/admin/payments/receipt/add/",
        "/admin/payments/membership/add/",
        f"/admin/payments/invoice/{invoice.pk}/delete/",
        f"/admin/payments/payment/{payment.pk}/delete/",
        f"/admin/accounting/xeroconnection/{connection.pk}/delete/",
        f"/admin/accounting/syncrecord/{record_of(invoice, Kind.INVOICE).pk}/delete/",
    ):
        assert superuser_client.get(url).status_code == 403, url
    superuser_client.post(f"/admin/payments/invoice/{invoice.pk}/change/", {"status": "void"})
    superuser_client.post(f"/admin/payments/payment/{payment.pk}/change/", {"amount": "1.00"})
    invoice.refresh_from_db()
    payment.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID and payment.amount == Decimal("110.00")
    actions = page(superuser_client, "/admin/accounting/syncrecord/")
    assert "delete_selected" not in actions and "retry_now" in actions and "skip_records" in actions


def test_the_console_is_branded_and_says_what_support_can_do(support_client):
    index = page(support_client, "/admin/")
    assert "Arena support" in index and "What support can do here" in index
    assert "View site" not in index, "the portal's pages are for whitelabel admins"


# Sync records: the list --------------------------------------------------------------------------------


@pytest.fixture
def books(whitelabel, connection):
    """Two customers' records in every state support meets."""
    jane = CustomerFactory(whitelabel=whitelabel, name="Jane Citizen", account_number="C-1001")
    cafe = CustomerFactory(whitelabel=whitelabel, name="Harbour Cafe", account_number="C-1003")
    paid = issue_invoice(jane, [PLAN])
    record_payment(jane, paid.total, invoice=paid)
    refused = issue_invoice(cafe, [PLAN])
    sent(record_of(jane, Kind.CONTACT), "contact-jane")
    sent(record_of(paid, Kind.INVOICE), INVOICE_ID)
    payment = record_of(paid.allocations.get(), Kind.PAYMENT)
    sent(payment, "payment-1")
    mark(
        record_of(refused, Kind.INVOICE),
        status=Status.FAILED,
        attempts=10,
        next_attempt_at=None,
        reason="Xero refused it: Account code '999' is not a valid code for this document.",
    )
    mark(record_of(cafe, Kind.CONTACT), outcome_unknown=True, status=Status.FAILED, reason="Xero did not answer.")
    return {"jane": jane, "cafe": cafe, "paid": paid, "refused": refused, "payment": payment}


def test_filters_by_status_kind_whitelabel_organisation_outcome_and_date(support_client, books, whitelabel):
    paid, refused = books["paid"].number, books["refused"].number
    assert listed(support_client, "status__exact=failed") == {refused, "C-1003"}
    assert listed(support_client, "kind__exact=invoice") == {paid, refused}
    assert listed(support_client, f"whitelabel__id__exact={whitelabel.pk}") >= {paid, refused}
    assert listed(support_client, f"organisation={TENANT}") == {"C-1001", paid, books["payment"].label}
    assert listed(support_client, "organisation=none") == {refused, "C-1003"}
    assert listed(support_client, "outcome_unknown__exact=1") == {"C-1003"}
    SyncRecord.objects.filter(label=refused).update(created_at=timezone.now() - datetime.timedelta(days=40))
    week_ago = urlencode({"created_at__gte": (timezone.now() - datetime.timedelta(days=7)).isoformat()})
    assert refused not in listed(support_client, week_ago) and paid in listed(support_client, week_ago)
    content = page(support_client, "/admin/accounting/syncrecord/")
    assert "Organisation 1" in content, "the organisation filter names organisations"


def test_search_finds_records_by_number_customer_and_xero_id(support_client, books):
    paid, refused = books["paid"], books["refused"]
    receipt = Payment.objects.get().receipt.number
    assert listed(support_client, f"q={refused.number}") == {refused.number}
    assert listed(support_client, "q=Harbour") == {"C-1003", refused.number}
    assert listed(support_client, "q=C-1001") == {"C-1001", paid.number, books["payment"].label}
    assert listed(support_client, f"q={receipt}") == {books["payment"].label}
    assert listed(support_client, f"q={INVOICE_ID[:13]}") == {paid.number}


def test_the_list_shows_a_short_xero_id_linking_into_xero_and_the_reason(support_client, books):
    content = page(support_client, "/admin/accounting/syncrecord/")
    link = f"https://go.xero.com/organisationlogin/default.aspx?shortcode=!a1B2c&amp;redirecturl=/AccountsReceivable/View.aspx?InvoiceID={INVOICE_ID}"
    assert f'href="{link}"' in content and "1cf1a11c… ↗" in content
    assert "Account code &#x27;999&#x27; is not a valid code" in content


def test_the_list_says_in_words_what_a_tick_would_get_wrong(support_client, books):
    """A green tick for "changed in Xero" reads as good news (issue 19, item 6): the column says Yes or No, and
    the status says how many attempts were made and when the next one is."""
    voided = sent(record_of(books["cafe"], Kind.CONTACT), "contact-cafe", changed_in_xero_at=timezone.now(),
                  xero_change="Archived in Xero after Arena sent it.")
    content = page(support_client, "/admin/accounting/syncrecord/")
    assert "icon-yes.svg" not in content and "icon-no.svg" not in content
    row = r'<th class="field-record_label"><a href="[^"]+">(.*?)</a></th>(.*?)</tr>'
    rows = {re.sub(r"<[^>]+>", "", label): cells for label, cells in re.findall(row, content, re.S)}
    assert re.search(r'<td class="field-changed_in_xero"><strong class="bad" title="Archived in Xero after Arena '
                     r'sent it.">Yes</strong></td>', rows[voided.label])
    assert '<td class="field-changed_in_xero">No</td>' in rows[books["paid"].number]
    refused = rows[books["refused"].number]
    assert re.search(r'<td class="field-status_and_attempts">Failed<br><span class="arena-small">10 attempts, '
                     r'none left</span></td>', refused), refused


def test_a_healthy_records_outcome_unknown_says_no_in_words(support_client, books):
    paid = record_of(books["paid"], Kind.INVOICE)
    content = page(support_client, f"/admin/accounting/syncrecord/{paid.pk}/change/")
    assert "icon-no.svg" not in content and "A call was made whose answer never arrived" not in content
    assert "No: the answer to every call made for it arrived." in content
    unclear = record_of(books["cafe"], Kind.CONTACT)
    content = page(support_client, f"/admin/accounting/syncrecord/{unclear.pk}/change/")
    assert "Yes: a call was made whose answer never arrived. Arena looks the record up in Xero" in content


# Sync records: a record's page ------------------------------------------------------------------------


def test_a_record_shows_its_arena_object_xero_link_pretty_payload_and_attempts_newest_first(support_client, books):
    record = books["payment"]
    payload = {"Invoice": {"InvoiceID": INVOICE_ID}, "Amount": "110.00", "Reference": "RCT-000001 INV-000001"}
    mark(record, payload=payload, response={"PaymentID": "payment-1", "Status": "AUTHORISED"})
    started = timezone.now() - datetime.timedelta(minutes=5)
    for minutes, outcome, message in ((0, "unclear", "Xero did not answer in 30 s."), (3, "sent", "")):
        SyncAttempt.objects.create(
            record=record,
            started_at=started + datetime.timedelta(minutes=minutes),
            duration_ms=30000 if outcome == "unclear" else 412,
            operation="payments_create",
            outcome=outcome,
            message=message,
            request=payload,
            response={"PaymentID": "payment-1"} if outcome == "sent" else None,
        )
    content = page(support_client, f"/admin/accounting/syncrecord/{record.pk}/change/")
    payment = Payment.objects.get()
    assert f'href="/admin/payments/payment/{payment.pk}/change/"' in content
    assert (
        "https://go.xero.com/organisationlogin/default.aspx?shortcode=!a1B2c&amp;redirecturl=/Bank/ViewTransaction.aspx?bankTransactionID=payment-1"
        in content
    )
    unfolded = '<details class="arena-json" open><summary>The last payload sent to Xero</summary>'
    indented = "<pre>{\n  &quot;Amount&quot;: &quot;110.00&quot;,\n  &quot;Invoice&quot;: {\n"
    assert unfolded + indented in content, "indented, and folds away"
    assert "History of attempts (newest first)" in content
    assert content.index("412 ms") < content.index("30000 ms"), "newest first"
    assert "Xero did not answer in 30 s." in content


def test_a_failed_record_says_why_in_xeros_words_and_that_attempts_ran_out(support_client, books):
    record = record_of(books["refused"], Kind.INVOICE)
    content = page(support_client, f"/admin/accounting/syncrecord/{record.pk}/change/")
    assert "Account code &#x27;999&#x27; is not a valid code for this document." in content
    assert "None: attempts ran out." in content
    assert f'href="/admin/payments/invoice/{books["refused"].pk}/change/"' in content
    assert 'value="retry_now"' in content and 'value="skip_records"' in content


@pytest.mark.parametrize(
    ("kind", "xero_id", "payload", "response", "path"),
    [
        (Kind.CONTACT, "c-1", None, None, "/Contacts/View/c-1"),
        (Kind.INVOICE, "i-1", None, None, "/AccountsReceivable/View.aspx?InvoiceID=i-1"),
        (Kind.INVOICE_VOID, "i-1", None, None, "/AccountsReceivable/View.aspx?InvoiceID=i-1"),
        (Kind.PAYMENT, "p-1", None, None, "/Bank/ViewTransaction.aspx?bankTransactionID=p-1"),
        (Kind.RECEIPT, "b-1", None, None, "/Bank/ViewTransaction.aspx?bankTransactionID=b-1"),
        (
            Kind.OVERPAYMENT,
            "o-1",
            None,
            {"BankTransactionID": "b-2"},
            "/Bank/ViewTransaction.aspx?bankTransactionID=b-2",
        ),
        (Kind.OVERPAYMENT, "o-1", {"Contact": {"ContactID": "c-2"}}, {"OverpaymentID": "o-1"}, "/Contacts/View/c-2"),
        (
            Kind.CREDIT_ALLOCATION,
            "a-1",
            {"Invoice": {"InvoiceID": "i-2"}},
            None,
            "/AccountsReceivable/View.aspx?InvoiceID=i-2",
        ),
    ],
)
def test_deep_links_open_each_kind_in_its_organisation(kind, xero_id, payload, response, path):
    record = SyncRecord(kind=kind, xero_id=xero_id, xero_tenant_id=TENANT, payload=payload, response=response)
    assert record_xero_link(record, short_code="!a1B2c") == (
        f"https://go.xero.com/organisationlogin/default.aspx?shortcode=!a1B2c&redirecturl={path}"
    )
    assert record_xero_link(record) == f"https://go.xero.com{path}", "without a short code: the open organisation"
    assert record_xero_link(SyncRecord(kind=kind)) == "", "nothing in Xero, no link"


def test_deep_links_go_to_xeros_web_url_setting(settings):
    """XERO_WEB_URL says where Xero's web app is: Xero's own by default, the sandbox's when the app talks to it."""
    record = SyncRecord(kind=Kind.INVOICE, xero_id="i-1", xero_tenant_id=TENANT)
    settings.XERO_WEB_URL = "http://127.0.0.1:8090"
    assert record_xero_link(record, short_code="!a1B2c") == (
        "http://127.0.0.1:8090/organisationlogin/default.aspx?shortcode=!a1B2c"
        "&redirecturl=/AccountsReceivable/View.aspx?InvoiceID=i-1"
    )


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_open_in_xero_opens_the_record_in_the_sandbox_the_app_talks_to(client, xero, sync_worker):
    from tests.books import all_sent, connected

    whitelabel = connected(xero)
    invoice = issue_invoice(CustomerFactory(whitelabel=whitelabel, name="Jane Citizen"), [PLAN])
    all_sent((invoice, Kind.INVOICE))
    log_in_verified(client, support_user())
    content = page(client, f"/admin/accounting/syncrecord/{record_of(invoice, Kind.INVOICE).pk}/change/")
    link = html.unescape(re.search(r'<a href="([^"]+)"[^>]*>Open in Xero', content).group(1))
    assert link.startswith(f"{xero.url}/organisationlogin/default.aspx?shortcode=!a1B2c&redirecturl=")

    import requests

    opened = requests.get(link, timeout=10)
    assert opened.status_code == 200
    assert f"Invoice {invoice.number}" in opened.text and "Jane Citizen" in opened.text


# Sync records: the actions -------------------------------------------------------------------------------


def test_retry_now_makes_failed_records_due_and_leaves_sent_ones(support_client, books):
    refused, paid = record_of(books["refused"], Kind.INVOICE), record_of(books["paid"], Kind.INVOICE)
    response = support_client.post(
        "/admin/accounting/syncrecord/", {"action": "retry_now", "_selected_action": [refused.pk, paid.pk]}, follow=True
    )
    text = response.content.decode()
    assert "1 record will be sent again." in text and "1 record was left as it is" in text
    refused.refresh_from_db()
    paid.refresh_from_db()
    assert (refused.status, refused.attempts, refused.reason) == (Status.PENDING, 0, "")
    assert paid.status == Status.SENT


def test_retry_from_a_records_page_comes_back_to_it(support_client, books):
    refused = record_of(books["refused"], Kind.INVOICE)
    response = support_client.post(
        "/admin/accounting/syncrecord/", {"action": "retry_now", "_selected_action": [refused.pk], "_from_record": "1"}
    )
    assert response["Location"] == f"/admin/accounting/syncrecord/{refused.pk}/change/"


def test_skip_asks_for_a_reason_and_keeps_it_on_the_records_and_those_waiting(support_client, books):
    refused = record_of(books["refused"], Kind.INVOICE)
    cafe = books["cafe"]
    record_payment(cafe, books["refused"].total, invoice=books["refused"])
    waiting = mark(
        record_of(books["refused"].allocations.get(), Kind.PAYMENT), status=Status.WAITING, blocked_by=refused
    )
    selected = {"action": "skip_records", "_selected_action": [refused.pk, record_of(books["paid"], Kind.INVOICE).pk]}
    form = page_post(support_client, selected)
    assert "Reason" in form and "1 of them is already in Xero" in form
    assert "This field is required." in page_post(support_client, {**selected, "apply": "Skip", "reason": "  "})
    refused.refresh_from_db()
    assert refused.status == Status.FAILED, "no reason, nothing skipped"
    response = support_client.post(
        "/admin/accounting/syncrecord/",
        {**selected, "apply": "Skip", "reason": "Entered in Xero by hand by the bookkeeper."},
        follow=True,
    )
    assert "2 records were skipped." in response.content.decode()
    refused.refresh_from_db()
    waiting.refresh_from_db()
    assert refused.status == Status.SKIPPED
    assert refused.reason == "Skipped by support-jo: Entered in Xero by hand by the bookkeeper."
    assert waiting.status == Status.SKIPPED and "Entered in Xero by hand" in waiting.reason
    assert record_of(books["paid"], Kind.INVOICE).status == Status.SENT
    history = page(support_client, f"/admin/accounting/syncrecord/{refused.pk}/history/")
    assert "Skipped: Entered in Xero by hand by the bookkeeper." in history


def page_post(client, data) -> str:
    response = client.post("/admin/accounting/syncrecord/", data)
    assert response.status_code == 200
    return response.content.decode()


def test_staff_who_may_only_view_get_no_actions(client, books):
    viewer = UserFactory(username="viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_syncrecord"))
    log_in_verified(client, viewer)
    content = page(client, "/admin/accounting/syncrecord/")
    assert "retry_now" not in content and "skip_records" not in content
    refused = record_of(books["refused"], Kind.INVOICE)
    client.post("/admin/accounting/syncrecord/", {"action": "retry_now", "_selected_action": [refused.pk]})
    refused.refresh_from_db()
    assert refused.status == Status.FAILED


# Connections and the summary per whitelabel ----------------------------------------------------------


def test_connections_show_status_organisation_who_when_and_scopes_and_filter_needing_reconnect(
    support_client, connection, whitelabel
):
    content = page(support_client, f"/admin/accounting/xeroconnection/{connection.pk}/change/")
    for text in ("Organisation 1", "demo@example.com", "!a1B2c", "<code>accounting.invoices</code>", "Active"):
        assert text in content
    assert "Acme Telecom" in page(support_client, "/admin/accounting/xeroconnection/?needs_reconnect=no")
    assert "Acme Telecom" not in page(support_client, "/admin/accounting/xeroconnection/?needs_reconnect=yes")
    XeroConnection.objects.filter(pk=connection.pk).update(status=XeroConnection.Status.NEEDS_RECONNECT)
    assert "Acme Telecom" in page(support_client, "/admin/accounting/xeroconnection/?needs_reconnect=yes")


def test_the_summary_per_whitelabel_shows_health_counts_oldest_unsent_last_send_and_pause(
    support_client, books, whitelabel
):
    last_sent = timezone.now() - datetime.timedelta(hours=2)
    SyncState.objects.update_or_create(
        whitelabel=whitelabel,
        defaults={
            "last_sent_at": last_sent,
            "paused_until": timezone.now() + datetime.timedelta(hours=20),
            "pause_reason": "Xero's daily limit for this organisation is used up.",
        },
    )
    listing = page(support_client, "/admin/accounting/whitelabelsync/")
    assert "Active: Organisation 1" in listing
    assert (
        f'href="/admin/accounting/syncrecord/?whitelabel__id__exact={whitelabel.pk}&amp;status__exact=failed">2<'
        in listing
    )
    content = page(support_client, f"/admin/accounting/whitelabelsync/{whitelabel.pk}/change/")
    assert "Connected to Organisation 1; paused by Xero&#x27;s limits." in content
    assert "Xero&#x27;s daily limit for this organisation is used up." in content
    sent_link = f"/admin/accounting/syncrecord/?whitelabel__id__exact={whitelabel.pk}&amp;status__exact=sent"
    assert f'<th>Sent</th><td><a href="{sent_link}">3</a>' in content
    oldest = SyncRecord.objects.filter(status__in=["pending", "waiting", "failed"]).order_by("created_at", "id").first()
    assert f'href="/admin/accounting/syncrecord/{oldest.pk}/change/"' in content


def test_a_whitelabel_needing_reconnect_says_so_on_its_summary(support_client, connection, whitelabel):
    XeroConnection.objects.filter(pk=connection.pk).update(
        status=XeroConnection.Status.NEEDS_RECONNECT, status_reason="Xero revoked the connection."
    )
    content = page(support_client, f"/admin/accounting/whitelabelsync/{whitelabel.pk}/change/")
    assert "Needs reconnect: Xero revoked the connection." in content


# Secrets ------------------------------------------------------------------------------------------------


def test_no_token_appears_anywhere_in_the_admin(superuser_client, support_client, books, connection, whitelabel):
    void_invoice(books["refused"])
    urls = ["/admin/"] + [
        reverse(f"admin:{app}_{model}_changelist")
        for app, model in (
            ("accounting", "xeroconnection"),
            ("accounting", "syncrecord"),
            ("accounting", "whitelabelsync"),
            ("accounting", "accountingsettings"),
            ("payments", "paymentgatewaysettings"),
        )
    ]
    urls += [f"/admin/accounting/xeroconnection/{connection.pk}/change/"]
    urls += [f"/admin/accounting/whitelabelsync/{whitelabel.pk}/change/"]
    urls += [f"/admin/accounting/syncrecord/{pk}/change/" for pk in SyncRecord.objects.values_list("pk", flat=True)]
    for client in (support_client, superuser_client):
        for url in urls:
            content = page(client, url)
            for secret in (ACCESS_TOKEN, REFRESH_TOKEN, 'access_token"', 'refresh_token"'):
                assert secret not in content, (url, secret)


def test_membership_admin_lists_roles_without_letting_anyone_grant_one(support_client, whitelabel):
    MembershipFactory(whitelabel=whitelabel, role=Membership.Role.ADMIN, user=UserFactory(username="owner"))
    assert "owner" in page(support_client, "/admin/payments/membership/")
    response = support_client.post(
        "/admin/payments/membership/add/", {"user": 1, "whitelabel": whitelabel.pk, "role": "admin"}
    )
    assert response.status_code == 403


def test_skipping_every_record_the_filter_selects_skips_them_all(support_client, books):
    failed = list(SyncRecord.objects.filter(status=Status.FAILED).values_list("pk", flat=True))
    assert len(failed) == 2
    data = {"action": "skip_records", "select_across": "1", "_selected_action": failed[:1]}
    content = support_client.post("/admin/accounting/syncrecord/?status__exact=failed", data).content.decode()
    assert 'value="Skip 2 records"' in content
    action = html.unescape(re.search(r'<form method="post" action="([^"]+)">', content).group(1))
    assert action == "/admin/accounting/syncrecord/?status__exact=failed", "the form goes back to the same filters"
    support_client.post(action, {**data, "apply": "Skip", "reason": "Not for Xero."})
    assert set(SyncRecord.objects.filter(pk__in=failed).values_list("status", flat=True)) == {Status.SKIPPED}
    assert SyncRecord.objects.filter(status=Status.SENT).count() == 3, "the rest is left alone"
