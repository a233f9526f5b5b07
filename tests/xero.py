"""Test helpers that drive the Arena <-> Xero sandbox flows over real HTTP."""

import time
from urllib.parse import urlsplit

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
    by_name = {org["name"]: org["tenant_id"] for org in sandbox.state()["organisations"]}
    return [by_name[name] for name in names]


def consent(sandbox, authorize_url: str, *, organisations=(ORG1,), allow: bool = True) -> str:
    """Answer Xero's consent page as the admin would; returns where Xero redirects the browser."""
    return sandbox.consent(
        authorize_url, tenant_ids=tenant_ids(sandbox, *organisations), action="allow" if allow else "cancel"
    )


class Book:
    """One organisation's records in the sandbox, in Xero's wire shape."""

    def __init__(self, data: dict):
        self.data = data

    def invoices(self) -> list[dict]:
        return self.data["invoices"]

    def contacts(self, contact_number: str | None = None) -> list[dict]:
        contacts = self.data["contacts"]
        if contact_number is not None:
            contacts = [c for c in contacts if c.get("ContactNumber") == contact_number]
        return contacts

    def payments(self) -> list[dict]:
        return self.data["payments"]

    def credit_notes(self) -> list[dict]:
        return self.data["credit_notes"]

    def overpayments(self) -> list[dict]:
        return self.data["overpayments"]

    def prepayments(self) -> list[dict]:
        return self.data["prepayments"]

    def bank_transactions(self) -> list[dict]:
        return self.data["bank_transactions"]

    def account(self, code: str) -> dict:
        return next(a for a in self.data["accounts"] if a.get("Code") == code)


def book(sandbox, whitelabel=None, *, tenant_name: str | None = None) -> Book:
    """The books of the organisation `whitelabel` is connected to (or the one named)."""
    from accounting.models import XeroConnection

    organisations = sandbox.state()["organisations"]
    if tenant_name:
        return Book(next(org for org in organisations if org["name"] == tenant_name))
    tenant_id = XeroConnection.objects.get(whitelabel=whitelabel).tenant_id.lower()
    return Book(next(org for org in organisations if org["tenant_id"].lower() == tenant_id))


def callback_path(location: str) -> str:
    parts = urlsplit(location)
    return f"{parts.path}?{parts.query}"


def settings_url(whitelabel) -> str:
    return reverse("accounting:settings", kwargs={"whitelabel": whitelabel.slug})


def settings_form_data(**overrides) -> dict:
    """The settings page's form as a browser posts it; a None value leaves the field out."""
    data = {
        "action": "save",
        "accounting-accounting_system": "xero",
        "accounting-payment_type": "postpaid",
        "accounting-revenue_code": "200",
        "accounting-record_xero_payments": "on",
        "gateway-provider": "windcave",
        "gateway-accepted_cards": ["visa"],
        "gateway-currency": "AUD",
        "gateway-gateway_user": "",
        "gateway-gateway_password": "",
        **overrides,
    }
    return {key: value for key, value in data.items() if value is not None}


def save_settings(client, whitelabel, **overrides):
    return client.post(settings_url(whitelabel), settings_form_data(**overrides))


def connect(client, whitelabel, sandbox, *, organisations=(ORG1,), **settings_overrides):
    """Save Xero settings, consent in the sandbox, and come back: returns the callback response (followed)."""
    response = save_settings(client, whitelabel, **settings_overrides)
    assert response.status_code == 302, response.content[:2000]
    location = consent(sandbox, response["Location"], organisations=organisations)
    return client.get(callback_path(location), follow=True)
