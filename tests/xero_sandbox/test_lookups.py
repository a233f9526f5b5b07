"""Lookups by number, name and link go through an index (big books stay fast); they must stay right
when those keys change and after a restart from the state file."""
import requests

from xero_sandbox.config import SandboxConfig
from xero_sandbox.testing import SandboxServer

from .test_accounting import create_invoice, fail_invoice, messages, pay


def test_a_changed_invoice_number_frees_the_old_one(raw):
    draft = create_invoice(raw, Status="DRAFT", InvoiceNumber="OLD-1")

    raw.post(f"Invoices/{draft['InvoiceID']}", {"Invoices": [{"InvoiceNumber": "NEW-1"}]})

    assert raw.get("Invoices/NEW-1").json()["Invoices"][0]["InvoiceID"] == draft["InvoiceID"]
    assert raw.get("Invoices/OLD-1").status_code == 404
    assert raw.get("Invoices", params={"InvoiceNumbers": "OLD-1,NEW-1"}).json()["Invoices"][0]["InvoiceNumber"] == (
        "NEW-1")
    assert create_invoice(raw, InvoiceNumber="OLD-1")["InvoiceNumber"] == "OLD-1"
    assert fail_invoice(raw, InvoiceNumber="NEW-1") == ["Invoice # must be unique."]


def test_renamed_and_renumbered_contacts_are_found_by_their_new_keys(raw):
    contact = raw.put("Contacts", {"Contacts": [{"Name": "Before", "ContactNumber": "N-1"}]}).json()["Contacts"][0]

    raw.post(f"Contacts/{contact['ContactID']}", {"Contacts": [{"Name": "After", "ContactNumber": "N-2"}]})

    assert raw.put("Contacts", {"Contacts": [{"Name": "Before", "ContactNumber": "N-1"}]}).status_code == 200
    clash = raw.put("Contacts", {"Contacts": [{"Name": "after"}]})
    assert "already assigned to another contact" in messages(clash.json()["Elements"][0])[0]
    assert raw.get("Contacts/N-2").json()["Contacts"][0]["ContactID"] == contact["ContactID"]
    assert create_invoice(raw, Contact={"ContactNumber": "N-2"})["Contact"]["ContactID"] == contact["ContactID"]


def test_a_contacts_balance_follows_its_invoices(raw):
    invoice = create_invoice(raw, Contact={"Name": "Acme"})
    contact_id = invoice["Contact"]["ContactID"]
    pay(raw, invoice["InvoiceID"], 10)

    single = raw.get(f"Contacts/{contact_id}").json()["Contacts"][0]
    listed = raw.get("Contacts").json()["Contacts"][0]

    assert single["Balances"] == listed["Balances"]
    assert single["Balances"]["AccountsReceivable"]["Outstanding"] == 100.0


def test_lookups_work_after_a_restart_from_the_state_file(tmp_path):
    config = SandboxConfig(state_file=str(tmp_path / "state.json"))
    with SandboxServer(config) as first:
        token = first.connect()
        headers = {"Authorization": f"Bearer {token['access_token']}", "xero-tenant-id": first.tenant_ids[
            "Organisation 1"]}
        api = first.url + "/api.xro/2.0/"
        requests.put(api + "Contacts", json={"Contacts": [{"Name": "Kept", "ContactNumber": "K-1"}]},
                     headers=headers, timeout=5)
        invoice = requests.put(api + "Invoices", headers=headers, timeout=5, json={"Invoices": [{
            "Type": "ACCREC", "Contact": {"ContactNumber": "K-1"}, "InvoiceNumber": "KEPT-1", "Status": "AUTHORISED",
            "Date": "2024-05-01", "DueDate": "2024-05-31",
            "LineItems": [{"Description": "x", "UnitAmount": 10, "AccountCode": "200"}]}]}).json()["Invoices"][0]
        requests.put(api + "Payments", headers=headers, timeout=5, json={"Payments": [{
            "Invoice": {"InvoiceID": invoice["InvoiceID"]}, "Account": {"Code": "090"}, "Amount": 5}]})

    with SandboxServer(SandboxConfig(state_file=config.state_file)) as second:
        api = second.url + "/api.xro/2.0/"
        by_number = requests.get(api + "Invoices/KEPT-1", headers=headers, timeout=5).json()["Invoices"][0]
        contact = requests.get(api + "Contacts/K-1", headers=headers, timeout=5).json()["Contacts"][0]
        duplicate = requests.put(api + "Contacts", json={"Contacts": [{"Name": "Kept"}]}, headers=headers, timeout=5)

    assert by_number["InvoiceID"] == invoice["InvoiceID"] and len(by_number["Payments"]) == 1
    assert contact["Balances"]["AccountsReceivable"]["Outstanding"] == 6.0
    assert duplicate.status_code == 400
