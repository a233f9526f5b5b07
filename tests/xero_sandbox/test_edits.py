"""Changes "made by a person in Xero" through the control API, which follow Xero's rules, and what
the app then sees through the API."""
import pytest
import requests

from xero_sandbox.seed import ORG2_TENANT_ID
from xero_sandbox.testing import EditRefused

from .test_accounting import create_invoice, messages, pay, sales_invoice


def test_voiding_an_invoice_zeroes_what_is_due(raw):
    invoice = create_invoice(raw, InvoiceNumber="INV-1")

    voided = raw.server.void_invoice("INV-1")

    fetched = raw.get(f"Invoices/{invoice['InvoiceID']}").json()["Invoices"][0]
    assert (voided["Status"], fetched["Status"], fetched["AmountDue"]) == ("VOIDED", "VOIDED", 0.0)
    assert fetched["UpdatedDateUTC"] == voided["UpdatedDateUTC"]


def test_an_invoice_with_a_payment_cannot_be_voided(raw):
    invoice = create_invoice(raw)
    pay(raw, invoice["InvoiceID"], 10)

    with pytest.raises(EditRefused) as refused:
        raw.server.void_invoice(invoice["InvoiceID"])

    assert refused.value.status == 400
    assert refused.value.messages == [
        "This document cannot be voided as it has a payment or credit note allocated to it."
    ]
    assert raw.get(f"Invoices/{invoice['InvoiceID']}").json()["Invoices"][0]["Status"] == "AUTHORISED"


def test_drafts_are_deleted_in_xero_not_voided(raw):
    draft = create_invoice(raw, Status="DRAFT")

    with pytest.raises(EditRefused) as refused:
        raw.server.void_invoice(draft["InvoiceID"])

    assert refused.value.messages == ["Invoice not of valid status for modification (DRAFT to VOIDED)"]


def test_editing_a_line_recomputes_the_totals(raw):
    invoice = create_invoice(raw, LineItems=[
        {"Description": "Plan", "Quantity": 1, "UnitAmount": 100, "AccountCode": "200"},
        {"Description": "Setup", "Quantity": 1, "UnitAmount": 50, "AccountCode": "200"},
    ])

    edited = raw.server.edit_invoice_line(invoice["InvoiceNumber"], line=1, unit_amount=20, quantity=2,
                                          description="Setup (discounted)")

    fetched = raw.get(f"Invoices/{invoice['InvoiceID']}").json()["Invoices"][0]
    assert (fetched["SubTotal"], fetched["TotalTax"], fetched["Total"], fetched["AmountDue"]) == (
        140.0, 14.0, 154.0, 154.0)
    assert [(line["Description"], line["LineAmount"]) for line in fetched["LineItems"]] == [
        ("Plan", 100.0), ("Setup (discounted)", 40.0)]
    assert fetched["LineItems"][1]["LineItemID"] == invoice["LineItems"][1]["LineItemID"]
    assert edited["Status"] == "AUTHORISED" and edited["Total"] == 154.0


def test_lines_of_a_paid_invoice_cannot_be_edited(raw):
    invoice = create_invoice(raw)
    pay(raw, invoice["InvoiceID"], 110)

    with pytest.raises(EditRefused) as refused:
        raw.server.edit_invoice_line(invoice["InvoiceID"], line=invoice["LineItems"][0]["LineItemID"],
                                     unit_amount=5)

    assert refused.value.messages == [
        "This document cannot be edited as it has a payment or credit note allocated to it."
    ]


def test_line_edits_are_checked(raw):
    invoice = create_invoice(raw)
    server = raw.server

    with pytest.raises(EditRefused) as no_line:
        server.edit_invoice_line(invoice["InvoiceID"], line=3, unit_amount=5)
    with pytest.raises(EditRefused) as not_a_number:
        server.edit_invoice_line(invoice["InvoiceID"], unit_amount="lots")
    with pytest.raises(EditRefused) as nothing:
        server.edit_invoice_line(invoice["InvoiceID"])

    assert no_line.value.status == 404
    assert (not_a_number.value.status, not_a_number.value.messages) == (400, ["UnitAmount must be a number"])
    assert nothing.value.status == 400


