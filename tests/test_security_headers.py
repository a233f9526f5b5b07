"""What a browser gets from the app with the production settings (the tests themselves run over http)."""

import pytest

PRODUCTION = {
    "SECURE_SSL_REDIRECT": True,
    "SECURE_HSTS_SECONDS": 31536000,
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
    "SESSION_COOKIE_SECURE": True,
    "CSRF_COOKIE_SECURE": True,
}


@pytest.fixture
def production(settings):
    for name, value in PRODUCTION.items():
        setattr(settings, name, value)
    return settings


def test_plain_http_is_redirected_to_https(client, production, db):
    response = client.get("/accounts/login/")
    assert response.status_code == 301
    assert response["Location"] == "https://testserver/accounts/login/"


def test_pages_carry_hsts_frame_referrer_and_content_security_policy(client, production, db):
    response = client.get("/accounts/login/", secure=True)
    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"
    policy = response["Content-Security-Policy"]
    for directive in ("default-src 'self'", "object-src 'none'", "frame-ancestors 'none'", "base-uri 'none'"):
        assert directive in policy
    csrf = response.cookies["csrftoken"]
    assert csrf["secure"] and csrf["httponly"] and csrf["samesite"] == "Lax"


def test_the_session_cookie_is_secure_http_only_and_expires_when_idle(client, production, admin_user):
    admin_user.set_password("a-long-test-password")
    admin_user.save()
    login = client.get("/accounts/login/", secure=True)
    response = client.post(
        "/accounts/login/",
        {"username": admin_user.username, "password": "a-long-test-password"},
        secure=True,
        HTTP_X_CSRFTOKEN=login.cookies["csrftoken"].value,
    )
    assert response.status_code == 302
    session = response.cookies["sessionid"]
    assert session["secure"] and session["httponly"]
    assert int(session["max-age"]) == production.SESSION_COOKIE_AGE == 30 * 60
