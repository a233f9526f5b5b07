"""The flow in Chromium, as the README's tour tells a new admin to do it: log in, pick Xero, allow
access for Organisation 1 on the sandbox's consent page, choose the bank account, send the demo
billing and watch it arrive; then the other ways it can go. Every step saves a screenshot to
var/e2e-screenshots/ (see conftest.py)."""

import base64
import datetime
import re
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Page, expect

from accounting.models import SyncRecord, XeroConnection
from payments.models import Customer
from payments.services import LineInput, issue_invoice, record_payment
from tests.second_factor import code_of, device_for
from tests.xero import ORG1, ORG2, book, tenant_ids, wait_until

from . import tour
from .conftest import Screenshots
from .layout import HEIGHT, WIDTHS, assert_fits, assert_tables_fit, at_width

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("browser")]

ARRIVE = 60_000  # ms: records reach Xero through the real worker
BANK = "090 – Business Bank Account"
PLAN = LineInput("Mobile plan, monthly", Decimal("1"), Decimal("49.00"), Decimal("10"))  # AUD, GST 10%


def log_in(page: Page, url: str, username: str = "admin", *, shot=None) -> None:
    page.goto(url)
    expect(page).to_have_title("Log in · Arena")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill("arena-demo")
    if shot:
        shot("login")
    page.get_by_role("button", name="Log in").click()


def log_in_to_the_console(page: Page, arena, username: str = "support") -> None:
    """The admin's login, first step: user name and password (then comes the code, or the set-up)."""
    page.goto(arena.url + "/admin/")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill("arena-demo")
    page.get_by_role("button", name="Log in").click()


def choose_xero(page: Page, *, revenue_code: str = "200") -> None:
    page.get_by_role("combobox", name="Accounting System").select_option("Xero")
    page.get_by_label("Post-paid").check()
    page.get_by_label("Revenue code").fill(revenue_code)
    page.get_by_role("button", name="Save", exact=True).click()


def consent(page: Page, *, tick=(ORG1,), action: str = "Allow access") -> None:
    expect(page.get_by_role("heading", name="Arena Billing wants access to:")).to_be_visible()
    for name in (ORG1, ORG2):
        page.get_by_role("checkbox", name=name).set_checked(name in tick)
    page.get_by_role("button", name=action).click()


def message(page: Page):
    """The page's one message (there must be exactly one)."""
    messages = page.locator(".messages .message")
    expect(messages).to_have_count(1)
    return messages


def connect(page: Page, arena, *, bank: bool = True) -> None:
    """Log in, save Xero settings, allow Organisation 1, and (`bank`) choose the bank account."""
    log_in(page, arena.url)
    choose_xero(page)
    consent(page)
    expect(message(page)).to_contain_text(f"Connected to Xero organisation {ORG1}.")
    if bank:
        page.get_by_label("Bank account").select_option(label=BANK)
        page.get_by_role("button", name="Save", exact=True).click()
        expect(message(page)).to_have_text("Accounting system settings saved.")


def sync_count(page: Page, label: str):
    return page.locator("#sync-card .sync-counts li", has_text=label).locator("strong")


