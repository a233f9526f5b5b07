"""Passwords: Django's full set of validators, and a reset that works only by email (EMAIL_URL), throttled
like the logins; without email the reset pages are not there and the login page says whom to ask."""

import re

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core import mail
from django.core.cache import cache
from django.core.exceptions import ValidationError

from .factories import UserFactory

RESET = "/accounts/password_reset/"


@pytest.fixture
def user(db, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast, tests only
    user = UserFactory(username="jo", email="jo@acme.example", first_name="Jo")
    user.set_password("the-old-password-42")
    user.save()
    return user


@pytest.fixture
def email(settings):
    """Email configured (the test runner's mail backend keeps what is sent in mail.outbox); counts cleared."""
    settings.EMAIL_URL = "smtp://mail.acme.example:587"
    cache.clear()
    yield
    cache.clear()


@pytest.mark.parametrize(
    "password, error",
    [
        ("password", "This password is too common."),
        ("12345678", "This password is entirely numeric."),
        ("qwertyui", "This password is too common."),
        ("short-pass1", "at least 12 characters"),
        ("jo@acme.example", "too similar to the email address"),
    ],
)
def test_weak_passwords_are_refused(user, password, error):
    with pytest.raises(ValidationError) as refused:
        validate_password(password, user)
    assert any(error in message for message in refused.value.messages)


def test_a_long_uncommon_password_is_accepted(user):
    validate_password("harbour-lantern-orbit-73", user)


def test_without_email_the_reset_pages_are_not_offered_and_the_login_says_whom_to_ask(client, user, settings):
    settings.EMAIL_URL = ""
    login = client.get("/accounts/login/").content.decode()
    assert RESET not in login
    assert "Ask an admin of your whitelabel, or Arena support, to set a new one." in login
    for path in (RESET, f"{RESET}done/", "/accounts/reset/MQ/set-password/", "/accounts/reset/done/"):
        assert client.get(path).status_code == 404
    assert client.post(RESET, {"email": user.email}).status_code == 404
    assert mail.outbox == []


def test_with_email_a_reset_link_sets_a_new_password_once(client, user, email):
    assert f'href="{RESET}"' in client.get("/accounts/login/").content.decode()
    assert client.post(RESET, {"email": "JO@acme.example"}).url == f"{RESET}done/"
    (message,) = mail.outbox
    assert message.to == [user.email]
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", message.body).group(1)

    form = client.get(link, follow=True)
    assert "Choose a new password" in form.content.decode()
    weak = client.post(form.redirect_chain[-1][0], {"new_password1": "password", "new_password2": "password"})
    assert "This password is too common." in weak.content.decode()
    new = "harbour-lantern-orbit-73"
    done = client.post(form.redirect_chain[-1][0], {"new_password1": new, "new_password2": new})
    assert done.url == "/accounts/reset/done/"
    user.refresh_from_db()
    assert user.check_password(new)
    assert "This link has been used already" in client.get(link, follow=True).content.decode()


def test_reset_requests_are_throttled_per_address(client, user, email, settings):
    for n in range(settings.AXES_FAILURE_LIMIT):
        assert client.post(RESET, {"email": f"someone{n}@acme.example"}).status_code == 302
    throttled = client.post(RESET, {"email": user.email})
    assert throttled.status_code == 429
    assert "Too many password reset requests" in throttled.content.decode()
    assert "for 15 minutes" in throttled.content.decode()
    assert mail.outbox == [], "no mail once throttled (and none for addresses without an account)"


def test_reset_requests_are_throttled_per_email_address_whatever_the_address(client, user, email, settings):
    for n in range(settings.AXES_FAILURE_LIMIT):
        response = client.post(RESET, {"email": user.email}, REMOTE_ADDR=f"203.0.113.{n}")
        assert response.status_code == 302
    assert client.post(RESET, {"email": user.email}, REMOTE_ADDR="198.51.100.9").status_code == 429
    assert len(mail.outbox) == settings.AXES_FAILURE_LIMIT
