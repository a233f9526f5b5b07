"""Both logins (the portal's and the admin's) lock a user name out after LOGIN_FAILURE_LIMIT failed
attempts from one address, say so clearly, and open again when support resets it."""

import io

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command

from .factories import UserFactory
from .second_factor import password_step

PASSWORD = "the-right-password-42"
LOGINS = {"portal": "/accounts/login/", "admin": "/admin/login/"}


@pytest.fixture
def user(db, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast, tests only
    user = UserFactory(username="jo", is_staff=True, is_superuser=True)
    user.set_password(PASSWORD)
    user.save()
    return user


def log_in(client, url, password, username="jo"):
    if url == LOGINS["admin"]:  # the password step of the admin's login (then comes the code)
        return client.post(url, password_step(username, password))
    return client.post(url, {"username": username, "password": password, "next": "/admin/"})


def fail(client, url, times):
    """`times` wrong passwords: the form comes back each time until the limit, which locks at once."""
    from django.conf import settings

    for attempt in range(1, times + 1):
        response = log_in(client, url, "wrong-guess")
        assert response.status_code == (429 if attempt >= settings.AXES_FAILURE_LIMIT else 200)


@pytest.mark.parametrize("login", LOGINS)
def test_the_limit_locks_the_user_name_out_even_with_the_right_password(client, user, settings, login):
    fail(client, LOGINS[login], settings.AXES_FAILURE_LIMIT)
    locked = log_in(client, LOGINS[login], PASSWORD)
    assert locked.status_code == 429
    page = locked.content.decode()
    assert "Too many failed log-in attempts" in page
    assert "locked for 15 minutes after 5 failed" in page
    assert "ask Arena support to unlock it" in page
    assert "_auth_user_id" not in client.session


def test_a_lock_out_on_one_login_holds_on_the_other(client, user, settings):
    fail(client, LOGINS["portal"], settings.AXES_FAILURE_LIMIT)
    assert log_in(client, LOGINS["admin"], PASSWORD).status_code == 429


def test_other_users_and_addresses_are_not_locked_out(client, user, settings):
    UserFactory(username="sam").set_password(PASSWORD)
    fail(client, LOGINS["portal"], settings.AXES_FAILURE_LIMIT)
    assert log_in(client, LOGINS["portal"], PASSWORD, username="jo").status_code == 429
    elsewhere = client.post(LOGINS["portal"], {"username": "jo", "password": PASSWORD}, REMOTE_ADDR="10.1.2.3")
    assert elsewhere.status_code == 302


def test_support_unlocks_the_user_name_and_the_user_logs_in(client, user, settings):
    fail(client, LOGINS["portal"], settings.AXES_FAILURE_LIMIT)
    assert log_in(client, LOGINS["portal"], PASSWORD).status_code == 429
    out = io.StringIO()
    call_command("axes_reset_username", "jo", stdout=out)
    assert "1 attempts removed" in out.getvalue()
    assert log_in(client, LOGINS["portal"], PASSWORD).status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)


def test_a_successful_login_clears_the_failures(client, user, settings):
    fail(client, LOGINS["portal"], settings.AXES_FAILURE_LIMIT - 1)
    assert log_in(client, LOGINS["portal"], PASSWORD).status_code == 302
    client.logout()
    fail(client, LOGINS["portal"], settings.AXES_FAILURE_LIMIT - 1)
    assert log_in(client, LOGINS["portal"], PASSWORD).status_code == 302


def test_attempts_are_kept_without_the_password(client, user, settings):
    fail(client, LOGINS["admin"], 2)
    attempt = AccessAttempt.objects.get(username="jo")
    assert attempt.failures_since_start == 2
    assert "wrong-guess" not in attempt.post_data