def test_tour_connect_organisation_1_send_the_demo_billing_and_support_sees_it(page: Page, arena, screenshots):
    shot = screenshots("tour")
    log_in(page, arena.url, shot=shot)
    expect(page).to_have_title("Accounting System Settings · Demo Telecom · Arena")
    expect(page.get_by_role("heading", level=1)).to_have_text("Accounting System Settings")
    breadcrumb = page.get_by_role("navigation", name="Breadcrumb").get_by_role("link")
    expect(breadcrumb).to_have_text(["Your Account", "Settings", "Components", "Accounting System Settings"])
    shot("settings")

    # Step 2 of the tour: Xero, Post-paid, 200, Save: the sandbox's consent page, Organisation 1 pre-ticked.
    choose_xero(page)
    expect(page).to_have_url(re.compile(re.escape(arena.sandbox.url) + "/identity/connect/authorize"))
    organisation_1, organisation_2 = (page.get_by_role("checkbox", name=name) for name in (ORG1, ORG2))
    expect(organisation_1).to_be_checked()
    expect(organisation_2).not_to_be_checked()
    expect(page.get_by_role("heading", name=tour.CONSENT_HEADING)).to_be_visible()
    expect(page.locator("label", has=organisation_1)).to_contain_text(tour.ORGANISATION_1)
    expect(page.locator("label", has=organisation_2)).to_contain_text(tour.ORGANISATION_2)
    shot("consent")
    page.get_by_role("button", name="Allow access").click()

    # Step 3: back connected, one message saying what is left to do.
    expect(page).to_have_url(arena.settings_url)
    unsent = SyncRecord.objects.filter(whitelabel=arena.whitelabel, status=SyncRecord.Status.SKIPPED).count()
    assert unsent == 9, "the demo billing happened before connecting (the README's tour says 9)"
    expect(message(page)).to_have_text(tour.CONNECTED)
    expect(page.locator(".facts")).to_contain_text(re.compile(r"admin \(Xero user demo@example.com\), .* AE[DS]T"))
    bank = page.get_by_label("Bank account")
    expect(bank).to_be_focused()  # what the message asks for, in view
    expect(bank).to_be_in_viewport()
    shot("connected", primary=[bank])
    page.get_by_label("Bank account").select_option(label=BANK)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(message(page)).to_have_text(tour.SAVED)

    # Step 4: what was billed before connecting goes when the admin asks, and arrives on the open page.
    page.evaluate("window.__sameDocument = true")
    page.get_by_role("button", name=tour.SEND).click()
    expect(message(page)).to_have_text(tour.SENDING)
    page.evaluate("window.__sameDocument = true")
    expect(sync_count(page, "Sent")).to_have_text("9", timeout=ARRIVE)
    expect(page.locator("#sync-card")).not_to_contain_text("Queued")
    expect(page.locator("#sync-card")).to_contain_text(
        re.compile(r"Last sent to Xero \d+ \w+ \d{4}, \d\d:\d\d AE[DS]T")
    )
    assert page.evaluate("window.__sameDocument") is True, "the card updated without reloading the page"
    expect(page.locator("#sync-card")).to_have_attribute("aria-live", "polite")
    shot("sync-card", page.locator("section", has=page.locator("#sync-card")))

    # What is billed from now on goes by itself.
    jane = Customer.objects.get(whitelabel=arena.whitelabel, account_number="C-1001")
    invoice = issue_invoice(jane, [PLAN])
    record_payment(jane, invoice.total, invoice=invoice, reference="E2E-TXN-1")
    total = SyncRecord.objects.filter(whitelabel=arena.whitelabel).count()
    page.reload()
    expect(sync_count(page, "Sent")).to_have_text(str(total), timeout=ARRIVE)
    numbers = sorted(i["InvoiceNumber"] for i in book(arena.sandbox, tenant_name=ORG1).invoices())
    assert numbers == ["INV-000001", "INV-000002", "INV-000003", invoice.number]
    assert not book(arena.sandbox, tenant_name=ORG2).invoices()
    page.goto(arena.sandbox.url + "/")
    org1 = page.locator(f"#org-{tenant_ids(arena.sandbox, ORG1)[0]}")
    for number in numbers:
        expect(org1.get_by_role("cell", name=number, exact=True).first).to_be_visible()
    shot("sandbox-page")

    # Log out; support staff see every record in the admin (step 5).
    page.goto(arena.settings_url)
    page.get_by_role("button", name="Log out").click()
    expect(message(page)).to_have_text(tour.LOGGED_OUT)
    shot("logged-out")
    # The tests run without debug, as production: support has an authenticator app and types its code.
    app = device_for(get_user_model().objects.get(username="support"))
    log_in_to_the_console(page, arena)
    page.get_by_label("Code").fill(code_of(app))
    page.get_by_role("button", name="Verify").click()
    page.locator("#accounting-syncrecord").get_by_role("link", name="Sync records").click()
    expect(page.locator("#result_list")).to_contain_text("INV-000001")
    shot("admin-sync-records")
    page.locator("#result_list").get_by_role("link", name="INV-000001").first.click()
    for text in ("InvoiceNumber", "INV-000001", "Sent"):
        expect(page.locator("#content")).to_contain_text(text)
    open_in_xero = page.get_by_role("link", name="Open in Xero ↗")
    shot("admin-record", primary=[open_in_xero])

    # Open in Xero: under make run (and here) Xero is the sandbox, which opens the record in its organisation.
    with page.context.expect_page() as opened:
        open_in_xero.click()
    in_xero = opened.value
    expect(in_xero).to_have_url(re.compile(re.escape(arena.sandbox.url) + r"/AccountsReceivable/View\.aspx"))
    expect(in_xero.get_by_role("heading", level=1)).to_have_text("Invoice INV-000001")
    expect(in_xero.locator("dl.facts")).to_contain_text(ORG1)
    shot("open-in-xero", page=in_xero)


