"""The identity service: consent page, authorisation codes, PKCE, tokens, refresh rotation, revocation."""
import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from xero_python.api_client.oauth2 import TokenApi
from xero_python.exceptions import HTTPStatusException

from .conftest import make_sdk

CHALLENGE_VERIFIER = "a" * 50
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(CHALLENGE_VERIFIER.encode()).digest()).rstrip(b"=").decode()


def query_of(location: str) -> dict:
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


def exchange(server, code, verifier=CHALLENGE_VERIFIER, redirect_uri=None, auth=None):
    return requests.post(f"{server.url}/connect/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri or server.redirect_uri,
        "code_verifier": verifier,
    }, auth=auth or (server.client_id, server.client_secret), timeout=5)


def refresh(server, refresh_token, in_body=False):
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    if in_body:
        data.update(client_id=server.client_id, client_secret=server.client_secret)
        return requests.post(f"{server.url}/connect/token", data=data, timeout=5)
    auth = (server.client_id, server.client_secret)
    return requests.post(f"{server.url}/connect/token", data=data, auth=auth, timeout=5)


def code_for(server, **kwargs) -> str:
    location = server.consent(server.authorize_url(code_challenge=CHALLENGE, **kwargs))
    return query_of(location)["code"]


def test_consent_page_describes_the_app_scopes_and_organisations(xero_sandbox):
    page = requests.get(xero_sandbox.authorize_url(), timeout=5)

    assert page.status_code == 200
    html = page.text
    assert "Arena Billing wants access to:" in html
    for phrase in ("business transactions", "contacts", "organisation settings", "when you&#39;re not using the app",
                   "name and email", "Allow access", "Cancel", "terms of use"):
        assert phrase in html
    assert html.count('type="checkbox"') == 2
    assert html.index("Organisation 1") < html.index("Organisation 2")
    assert html.count("checked>") == 1
    # What the README's tour promises: each organisation's country, currency and sales tax rate.
    assert "AU &middot; AUD &middot; GST 10%" in html
    assert "NZ &middot; NZD &middot; GST 15%" in html


def test_allow_without_an_organisation_shows_the_page_again_with_an_error(xero_sandbox):
    url = xero_sandbox.authorize_url()
    params = query_of(url)
    response = requests.post(f"{xero_sandbox.url}/identity/connect/authorize", data={**params, "action": "allow"},
                             allow_redirects=False, timeout=5)

    assert response.status_code == 200
    assert "Select at least one organisation" in response.text


def test_broad_transactions_scope_is_described_as_transactions(xero_sandbox):
    html = requests.get(xero_sandbox.authorize_url(scope="accounting.transactions offline_access"), timeout=5).text
    assert "View and manage your business transactions" in html


def test_unknown_client_gets_an_error_page_not_a_redirect(xero_sandbox):
    response = requests.get(xero_sandbox.authorize_url(client_id="nobody"), allow_redirects=False, timeout=5)
    assert response.status_code == 400 and "invalid client_id" in response.text


def test_unregistered_redirect_uri_gets_an_error_page(xero_sandbox):
    url = xero_sandbox.authorize_url(redirect_uri="https://evil.example/callback")
    response = requests.get(url, allow_redirects=False, timeout=5)
    assert response.status_code == 400 and "Invalid redirect_uri" in response.text


def test_redirect_uris_can_be_registered_through_the_control_api(xero_sandbox):
    xero_sandbox.configure(redirect_uris=["http://testserver/accounting/xero/callback/"])
    url = xero_sandbox.authorize_url(redirect_uri="http://testserver/accounting/xero/callback/")
    location = xero_sandbox.consent(url)
    assert location.startswith("http://testserver/accounting/xero/callback/?code=")


def test_unknown_scope_redirects_with_invalid_scope(xero_sandbox):
    response = requests.get(xero_sandbox.authorize_url(scope="openid accounting.everything", state="s1"),
                            allow_redirects=False, timeout=5)
    assert response.status_code == 302
    params = query_of(response.headers["Location"])
    assert params["error"] == "invalid_scope" and params["state"] == "s1"


