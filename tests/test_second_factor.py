"""Staff and superusers use the support console only after a code from their authenticator app (the
suite runs without debug, so the second factor is required here): staff without a device set one up
before anything else, a wrong code keeps them out, backup codes and `two_factor_disable` are the ways
back in without the phone, and whitelabel admins' own login is unchanged."""

import base64
import io
import re

import pytest
from django.core.management import call_command
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from arena_xero.support import support_group_ensure

from .factories import UserFactory
from .second_factor import ADMIN_LOGIN, code_of, code_step, device_for, log_in_verified, password_step
from .test_settings import production_secrets, settings_in, start

pytestmark = pytest.mark.django_db
PASSWORD = "pw-for-tests"  # UserFactory's
SET_UP = "/admin/two-factor/set-up/"
SYNC_RECORDS = "/admin/accounting/syncrecord/"


@pytest.fixture
def staff(db):
    """Support staff, as a superuser makes them: staff in the Support group."""
    user = UserFactory(username="jo", is_staff=True)
    user.groups.add(support_group_ensure())
    return user


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def key_on_the_page(page: str) -> bytes:
    """The key the set-up page shows for typing in by hand (base32, in groups of four)."""
    shown = re.search(r'<code class="arena-key" id="secret-key">([A-Z2-7 ]+)</code>', page).group(1)
    return base64.b32decode(shown.replace(" ", ""))


def assert_no_inline_script_or_style(page: str) -> None:
    """The Content-Security-Policy (default-src 'self') would block them."""
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), "an inline script"
    assert "<style" not in page and " style=" not in page, "an inline style"


# Staff without a device ------------------------------------------------------------------------------


def test_staff_without_a_device_are_taken_to_set_up_and_cannot_reach_the_console(client, staff):
    response = client.post(ADMIN_LOGIN, password_step("jo", PASSWORD, next_url=SYNC_RECORDS))
    assert response.status_code == 302
    assert response["Location"] == f"{SET_UP}?next=%2Fadmin%2Faccounting%2Fsyncrecord%2F"
    for url in ("/admin/", SYNC_RECORDS, "/admin/payments/invoice/"):
        refused = client.get(url)
        assert refused.status_code == 302 and refused["Location"].startswith(f"{ADMIN_LOGIN}?next="), url
        assert client.get(refused["Location"])["Location"].startswith(f"{SET_UP}?next="), "login leads to set-up"


def test_a_session_with_a_password_only_is_refused_too(client, staff):
    client.force_login(staff)  # e.g. logged in at the portal's login
    assert client.get(SYNC_RECORDS)["Location"].startswith(ADMIN_LOGIN)
    assert client.get("/admin/")["Location"].startswith(ADMIN_LOGIN)


def test_the_set_up_page_shows_a_qr_code_and_the_key_in_the_admins_frame(client, staff):
    client.force_login(staff)
    response = client.get(f"{SET_UP}?next=/admin/")
    assert response.status_code == 200
    page = text(response)
    assert "<h1>Set up two-factor authentication</h1>" in page and "Arena support" in page
    assert 'href="/static/admin/css/base.css"' in page, "styled as the admin"
    qr_code = re.search(r'<img src="([^"]+)" alt="QR code that adds Arena support \(jo\)', page).group(1)
    assert len(key_on_the_page(page)) == 20
    assert re.search(r'<label for="id_generator-token" class="required">Code:</label>', page)
    assert_no_inline_script_or_style(page)
    assert "default-src 'self'" in response["Content-Security-Policy"]

    image = client.get(qr_code)
    assert image.status_code == 200 and image["Content-Type"].startswith("image/svg+xml")
    assert image.content.lstrip().startswith(b"<?xml") and b"<svg" in image.content