@pytest.mark.parametrize("width", WIDTHS)
def test_tour_step_6_a_void_in_xero_shows_on_the_open_page_and_in_the_support_console(
    page: Page, arena, screenshots, browser, width
):
    """The README's step 6: an accountant voids an unpaid invoice on the sandbox's page; the settings page
    that is open (and idle) says so within seconds, without a reload, and support find it in the console."""
    shot = screenshots("tour-step6" if width == 1024 else f"tour-step6-{width}")
    at_width(page, width)
    connect(page, arena)
    page.get_by_role("button", name="Send 9 unsent records to Xero").click()
    expect(sync_count(page, "Sent")).to_have_text("9", timeout=ARRIVE)
    expect(page.locator("#sync-card [data-in-progress]")).to_have_attribute("data-in-progress", "0")
    page.evaluate("window.__sameDocument = true")

    accountant = browser.new_context(viewport={"width": width, "height": HEIGHT})  # someone else, in "Xero"
    xero = accountant.new_page()
    xero.goto(arena.sandbox.url + "/")
    unpaid = [i["InvoiceNumber"] for i in book(arena.sandbox, tenant_name=ORG1).invoices() if i["AmountPaid"] == 0]
    assert unpaid == [tour.UNPAID], "the README's step 6 names the demo's unpaid invoice"
    void = xero.get_by_role("button", name=f"Void invoice {tour.UNPAID}")
    Screenshots(xero, shot.walk + "-sandbox")("void", primary=[void])
    void.click()
    expect(xero.get_by_role("status")).to_have_text(tour.VOIDED)
    accountant.close()

    expect(page.locator("#sync-card .drift")).to_have_text(tour.CHANGED_IN_XERO, timeout=ARRIVE)
    assert page.evaluate("window.__sameDocument") is True, "the open page, never reloaded"
    shot("changed-in-xero", page.locator("section", has=page.locator("#sync-card")))

    # Support see every record, every column in view (a failed one too, with Xero's long reason), and this one
    # under the Changed in Xero filter, the change said in words.
    SyncRecord.objects.filter(kind=SyncRecord.Kind.OVERPAYMENT).update(
        status=SyncRecord.Status.FAILED,
        attempts=3,
        next_attempt_at=timezone.now() + datetime.timedelta(minutes=40),
        reason="Xero refused it: The contact with the specified contact details has been archived. The contact "
        "must be un-archived before creating new invoices or credit notes.",
    )
    support = browser.new_context(viewport={"width": width, "height": HEIGHT})
    console = support.new_page()
    admin_shot = Screenshots(console, shot.walk + "-admin")
    app = device_for(get_user_model().objects.get(username="support"))
    log_in_to_the_console(console, arena)
    console.get_by_label("Code").fill(code_of(app))
    console.get_by_role("button", name="Verify").click()
    console.goto(arena.url + "/admin/accounting/syncrecord/")
    rows = console.locator("#result_list tbody tr")
    expect(rows).to_have_count(9)
    assert_tables_fit(console, "#result_list")
    admin_shot("sync-records", primary=[rows.locator("th.field-record_label a"), rows.locator("td.field-reason_start")])
    console.locator("#changelist-filter").get_by_role("link", name="Changed in Xero", exact=True).click()
    expect(rows).to_have_count(1)
    expect(rows.locator("th.field-record_label")).to_have_text(tour.UNPAID)
    expect(rows.locator("td.field-changed_in_xero")).to_have_text("Yes")
    columns = [rows.locator(f"td.field-{name}") for name in ("status_and_attempts", "in_xero", "changed_in_xero")]
    admin_shot("changed-in-xero", primary=[rows.locator("th.field-record_label a"), *columns])
    for other in ("whitelabelsync", "xeroconnection", "accountingsettings"):
        console.goto(f"{arena.url}/admin/accounting/{other}/")
        expect(rows).to_have_count(1)
        assert_tables_fit(console, "#result_list")
        assert_fits(console, rows.locator("th a"))
    support.close()