def test_code_exchange_returns_tokens_with_xero_claims(xero_sandbox, org1):
    response = exchange(xero_sandbox, code_for(xero_sandbox))

    assert response.status_code == 200
    token = response.json()
    assert set(token) == {"id_token", "access_token", "expires_in", "token_type", "refresh_token", "scope"}
    assert token["expires_in"] == 1800 and token["token_type"] == "Bearer"
    claims = jwt.decode(token["access_token"], options={"verify_signature": False})
    expected = {"exp", "iat", "nbf", "iss", "sub", "xero_userid", "client_id", "scope", "authentication_event_id"}
    assert expected <= set(claims)
    assert claims["exp"] - claims["iat"] == 1800
    identity = jwt.decode(token["id_token"], options={"verify_signature": False})
    assert identity["email"] == "demo@example.com"


def test_client_credentials_in_the_body_are_accepted(xero_sandbox):
    token = exchange(xero_sandbox, code_for(xero_sandbox)).json()
    assert refresh(xero_sandbox, token["refresh_token"], in_body=True).status_code == 200


def test_wrong_client_secret_is_invalid_client(xero_sandbox):
    response = exchange(xero_sandbox, code_for(xero_sandbox), auth=(xero_sandbox.client_id, "wrong"))
    assert response.status_code == 401 and response.json() == {"error": "invalid_client"}


def test_pkce_verifier_mismatch_is_invalid_grant(xero_sandbox):
    response = exchange(xero_sandbox, code_for(xero_sandbox), verifier="b" * 50)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_authorisation_code_is_single_use(xero_sandbox):
    code = code_for(xero_sandbox)
    assert exchange(xero_sandbox, code).status_code == 200
    second = exchange(xero_sandbox, code)
    assert second.status_code == 400 and second.json()["error"] == "invalid_grant"


def test_authorisation_code_expires(xero_sandbox):
    code = code_for(xero_sandbox)
    xero_sandbox.advance_clock(301)
    assert exchange(xero_sandbox, code).json()["error"] == "invalid_grant"


def test_redirect_uri_must_match_at_token_exchange(xero_sandbox):
    other_registered_uri = "http://localhost:8000/accounting/xero/callback/"
    response = exchange(xero_sandbox, code_for(xero_sandbox), redirect_uri=other_registered_uri)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_access_token_expires_with_the_sandbox_clock(sdk, sandbox_urls, org1):
    assert sdk.accounting.get_organisations(org1).organisations
    sandbox_urls.advance_clock(1800)

    with pytest.raises(HTTPStatusException) as raised:
        sdk.accounting.get_organisations(org1)

    assert raised.value.status == 401
    assert "TokenExpired" in raised.value.body.decode()


def test_access_token_ttl_is_configurable(sdk, sandbox_urls, org1):
    sandbox_urls.configure(access_token_ttl=60)
    fresh = refresh(sandbox_urls, sdk.token["refresh_token"]).json()
    assert fresh["expires_in"] == 60


def test_xero_python_refreshes_an_expired_token_through_the_sandbox(sdk, sandbox_urls, org1):
    sdk.store["token"] = {**sdk.token, "expires_at": 0}
    old_refresh = sdk.token["refresh_token"]

    assert sdk.accounting.get_organisations(org1).organisations[0].name == "Organisation 1"
    assert sdk.token["refresh_token"] != old_refresh
    assert TokenApi.refresh_token_url == sandbox_urls.url + "/connect/token"


def test_refresh_rotates_and_the_old_token_has_a_grace_period(xero_sandbox):
    first = exchange(xero_sandbox, code_for(xero_sandbox)).json()

    rotated = refresh(xero_sandbox, first["refresh_token"]).json()
    replayed = refresh(xero_sandbox, first["refresh_token"])
    assert rotated["refresh_token"] != first["refresh_token"]
    assert replayed.status_code == 200 and replayed.json() == rotated

    xero_sandbox.advance_clock(1801)
    expired = refresh(xero_sandbox, first["refresh_token"])
    assert expired.status_code == 400 and expired.json()["error"] == "invalid_grant"
    assert refresh(xero_sandbox, rotated["refresh_token"]).status_code == 200


def test_refresh_grace_period_is_configurable(xero_sandbox):
    xero_sandbox.configure(refresh_grace_seconds=0)
    first = exchange(xero_sandbox, code_for(xero_sandbox)).json()
    refresh(xero_sandbox, first["refresh_token"])
    xero_sandbox.advance_clock(1)
    assert refresh(xero_sandbox, first["refresh_token"]).json()["error"] == "invalid_grant"