def test_deleting_a_payment_makes_the_invoice_owed_again(raw):
    invoice = create_invoice(raw)
    payment = pay(raw, invoice["InvoiceID"], 110).json()["Payments"][0]

    deleted = raw.server.delete_payment(payment["PaymentID"])

    fetched = raw.get(f"Invoices/{invoice['InvoiceID']}").json()["Invoices"][0]
    assert deleted["Status"] == "DELETED"
    assert (fetched["Status"], fetched["AmountDue"], fetched["AmountPaid"]) == ("AUTHORISED", 110.0, 0.0)
    with pytest.raises(EditRefused) as again:
        raw.server.delete_payment(payment["PaymentID"])
    assert again.value.messages == ["This payment has already been deleted"]


def test_an_archived_account_can_no_longer_be_used(raw):
    account = raw.server.archive_account("260")

    listed = {a["Code"]: a["Status"] for a in raw.get("Accounts").json()["Accounts"]}
    response = raw.put("Invoices", {"Invoices": [sales_invoice(LineItems=[
        {"Description": "x", "UnitAmount": 1, "AccountCode": "260"}])]})
    assert account["Status"] == "ARCHIVED" and listed["260"] == "ARCHIVED"
    assert messages(response.json()["Elements"][0]) == ["Account code '260' is not a valid code for this document."]
    with pytest.raises(EditRefused) as system:
        raw.server.archive_account("610")
    assert system.value.messages == ["Accounts Receivable is a system account and cannot be archived."]


def test_an_archived_contact_can_no_longer_be_invoiced(raw):
    contact = raw.put("Contacts", {"Contacts": [{"Name": "Acme", "ContactNumber": "C-1"}]}).json()["Contacts"][0]

    archived = raw.server.archive_contact("C-1")

    response = raw.put("Invoices", {"Invoices": [sales_invoice(Contact={"ContactID": contact["ContactID"]})]})
    assert archived["ContactStatus"] == "ARCHIVED"
    assert raw.get(f"Contacts/{contact['ContactID']}").json()["Contacts"][0]["ContactStatus"] == "ARCHIVED"
    assert messages(response.json()["Elements"][0]) == [
        "The contact with the specified contact details has been archived. "
        "The contact must be un-archived before creating new invoices or credit notes."
    ]


def test_merging_contacts_moves_their_documents(raw):
    kept = raw.put("Contacts", {"Contacts": [{"Name": "Acme Ltd"}]}).json()["Contacts"][0]
    invoice = create_invoice(raw, Contact={"Name": "Acme Limited (old)"})
    merged_id = invoice["Contact"]["ContactID"]

    merged, kept_after = raw.server.merge_contacts("Acme Limited (old)", into=kept["ContactID"])

    moved = raw.get(f"Invoices/{invoice['InvoiceID']}").json()["Invoices"][0]
    fetched = raw.get(f"Contacts/{merged_id}").json()["Contacts"][0]
    assert (merged["ContactStatus"], merged["MergedToContactID"]) == ("ARCHIVED", kept["ContactID"])
    assert fetched["MergedToContactID"] == kept["ContactID"]
    assert moved["Contact"]["ContactID"] == kept["ContactID"]
    assert kept_after["Balances"]["AccountsReceivable"]["Outstanding"] == 110.0 and kept_after["IsCustomer"]


def test_edits_name_a_known_organisation_action_and_record(xero_sandbox):
    url = xero_sandbox.url + "/_sandbox/organisations"
    unknown_tenant = requests.post(f"{url}/00000000-0000-0000-0000-000000000000/edits",
                                   json={"action": "void_invoice", "invoice": "INV-1"}, timeout=5)
    unknown_action = requests.post(f"{url}/{ORG2_TENANT_ID}/edits", json={"action": "explode"}, timeout=5)

    assert unknown_tenant.status_code == 404
    assert unknown_action.status_code == 400 and "void_invoice" in unknown_action.json()["error"]
    with pytest.raises(EditRefused) as missing:
        xero_sandbox.void_invoice("INV-404", tenant_id=ORG2_TENANT_ID)
    assert missing.value.status == 404


def test_merging_contacts_moves_credit_notes_and_credit(raw):
    from .test_money_back import create_credit_note

    kept = raw.put("Contacts", {"Contacts": [{"Name": "Kept"}]}).json()["Contacts"][0]
    note = create_credit_note(raw, Contact={"Name": "Gone"})

    raw.server.merge_contacts("Gone", into="Kept")

    moved = raw.get(f"CreditNotes/{note['CreditNoteID']}").json()["CreditNotes"][0]
    credit = {c["Name"]: c["Credit"] for c in raw.server.org_state()["contacts"]}
    assert moved["Contact"]["ContactID"] == kept["ContactID"]
    assert credit == {"Kept": 55.0, "Gone": 0}