def test_login_page_favicon_and_error_pages(page: Page, arena, screenshots):
    shot = screenshots("site")
    page.goto(arena.url + "/")
    expect(page.get_by_role("heading", name="Log in to Arena")).to_be_visible()
    shot("login")
    assert page.request.get(arena.url + "/favicon.ico").ok
    log_in(page, arena.url)
    response = page.goto(arena.url + "/no/such/page/")
    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    shot("not-found")


def test_cancel_at_xero_keeps_the_settings_and_says_nothing_is_sent(page: Page, arena, screenshots):
    shot = screenshots("cancel")
    log_in(page, arena.url)
    choose_xero(page)
    consent(page, action="Cancel")
    expect(page).to_have_url(arena.settings_url)
    expect(message(page)).to_have_text(
        "Your settings are saved. You cancelled the connection to Xero, so nothing is sent to Xero until you connect."
    )
    expect(page.get_by_role("button", name="Connect to Xero")).to_be_visible()
    expect(page.get_by_label("Revenue code")).to_have_value("200")
    shot("cancelled")
    assert not XeroConnection.objects.exists()


def test_wrong_revenue_code_is_marked_and_focused_and_fixed_from_the_keyboard(page: Page, arena, screenshots):
    shot = screenshots("revenue-code")
    connect(page, arena, bank=False)
    controls = page.locator("form.settings").locator("input:not([type=hidden]), select")
    unlabelled = controls.evaluate_all(
        "els => els.filter(el => !el.labels || el.labels.length === 0).map(el => el.name)"
    )
    assert unlabelled == [], "every control of the form has a label"

    revenue_code = page.get_by_label("Revenue code")
    revenue_code.fill("400")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(message(page)).to_have_text("Nothing was saved: please correct the fields marked below.")
    expect(message(page)).to_have_attribute("role", "alert")
    expect(revenue_code).to_be_focused()
    expect(revenue_code).to_have_attribute("aria-invalid", "true")
    error = page.locator("#id_accounting-revenue_code_error")
    expect(error).to_have_text(
        "Account 400 – Advertising is not a revenue account. Use one of: 200, 201, 202, 203, 260, 270."
    )
    expect(revenue_code).to_have_accessible_description(re.compile("is not a revenue account"))
    shot("wrong-code")

    page.keyboard.press("Control+A")
    page.keyboard.type("200")
    page.keyboard.press("Enter")  # the form's first button is Save
    expect(message(page)).to_have_text("Accounting system settings saved.")
    expect(page.get_by_label("Revenue code")).to_have_value("200")
    shot("fixed")


@pytest.mark.parametrize("width", WIDTHS)
def test_a_revenue_code_saved_while_disconnected_is_marked_when_connecting(page: Page, arena, screenshots, width):
    """Issue 19, item 1: nothing could check 400 when it was saved; connecting does, and the page says so
    where the code is, and offers nothing to send until it is corrected."""
    shot = screenshots(f"revenue-code-at-connect-{width}")
    at_width(page, width)
    log_in(page, arena.url)
    choose_xero(page, revenue_code="400")  # not connected: saved as it is, then on to Xero's consent page
    consent(page)
    problem = "Account 400 – Advertising is not a revenue account. Use one of: 200, 201, 202, 203, 260, 270."
    expect(message(page)).to_contain_text(f"Revenue code 400 can't be used with {ORG1}: {problem}")
    revenue_code = page.get_by_label("Revenue code")
    expect(revenue_code).to_be_focused()
    expect(revenue_code).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#id_accounting-revenue_code_error")).to_have_text(problem)
    expect(page.get_by_role("button", name=re.compile("unsent record"))).to_have_count(0)
    expect(page.locator("#sync-card")).to_contain_text("Correct the revenue code below, and Save, before sending")
    shot("marked", primary=[revenue_code, page.get_by_role("button", name="Save", exact=True)])

    revenue_code.fill("200")
    page.get_by_label("Bank account").select_option(label=BANK)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(message(page)).to_have_text("Accounting system settings saved.")
    send = page.get_by_role("button", name="Send 9 unsent records to Xero")
    shot("corrected", primary=[send])