def test_unknown_refresh_token_is_invalid_grant(xero_sandbox):
    response = refresh(xero_sandbox, "not-a-token")
    assert response.status_code == 400 and response.json() == {"error": "invalid_grant"}


def test_failed_refresh_surfaces_in_xero_python_as_http_400(sdk, sandbox_urls, org1):
    sandbox_urls.revoke_connection(tenant_id=org1)
    sandbox_urls.revoke_connection(tenant_id=sandbox_urls.tenant_ids["Organisation 2"])
    sdk.store["token"] = {**sdk.token, "expires_at": 0}

    with pytest.raises(HTTPStatusException) as raised:
        sdk.accounting.get_organisations(org1)

    assert raised.value.status == 400 and "invalid_grant" in raised.value.body.decode()


def test_tenant_without_a_connection_is_forbidden(sandbox_urls, org1, org2):
    sdk = make_sdk(sandbox_urls, sandbox_urls.connect(tenant_ids=[org1]))

    with pytest.raises(HTTPStatusException) as raised:
        sdk.accounting.get_organisations(org2)

    assert raised.value.status == 403 and "AuthorizationUnsuccessful" in raised.value.body.decode()


def test_missing_scope_is_unauthorised(sandbox_urls, org1):
    sdk = make_sdk(sandbox_urls, sandbox_urls.connect(tenant_ids=[org1], scope="offline_access accounting.invoices"))

    with pytest.raises(HTTPStatusException) as raised:
        sdk.accounting.get_contacts(org1)

    assert raised.value.status == 401 and "AuthorizationUnsuccessful" in raised.value.body.decode()


def test_reconnecting_reuses_the_connection_with_a_new_auth_event(sandbox_urls, org1, org2):
    first = make_sdk(sandbox_urls, sandbox_urls.connect(tenant_ids=[org1]))
    [before] = first.identity.get_connections()
    second = make_sdk(sandbox_urls, sandbox_urls.connect(tenant_ids=[org1, org2]))
    event = jwt.decode(second.token["access_token"], options={"verify_signature": False})["authentication_event_id"]

    connections = {str(c.tenant_id): c for c in second.identity.get_connections()}
    assert connections[org1].id == before.id and str(connections[org1].auth_event_id) == event
    assert str(before.auth_event_id) != event
    assert connections[org1].updated_date_utc > connections[org1].created_date_utc
    assert len(second.identity.get_connections(auth_event_id=event)) == 2


def test_deleting_a_connection_forbids_its_tenant(sdk, org1, org2):
    connection = next(c for c in sdk.identity.get_connections() if str(c.tenant_id) == org2)

    sdk.identity.delete_connection(connection.id)

    assert [str(c.tenant_id) for c in sdk.identity.get_connections()] == [org1]
    with pytest.raises(HTTPStatusException) as raised:
        sdk.accounting.get_organisations(org2)
    assert raised.value.status == 403


def test_connection_removed_on_xeros_side_forbids_calls_and_kills_refresh(sdk, sandbox_urls, org1, org2):
    for connection in sdk.identity.get_connections():
        sandbox_urls.revoke_connection(connection.id)

    with pytest.raises(HTTPStatusException) as raised:
        sdk.accounting.get_organisations(org1)
    assert raised.value.status == 403
    assert sdk.identity.get_connections() == []
    assert refresh(sandbox_urls, sdk.token["refresh_token"]).json()["error"] == "invalid_grant"


def test_revocation_removes_connections_and_the_refresh_token(sdk, sandbox_urls):
    response = requests.post(f"{sandbox_urls.url}/connect/revocation", data={"token": sdk.token["refresh_token"]},
                             auth=(sandbox_urls.client_id, sandbox_urls.client_secret), timeout=5)

    assert response.status_code == 200
    assert sdk.identity.get_connections() == []
    assert refresh(sandbox_urls, sdk.token["refresh_token"]).json()["error"] == "invalid_grant"


def test_xero_python_revoke_uses_the_sandbox(sdk, sandbox_urls):
    oauth2_token = sdk.api_client.configuration.oauth2_token
    oauth2_token.update_token(**sdk.token)
    assert oauth2_token.revoke_access_token(sdk.api_client)
    assert sandbox_urls.state()["connections"] == []
