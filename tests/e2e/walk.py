"""A new user's walk over plain HTTP (requests, no browser), shared by the tests of what `make run` starts
and of what production runs: log in, save Xero settings, consent for Organisation 1 on the sandbox's page,
choose the bank account, send what was billed, and read what the sandbox holds."""

import html
import re
import socket
from urllib.parse import urljoin

import requests

# The settings page's two forms as a new user fills them in (post-paid, revenue code 200).
SETTINGS_FORM = {
    "action": "save",
    "accounting-accounting_system": "xero",
    "accounting-payment_type": "postpaid",
    "accounting-revenue_code": "200",
    "gateway-provider": "windcave",
    "gateway-accepted_cards": ["visa"],
    "gateway-currency": "AUD",
    "gateway-gateway_user": "demo-gateway",
    "gateway-gateway_password": "",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code < 500
    except requests.ConnectionError:
        return False


def csrf(page: requests.Response) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)


def messages(page: requests.Response) -> list[str]:
    return [html.unescape(m) for m in re.findall(r'<p class="message[^"]*"[^>]*>([^<]*)</p>', page.text)]


def assets(page: requests.Response) -> set[str]:
    """The absolute URLs of every stylesheet, icon and script the page references."""
    links = re.findall(r"<link\b[^>]*\bhref=\"([^\"]+)\"", page.text)
    scripts = re.findall(r"<script\b[^>]*\bsrc=\"([^\"]+)\"", page.text)
    return {urljoin(page.url, html.unescape(url)) for url in links + scripts}


def log_in(browser: requests.Session, app: str, username: str, password: str) -> requests.Response:
    """Log in on the portal; returns the page it lands on (the settings page for a whitelabel admin)."""
    login = browser.get(app + "/accounts/login/")
    return browser.post(
        app + "/accounts/login/",
        data={"csrfmiddlewaretoken": csrf(login), "username": username, "password": password},
    )


def connect_organisation_1(browser: requests.Session, settings_page: requests.Response, sandbox: str):
    """Save Xero settings, consent on the sandbox's page for Organisation 1 (pre-ticked, as the tour says),
    come back connected, then choose the bank account. Returns the consent page and the saved page."""
    form = {**SETTINGS_FORM, "csrfmiddlewaretoken": csrf(settings_page)}
    consent = browser.post(settings_page.url, data=form)
    assert consent.url.startswith(sandbox + "/identity/connect/authorize"), consent.url
    fields = {
        k: html.unescape(v) for k, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', consent.text)
    }
    ticked = re.findall(r'value="([0-9a-f-]{36})"\s*checked>\s*(?:<[^>]+>\s*)*(Organisation \d)', consent.text)
    assert [name for _, name in ticked] == ["Organisation 1"], "the tour says Organisation 1 is pre-ticked"
    back = browser.post(
        sandbox + "/identity/connect/authorize", data={**fields, "tenant_id": ticked[0][0], "action": "allow"}
    )
    assert back.url == settings_page.url
    (connected,) = messages(back)
    assert connected.startswith("Connected to Xero organisation Organisation 1. Now choose the bank account"), connected
    assert "090 – Business Bank Account" in back.text
    saved = browser.post(
        back.url, data={**form, "csrfmiddlewaretoken": csrf(back), "accounting-bank_account_code": "090"}
    )
    assert messages(saved) == ["Accounting system settings saved."]
    return consent, saved


def send_unsent(browser: requests.Session, page: requests.Response) -> str:
    """Press *Send N unsent records to Xero*; returns the message."""
    sent = browser.post(page.url + "xero/resync/", data={"csrfmiddlewaretoken": csrf(page)})
    return messages(sent)[0]


def sandbox_books(sandbox: str) -> dict[str, dict]:
    """What the sandbox holds, by organisation name."""
    organisations = requests.get(sandbox + "/_sandbox/state", timeout=5).json()["organisations"]
    return {o["name"]: o for o in organisations}
