"""Arena calls Xero over https; plain http only reaches the hosts named in XERO_ALLOW_HTTP_HOSTS (the
local sandbox). oauthlib's process-wide OAUTHLIB_INSECURE_TRANSPORT is set only while that list names a
host (tests/test_settings.py), and every URL is still checked per host here."""

import pytest

from accounting.xero import client, oauth
from accounting.xero.endpoints import InsecureXeroEndpoint, checked
from tests.xero import connect


def test_https_is_accepted_for_any_host(settings):
    settings.XERO_ALLOW_HTTP_HOSTS = []
    assert checked("https://identity.xero.com/connect/token", "XERO_TOKEN_URL")


def test_plain_http_to_a_host_not_named_is_refused_with_a_clear_error(settings):
    settings.XERO_ALLOW_HTTP_HOSTS = ["127.0.0.1"]
    with pytest.raises(InsecureXeroEndpoint, match=r"plain http at xero\.example\.com \(XERO_TOKEN_URL\)"):
        checked("http://xero.example.com/connect/token", "XERO_TOKEN_URL")
    with pytest.raises(InsecureXeroEndpoint, match="not an http"):
        checked("ftp://127.0.0.1/", "XERO_API_URL")


@pytest.mark.parametrize("setting", ["XERO_TOKEN_URL", "XERO_AUTHORIZE_URL", "XERO_REVOCATION_URL", "XERO_API_URL"])
def test_every_call_refuses_plain_http_to_a_remote_host_before_sending_anything(setting, settings):
    settings.XERO_ALLOW_HTTP_HOSTS = ["127.0.0.1", "localhost"]
    setattr(settings, setting, "http://xero.example.com/somewhere")
    calls = {
        "XERO_TOKEN_URL": [lambda: oauth.exchange_code("code", "verifier"), lambda: oauth.refresh("refresh")],
        "XERO_AUTHORIZE_URL": [lambda: oauth.authorization_url("state", "challenge")],
        "XERO_REVOCATION_URL": [lambda: oauth.revoke("refresh")],
        "XERO_API_URL": [
            lambda: client.connections_list("access"),
            lambda: client.accounts_list(client.Credentials("a", "t")),
        ],
    }[setting]
    for call in calls:
        with pytest.raises(InsecureXeroEndpoint, match=f"xero.example.com \\({setting}\\)"):
            call()


def test_the_sandbox_is_reached_over_http_only_because_it_is_named(admin_client, whitelabel, xero, settings):
    settings.XERO_ALLOW_HTTP_HOSTS = []
    with pytest.raises(InsecureXeroEndpoint):
        oauth.authorization_url("state", "challenge")
    settings.XERO_ALLOW_HTTP_HOSTS = ["127.0.0.1"]
    page = connect(admin_client, whitelabel, xero)
    assert "Connected to Xero organisation Organisation 1." in page.content.decode()
