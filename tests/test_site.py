"""Site-wide pages: errors never show Django's debug page, the favicon, logging out."""

import logging

import pytest
from django.urls import path

from arena_xero.urls import urlpatterns as site_urls
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def crash(request):
    raise RuntimeError("boom in a view")


urlpatterns = [path("crash/", crash), *site_urls]


@pytest.mark.parametrize("debug", [True, False])
def test_unknown_page_is_the_friendly_404_with_or_without_debug(client, settings, debug):
    settings.DEBUG = debug
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "Page not found" in html and "URLconf" not in html and "DEBUG" not in html


def test_a_404_raised_by_a_view_is_the_friendly_page_with_debug(admin_client, settings):
    settings.DEBUG = True
    response = admin_client.get("/account/no-such-whitelabel/settings/components/accounting-system/")
    assert response.status_code == 404
    assert "Page not found" in response.content.decode() and "Traceback" not in response.content.decode()


def test_a_crash_with_debug_is_the_friendly_500_and_logged_once_with_its_traceback(client, settings, caplog):
    settings.DEBUG = True
    settings.ROOT_URLCONF = __name__
    client.raise_request_exception = False
    with caplog.at_level(logging.ERROR, logger="django.request"):
        response = client.get("/crash/")
    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong" in html and "boom in a view" not in html and "Traceback" not in html
    errors = [r for r in caplog.records if r.name == "django.request"]
    assert len(errors) == 1 and errors[0].exc_info and "boom in a view" in str(errors[0].exc_info[1])


def test_favicon_is_served_at_the_path_browsers_ask_for(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"].endswith("favicon.svg")
    assert 'rel="icon"' in client.get("/accounts/login/").content.decode()


def test_logging_out_says_so_on_the_login_page(client):
    client.force_login(UserFactory(username="leaving"))
    response = client.post("/accounts/logout/", follow=True)
    assert response.redirect_chain[-1][0] == "/accounts/login/"
    assert "You have logged out." in response.content.decode()


def test_both_logins_ask_for_the_user_name_in_the_same_words(client):
    portal = client.get("/accounts/login/").content.decode()
    console = client.get("/admin/login/").content.decode()
    assert ">User name</label>" in portal and ">User name:</label>" in console
    assert "Username" not in portal + console
