"""What `make run` starts (bin/run-local), driven as a new user would over HTTP: log in, save Xero
settings, consent on the sandbox's page picking Organisation 1, come back connected, and see the demo
billing reach the sandbox after asking for it."""

import html
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.pytest_env import TEST_ENVIRONMENT
from tests.xero import wait_until

ROOT = Path(__file__).resolve().parents[2]
# The services and the tests' own values: `make run` brings its own (bin/local.env).
SERVICES = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_BROKER_FOLDER", *TEST_ENVIRONMENT)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code < 500
    except requests.ConnectionError:
        return False


@pytest.fixture
def running_app(tmp_path):
    port, sandbox_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in SERVICES}  # the embedded defaults
    env.update(PORT=str(port), SANDBOX_PORT=str(sandbox_port), PY=sys.executable, ARENA_VAR_DIR=str(tmp_path))
    out = tmp_path / "run.log"
    with open(out, "w") as log:
        process = subprocess.Popen(
            ["bash", "bin/run-local"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    app, sandbox = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{sandbox_port}"
    try:
        wait_until(
            lambda: process.poll() is not None or (answers(app + "/accounts/login/") and answers(sandbox)),
            timeout=90,
            message="make run's web server and sandbox",
        )
        assert process.poll() is None, out.read_text()[-3000:]
        yield app, sandbox, out.read_text()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(20)


def csrf(page: requests.Response) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)


def messages(page: requests.Response) -> list[str]:
    return [html.unescape(m) for m in re.findall(r'<p class="message[^"]*"[^>]*>([^<]*)</p>', page.text)]


def test_new_user_connects_organisation_1_and_demo_billing_reaches_it(running_app):
    app, sandbox, printed = running_app
    assert "Log in as admin / arena-demo" in printed and f"Arena:        {app}/" in printed
    browser = requests.Session()
    login = browser.get(app + "/accounts/login/")
    settings_page = browser.post(
        app + "/accounts/login/",
        data={"csrfmiddlewaretoken": csrf(login), "username": "admin", "password": "arena-demo"},
    )
    assert "Accounting System Settings" in settings_page.text
    form = {
        "csrfmiddlewaretoken": csrf(settings_page),
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
    consent = browser.post(settings_page.url, data=form)
    assert consent.url.startswith(sandbox + "/identity/connect/authorize")
    for text in ("wants access to", "Organisation 1", "Organisation 1", "Allow access", "Cancel"):
        assert text in consent.text
    fields = {
        k: html.unescape(v) for k, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', consent.text)
    }
    organisation_1 = re.search(r'value="([0-9a-f-]{36})"[^>]*>\s*(?:<[^>]+>\s*)*Organisation 1', consent.text)
    back = browser.post(
        sandbox + "/identity/connect/authorize",
        data={**fields, "tenant_id": organisation_1.group(1), "action": "allow"},
    )
    assert back.url == settings_page.url
    assert "Connected to Xero organisation Organisation 1." in messages(back)
    assert "090 – Business Bank Account" in back.text

    saved = browser.post(
        back.url, data={**form, "csrfmiddlewaretoken": csrf(back), "accounting-bank_account_code": "090"}
    )
    assert "Accounting system settings saved." in messages(saved)
    sent = browser.post(back.url + "xero/resync/", data={"csrfmiddlewaretoken": csrf(saved)})
    assert any("will be sent to Xero" in m for m in messages(sent))

    def demo_invoices_in_organisation_1():
        organisations = requests.get(sandbox + "/_sandbox/state", timeout=5).json()["organisations"]
        books = {o["name"]: o for o in organisations}
        numbers = sorted(i["InvoiceNumber"] for i in books["Organisation 1"]["invoices"])
        return numbers == ["INV-000001", "INV-000002", "INV-000003"] and not books["Organisation 2"]["invoices"]

    wait_until(demo_invoices_in_organisation_1, timeout=60, message="the demo invoices in Organisation 1")
    assert "INV-000002" in requests.get(sandbox + "/", timeout=5).text
