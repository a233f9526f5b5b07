"""Test helpers that drive the Arena <-> Xero sandbox flows over real HTTP."""

import time
from urllib.parse import parse_qs, urlsplit

import requests
from django.urls import reverse

ORG1, ORG2 = "Organisation 1", "Organisation 2"


def wait_until(predicate, *, timeout: float = 30.0, message: str = "condition"):
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out after {timeout}s waiting for {message}")
        time.sleep(0.05)


def tenant_ids(sandbox, *names: str) -> list[str]:
    organisations = sandbox.state()["organisations"]
    by_name = {o["Name"] if "Name" in o else o["name"]: o for o in organisations}
    return [by_name[name].get("tenant_id") or by_name[name].get("TenantId") or by_name[name]["OrganisationID"] for name in names]


def consent(sandbox, authorize_url: str, *, organisations=(ORG1,), allow: bool = True) -> str:
    """Answer Xero's consent page as the admin would; returns where Xero redirects the browser."""
    query = {k: v[0] for k, v in parse_qs(urlsplit(authorize_url).query).items()}
    form = {**query, "action": "allow" if allow else "cancel", "tenant_id": tenant_ids(sandbox, *organisations)}
    response = requests.post(f"{sandbox.url}/identity/connect/authorize", data=form, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text[:500]
    return response.headers["Location"]


def callback_path(location: str) -> str:
    parts = urlsplit(location)
    return f"{parts.path}?{parts.query}"


def settings_url(whitelabel) -> str:
    return reverse("accounting:settings", kwargs={"whitelabel": whitelabel.slug})


def save_settings(client, whitelabel, **overrides):
    data = {
        "action": "save",
        "accounting-accounting_system": "xero",
        "accounting-payment_type": "postpaid",
        "accounting-revenue_code": "200",
        "gateway-provider": "windcave",
        "gateway-accepted_cards": ["visa"],
        "gateway-currency": "AUD",
        "gateway-gateway_user": "",
        "gateway-gateway_password": "",
    }
    data.update(overrides)
    return client.post(settings_url(whitelabel), data)


def connect(client, whitelabel, sandbox, *, organisations=(ORG1,), **settings_overrides):
    """Save Xero settings, consent in the sandbox, and come back: returns the callback response (followed)."""
    response = save_settings(client, whitelabel, **settings_overrides)
    assert response.status_code == 302, response.content[:2000]
    location = consent(sandbox, response["Location"], organisations=organisations)
    return client.get(callback_path(location), follow=True)