def test_setting_up_with_the_code_of_the_key_shown_gets_into_the_console(client, staff):
    client.post(ADMIN_LOGIN, password_step("jo", PASSWORD, next_url=SYNC_RECORDS))
    set_up = f"{SET_UP}?next=/admin/accounting/syncrecord/"
    key = key_on_the_page(text(client.get(set_up)))
    code = f"{TOTP(key).token():06d}"
    response = client.post(set_up, {"staff_setup_view-current_step": "generator", "generator-token": code})
    assert response.status_code == 302 and response["Location"] == SYNC_RECORDS
    device = TOTPDevice.objects.get(user=staff)
    assert device.confirmed and device.bin_key == key
    page = text(client.get(SYNC_RECORDS))
    assert "Two-factor authentication is set up" in page and "Select sync record to view" in page


def test_a_wrong_code_at_set_up_makes_no_device(client, staff):
    client.force_login(staff)
    key = key_on_the_page(text(client.get(SET_UP)))
    wrong = f"{(TOTP(key).token() + 1) % 1_000_000:06d}"
    response = client.post(SET_UP, {"staff_setup_view-current_step": "generator", "generator-token": wrong})
    assert response.status_code == 200
    assert "That code is not right, or it has expired" in text(response)
    assert key_on_the_page(text(response)) == key, "the same key to try again with"
    assert not TOTPDevice.objects.exists()
    assert client.get("/admin/")["Location"].startswith(ADMIN_LOGIN)


def test_a_password_alone_cannot_set_up_a_second_device(client, staff):
    """Else whoever has the password would add their own app and verify the session with it."""
    device_for(staff)
    client.force_login(staff)
    assert client.get(SET_UP)["Location"] == "/admin/two-factor/"
    response = client.post(SET_UP, {"staff_setup_view-current_step": "generator", "generator-token": "123456"})
    assert response.status_code == 302
    assert TOTPDevice.objects.filter(user=staff).count() == 1
    assert client.get("/admin/")["Location"].startswith(ADMIN_LOGIN)


# Staff with a device ---------------------------------------------------------------------------------


def test_staff_log_in_with_the_password_then_the_code(client, staff):
    device = device_for(staff)
    first = client.post(ADMIN_LOGIN, password_step("jo", PASSWORD, next_url=SYNC_RECORDS))
    assert first.status_code == 200
    page = text(first)
    assert re.search(r'<label for="id_token-otp_token" class="required">Code:</label>', page)
    assert 'autocomplete="one-time-code"' in page and 'inputmode="numeric"' in page
    assert_no_inline_script_or_style(page)
    assert "_auth_user_id" not in client.session, "not logged in before the code"

    second = client.post(ADMIN_LOGIN, code_step(code_of(device), next_url=SYNC_RECORDS))
    assert second.status_code == 302 and second["Location"] == SYNC_RECORDS
    assert client.get(SYNC_RECORDS).status_code == 200
    index = text(client.get("/admin/"))
    assert '<a href="/admin/two-factor/">Two-factor authentication</a>' in index


def test_a_wrong_code_is_refused_with_a_clear_error(client, staff):
    device = device_for(staff)
    client.post(ADMIN_LOGIN, password_step("jo", PASSWORD))
    wrong = f"{(int(code_of(device)) + 1) % 1_000_000:06d}"
    response = client.post(ADMIN_LOGIN, code_step(wrong))
    assert response.status_code == 200
    assert '<p class="errornote" role="alert">That code is not right, or it has expired' in text(response)
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/")["Location"].startswith(ADMIN_LOGIN)
    device.refresh_from_db()
    assert device.throttling_failure_count == 1, "django-otp slows down guessing"