def test_several_organisations_ticked_then_the_picker(page: Page, arena, screenshots):
    shot = screenshots("picker")
    log_in(page, arena.url)
    choose_xero(page)
    consent(page, tick=(ORG1, ORG2))
    expect(page.get_by_role("heading", level=1)).to_have_text("Which Xero organisation?")
    expect(page.get_by_role("radio", name=ORG1)).to_be_checked()
    expect(page.get_by_role("radio", name=ORG2)).to_be_visible()
    shot("picker")
    page.get_by_role("button", name="Connect").click()
    expect(message(page)).to_contain_text(f"Connected to Xero organisation {ORG1}.")
    shot("connected")
    assert {c["tenantName"] for c in arena.sandbox.state()["connections"]} == {ORG1}, "Arena let go of the other"


def test_sync_card_refreshes_itself_while_records_wait(page: Page, arena, screenshots):
    shot = screenshots("live-card")
    connect(page, arena)
    # A record the worker has not been asked about (no task queued): the card shows it waiting and polls.
    waiting = SyncRecord.objects.create(
        whitelabel=arena.whitelabel, kind=SyncRecord.Kind.CONTACT, object_id=999_999, label="C-9999"
    )
    page.reload()
    page.evaluate("window.__sameDocument = true")
    expect(sync_count(page, "Queued")).to_have_text("1")
    expect(page.locator("#sync-card")).to_contain_text("1 record on its way; this card updates itself.")
    shot("waiting")
    SyncRecord.objects.filter(pk=waiting.pk).update(status=SyncRecord.Status.SKIPPED, reason="Test")
    skipped = SyncRecord.objects.filter(whitelabel=arena.whitelabel, status=SyncRecord.Status.SKIPPED).count()
    expect(sync_count(page, "Not sent")).to_have_text(str(skipped))
    expect(page.locator("#sync-card")).not_to_contain_text("Queued")
    assert page.evaluate("window.__sameDocument") is True
    shot("updated")


def test_disconnect_asks_first_and_reconnecting_offers_what_was_billed_meanwhile(page: Page, arena, screenshots):
    shot = screenshots("disconnect")
    connect(page, arena)
    page.get_by_role("button", name="Send 9 unsent records to Xero").click()
    expect(sync_count(page, "Sent")).to_have_text("9", timeout=ARRIVE)
    page.get_by_role("link", name="Disconnect…").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Disconnect from Xero?")
    expect(page.locator("main")).to_contain_text("What you bill from now on is not sent to Xero.")
    # The card lines up with the breadcrumb; its two buttons side by side, the same height.
    disconnect = page.get_by_role("button", name=f"Disconnect from {ORG1}")
    keep = page.get_by_role("link", name="Keep connected")
    crumb, card = page.get_by_role("navigation", name="Breadcrumb"), page.locator("section.card")
    assert card.bounding_box()["x"] == crumb.bounding_box()["x"]
    assert disconnect.bounding_box()["y"] == keep.bounding_box()["y"]
    assert disconnect.bounding_box()["height"] == keep.bounding_box()["height"]
    shot("confirm", primary=[disconnect, keep])
    keep.click()
    assert XeroConnection.objects.get(whitelabel=arena.whitelabel).is_active
    page.get_by_role("link", name="Disconnect…").click()
    page.get_by_role("button", name=f"Disconnect from {ORG1}").click()
    expect(message(page)).to_contain_text(f"Disconnected from Xero organisation {ORG1}.")
    expect(page.get_by_role("button", name="Connect to Xero")).to_be_visible()
    shot("disconnected")

    # Both organisations ticked: the picker starts on the one the records went to and asks nothing for it;
    # the other comes with the warning and the box to tick while it is picked.
    issue_invoice(Customer.objects.get(whitelabel=arena.whitelabel, account_number="C-1002"), [PLAN])
    page.get_by_role("button", name="Connect to Xero").click()
    consent(page, tick=(ORG1, ORG2))
    expect(page.get_by_role("radio", name=ORG1)).to_be_checked()
    warning, confirm = page.get_by_role("note"), page.get_by_role("checkbox", name=f"Yes, send everything to {ORG2}")
    expect(warning).to_be_hidden()
    expect(confirm).to_be_hidden()
    page.get_by_role("radio", name=ORG2).check()
    expect(warning).to_contain_text(f"Arena has already sent 9 records of Demo Telecom to {ORG1}.")
    expect(confirm).to_be_visible()
    shot("switch-asks-first", primary=[confirm, page.get_by_role("button", name="Connect")])
    page.get_by_role("radio", name=ORG1).check()
    expect(warning).to_be_hidden()
    page.get_by_role("button", name="Connect").click()
    skipped = SyncRecord.objects.filter(whitelabel=arena.whitelabel, status=SyncRecord.Status.SKIPPED).count()
    expect(message(page)).to_have_text(
        f"Connected to Xero organisation {ORG1}. {skipped} record billed while Arena was not connected is not "
        "in Xero yet: send it with the button below."
    )
    expect(page.get_by_role("button", name=f"Send {skipped} unsent record to Xero")).to_be_visible()
    shot("reconnected")


