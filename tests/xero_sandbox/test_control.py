"""The control API, configuration sources, the state file and the command line."""
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from xero_sandbox.config import SandboxConfig, config_from_env
from xero_sandbox.testing import SandboxServer

from .test_accounting import create_invoice

ROOT = Path(__file__).resolve().parents[2]


def test_state_lists_both_organisations_and_their_settings(xero_sandbox):
    organisations = xero_sandbox.state()["organisations"]

    summary = [(o["name"], o["country_code"], o["base_currency"]) for o in organisations]
    assert summary == [("Organisation 1", "AU", "AUD"), ("Organisation 2", "NZ", "NZD")]
    au_accounts = {a["Code"]: a for a in organisations[0]["accounts"]}
    assert au_accounts["610"]["SystemAccount"] == "DEBTORS" and au_accounts["210"]["Status"] == "ARCHIVED"
    assert au_accounts["090"]["BankAccountNumber"]
    nz_rates = sorted(r["TaxType"] for r in organisations[1]["tax_rates"])
    assert nz_rates == ["EXEMPTINPUT", "INPUT2", "NONE", "OUTPUT2", "ZERORATED"]


def test_state_shows_connections_and_tokens(xero_sandbox):
    xero_sandbox.connect()

    state = xero_sandbox.state()

    assert [c["tenantName"] for c in state["connections"]] == ["Organisation 1"]
    assert [t["status"] for t in state["tokens"]["refresh_tokens"]] == ["active"]


def test_reset_clears_data_but_keeps_config_unless_asked(raw):
    server = raw.server
    create_invoice(raw)
    server.configure(minute_limit=7, redirect_uris=["http://example.test/cb"])

    server.reset(config=False)

    config = server.get_config()
    assert config["minute_limit"] == 7 and "http://example.test/cb" in config["clients"][0]["redirect_uris"]
    assert server.org_state()["invoices"] == [] and server.state()["connections"] == []
    assert server.requests_log() == []
    server.reset(config=True)
    assert server.get_config()["minute_limit"] == 60


def test_request_log_records_calls_and_can_be_cleared(raw):
    raw.get("Invoices", params={"where": 'Status=="PAID"'})

    entry = raw.server.requests_log()[-1]

    assert (entry["method"], entry["path"], entry["status"]) == ("GET", "/api.xro/2.0/Invoices", 200)
    assert entry["args"] == {"where": ['Status=="PAID"']} and entry["auth"] == "Bearer"
    raw.server.clear_requests_log()
    assert raw.server.requests_log() == []


def test_control_api_rejects_nonsense(xero_sandbox):
    url = xero_sandbox.url + "/_sandbox"
    assert requests.post(url + "/config", json={"minute_limt": 1}, timeout=5).status_code == 400
    assert requests.post(url + "/config", json={"time_scale": 0}, timeout=5).status_code == 400
    assert requests.post(url + "/clock", json={"advance_seconds": -5}, timeout=5).status_code == 400
    assert requests.post(url + "/faults", json={"path": "/x", "mode": "explode"}, timeout=5).status_code == 400
    assert requests.post(url + "/connections/nope/revoke", timeout=5).status_code == 404


def test_state_file_keeps_data_and_tokens_across_restarts(tmp_path):
    config = SandboxConfig(state_file=str(tmp_path / "sandbox.json"))
    with SandboxServer(config) as first:
        token = first.connect()
        tenant = first.tenant_ids["Organisation 1"]
        headers = {"Authorization": f"Bearer {token['access_token']}", "xero-tenant-id": tenant}
        created = requests.put(f"{first.url}/api.xro/2.0/Contacts", json={"Contacts": [{"Name": "Kept"}]},
                               headers=headers, timeout=5).json()["Contacts"][0]
        invoice = requests.put(f"{first.url}/api.xro/2.0/Invoices", headers=headers, timeout=5, json={
            "Type": "ACCREC", "Contact": {"ContactID": created["ContactID"]}, "Status": "AUTHORISED",
            "Date": "2024-05-01", "DueDate": "2024-05-31",
            "LineItems": [{"Description": "x", "UnitAmount": 10.05, "AccountCode": "200"}],
        }).json()["Invoices"][0]

    with SandboxServer(SandboxConfig(state_file=config.state_file)) as second:
        fetched = requests.get(f"{second.url}/api.xro/2.0/Contacts/{created['ContactID']}", headers=headers, timeout=5)
        reloaded = requests.get(f"{second.url}/api.xro/2.0/Invoices/{invoice['InvoiceID']}", headers=headers, timeout=5)
        refreshed = requests.post(
            f"{second.url}/connect/token", auth=(second.client_id, second.client_secret), timeout=5,
            data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
        )

    assert fetched.status_code == 200 and fetched.json()["Contacts"][0]["Name"] == "Kept"
    assert refreshed.status_code == 200
    assert reloaded.json()["Invoices"][0] == invoice


def test_environment_variables_configure_the_sandbox():
    config = config_from_env({
        "XERO_SANDBOX_MINUTE_LIMIT": "7", "XERO_SANDBOX_TIME_SCALE": "60", "XERO_SANDBOX_VALIDATE_OPENAPI": "true",
        "XERO_SANDBOX_CLIENT_ID": "my-app", "XERO_SANDBOX_CLIENT_SECRET": "s3cret",
        "XERO_SANDBOX_REDIRECT_URIS": "http://a.test/cb, http://b.test/cb", "XERO_SANDBOX_APP_NAME": "Demo",
        "XERO_SANDBOX_STATE_FILE": "/tmp/x.json",
    })

    client = config.clients[0]
    settings = (config.minute_limit, config.time_scale, config.validate_openapi, config.state_file)
    assert settings == (7, 60.0, True, "/tmp/x.json")
    assert (client.client_id, client.client_secret, client.name) == ("my-app", "s3cret", "Demo")
    assert client.redirect_uris == ["http://a.test/cb", "http://b.test/cb"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_command_line_starts_a_server(tmp_path):
    port = _free_port()
    command = [sys.executable, "-m", "xero_sandbox", "--host", "127.0.0.1", "--port", str(port),
               "--client-id", "cli-app", "--client-secret", "cli-secret", "--redirect-uri", "http://cli.test/cb",
               "--state-file", str(tmp_path / "state.json")]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                config = requests.get(f"http://127.0.0.1:{port}/_sandbox/config", timeout=1).json()
                break
            except requests.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"sandbox did not start: {process.stderr.read().decode()}")
                time.sleep(0.05)
        assert config["clients"][0]["client_id"] == "cli-app"
        assert config["clients"][0]["redirect_uris"] == ["http://cli.test/cb"]
    finally:
        process.terminate()
        process.wait(timeout=5)