def test_a_backup_code_gets_in_once(client, staff):
    device_for(staff)
    backup = StaticDevice.objects.create(user=staff, name="backup")
    backup.token_set.create(token="k3y5c0de")
    client.post(ADMIN_LOGIN, password_step("jo", PASSWORD))
    step = {"staff_login_view-current_step": "token", "wizard_goto_step": "backup"}
    assert "Backup code:" in text(client.post(ADMIN_LOGIN, step))
    used = client.post(ADMIN_LOGIN, {"staff_login_view-current_step": "backup", "backup-otp_token": "k3y5c0de"})
    assert used["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    assert not backup.token_set.exists(), "each backup code works once"


def test_staff_make_backup_codes_once_verified(client, staff):
    log_in_verified(client, staff)
    assert "You have 0 backup codes left" in text(client.get("/admin/two-factor/"))
    made = client.post("/admin/two-factor/backup-codes/")
    assert made["Location"] == "/admin/two-factor/backup-codes/"
    page = text(client.get(made["Location"]))
    codes = re.findall(r"<li><code>([a-z0-9]+)</code></li>", page)
    assert len(codes) == 10 and set(codes) == set(StaticDevice.objects.get(user=staff).token_set.values_list(
        "token", flat=True
    ))
    assert "You have 10 backup codes left" in text(client.get("/admin/two-factor/"))


def test_backup_codes_are_not_shown_to_a_session_with_a_password_only(client, staff):
    device_for(staff)
    client.force_login(staff)
    assert client.get("/admin/two-factor/backup-codes/")["Location"].startswith(ADMIN_LOGIN)
    assert not StaticDevice.objects.exists()


# Recovery, portal users, and the switch --------------------------------------------------------------


def test_ops_remove_a_lost_device_and_its_owner_sets_up_a_new_one(client, staff):
    device_for(staff)
    StaticDevice.objects.create(user=staff, name="backup").token_set.create(token="k3y5c0de")
    call_command("two_factor_disable", "jo", stdout=io.StringIO())
    assert not TOTPDevice.objects.filter(user=staff).exists() and not StaticDevice.objects.filter(user=staff).exists()
    response = client.post(ADMIN_LOGIN, password_step("jo", PASSWORD))
    assert response["Location"].startswith(SET_UP)


def test_whitelabel_admins_log_in_at_the_portal_with_their_password_only(client, admin_user, whitelabel):
    response = client.post("/accounts/login/", {"username": "acme-admin", "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == f"/account/{whitelabel.slug}/settings/components/accounting-system/"
    assert "Accounting System Settings" in response.content.decode()
    assert not TOTPDevice.objects.exists()
    refused = client.post(ADMIN_LOGIN, password_step("acme-admin", PASSWORD))
    assert refused.status_code == 200, "the console is for staff only, as before"
    assert "for a staff account" in text(refused)


def test_with_the_requirement_off_staff_get_in_with_a_password_and_may_set_up_a_device(client, staff, settings):
    settings.STAFF_REQUIRE_2FA = False
    response = client.post(ADMIN_LOGIN, password_step("jo", PASSWORD, next_url=SYNC_RECORDS))
    assert response["Location"] == SYNC_RECORDS
    assert client.get(SYNC_RECORDS).status_code == 200
    profile = text(client.get("/admin/two-factor/"))
    assert "Off." in profile and "optional here" in profile
    assert client.get(SET_UP).status_code == 200

    device = device_for(staff)
    client.logout()
    assert client.post(ADMIN_LOGIN, password_step("jo", PASSWORD)).status_code == 200, "then asked for the code"
    assert client.post(ADMIN_LOGIN, code_step(code_of(device)))["Location"] == "/admin/"


def test_the_requirement_is_on_without_debug_and_off_with_it(tmp_path):
    secrets = production_secrets()
    assert settings_in(secrets, "STAFF_REQUIRE_2FA", tmp_path=tmp_path) == {"STAFF_REQUIRE_2FA": True}
    assert settings_in({**secrets, "DJANGO_DEBUG": "1"}, "STAFF_REQUIRE_2FA", tmp_path=tmp_path) == {
        "STAFF_REQUIRE_2FA": False
    }
    forced = {**secrets, "DJANGO_DEBUG": "1", "STAFF_REQUIRE_2FA": "1"}
    assert settings_in(forced, "STAFF_REQUIRE_2FA", tmp_path=tmp_path) == {"STAFF_REQUIRE_2FA": True}


def test_check_deploy_warns_when_the_requirement_is_off_without_debug(tmp_path):
    environment = {**production_secrets(), "DJANGO_ALLOWED_HOSTS": "arena.example.com", "STAFF_REQUIRE_2FA": "0"}
    result = start(environment, "check", "--deploy", tmp_path=tmp_path)
    assert "(arena_xero.W001) STAFF_REQUIRE_2FA is off" in result.stderr