def test_revoked_at_xero_shows_the_reconnect_banner_and_reconnecting_sends_what_waited(page: Page, arena, screenshots):
    shot = screenshots("revoked")
    connect(page, arena)
    connection = XeroConnection.objects.get(whitelabel=arena.whitelabel)
    arena.sandbox.revoke_connection(connection.connection_id)
    invoice = issue_invoice(Customer.objects.get(whitelabel=arena.whitelabel, account_number="C-1003"), [PLAN])
    wait_until(
        lambda: XeroConnection.objects.get(pk=connection.pk).status == XeroConnection.Status.NEEDS_RECONNECT,
        timeout=60,
        message="the worker to find the connection revoked",
    )
    page.reload()
    banner = page.get_by_role("alert").filter(has_text="Xero needs to be reconnected.")
    expect(banner).to_be_visible()
    expect(page.locator("#sync-card")).to_contain_text("paused until you reconnect")
    shot("banner")
    banner.get_by_role("button", name="Reconnect").click()
    consent(page)
    expect(message(page)).to_contain_text(f"Connected to Xero organisation {ORG1}.")
    expect(page.get_by_role("alert").filter(has_text="needs to be reconnected")).to_have_count(0)
    record = SyncRecord.objects.get(kind=SyncRecord.Kind.INVOICE, object_id=invoice.pk)
    wait_until(
        lambda: SyncRecord.objects.get(pk=record.pk).status == SyncRecord.Status.SENT,
        timeout=60,
        message=f"{invoice.number}, which waited, to be sent after reconnecting",
    )
    shot("reconnected")


def test_support_without_an_app_sets_one_up_then_needs_its_code(page: Page, arena, screenshots):
    shot = screenshots("staff-2fa")
    log_in_to_the_console(page, arena)
    expect(page.get_by_role("heading", level=1)).to_have_text("Set up two-factor authentication")
    qr_code = page.get_by_role("img", name=re.compile("QR code that adds Arena support"))
    expect(qr_code).to_be_visible()
    # decode() waits for the image (fetched after the page) and fails if it can't be loaded, e.g. under the CSP.
    assert qr_code.evaluate("img => img.decode().then(() => img.naturalWidth > 0)"), "the QR code loads under the CSP"
    expect(page.get_by_label("Code")).to_have_accessible_description(re.compile("enter the code the app shows"))
    shot("set-up")

    # The key shown for typing in by hand, as an authenticator app would take it.
    key = base64.b32decode(page.locator("#secret-key").inner_text().replace(" ", ""))
    page.get_by_label("Code").fill(f"{TOTP(key).token():06d}")
    page.get_by_role("button", name="Confirm").click()
    expect(page).to_have_url(arena.url + "/admin/")
    expect(page.locator(".messagelist")).to_contain_text("Two-factor authentication is set up")
    assert TOTPDevice.objects.get(user__username="support").bin_key == key
    shot("in-the-console")

    page.get_by_role("link", name="Two-factor authentication").click()
    page.get_by_role("link", name="Make backup codes").click()
    page.get_by_role("button", name="Make backup codes").click()
    expect(page.get_by_role("list", name="Backup codes").get_by_role("listitem")).to_have_count(10)
    shot("backup-codes")

    page.get_by_role("button", name="Log out").click()
    log_in_to_the_console(page, arena)
    expect(page.get_by_text("enter the 6-digit code it shows for Arena support")).to_be_visible()
    page.get_by_label("Code").fill(f"{(TOTP(key).token() + 1) % 1_000_000:06d}")  # not the app's
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("alert")).to_have_text(re.compile("That code is not right, or it has expired"))
    expect(page.get_by_role("button", name="Use a backup code")).to_be_visible()
    shot("wrong-code")
