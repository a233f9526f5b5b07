"""Xero's deep links, answered by the sandbox: `/organisationlogin/default.aspx?shortcode=...&redirecturl=...`
switches to the organisation with that short code and opens the page Xero shows the record at, so an app's
"Open in Xero" links work against the sandbox. And the favicon of its pages."""
import requests

from xero_sandbox.seed import ORG2_TENANT_ID

ORG1_SHORT_CODE, ORG2_SHORT_CODE = "!a1B2c", "!z9Y8x"
INVOICE = {
    "Type": "ACCREC", "Contact": {"Name": "Acme Pty Ltd", "ContactNumber": "CUST-7"}, "InvoiceNumber": "INV-000042",
    "Status": "AUTHORISED", "Date": "2024-05-01", "DueDate": "2024-05-31",
    "LineItems": [{"Description": "Mobile plan, monthly", "Quantity": 2, "UnitAmount": 50, "AccountCode": "200"}],
}


def deep_link(server, short_code: str, path: str) -> str:
    """The link as Arena writes it (accounting/xero/links.py), on the sandbox's host."""
    return f"{server.url}/organisationlogin/default.aspx?shortcode={short_code}&redirecturl={path}"


def text_of(response: requests.Response) -> str:
    return " ".join(response.text.split())


def test_an_invoice_opens_from_a_deep_link_in_its_organisation(raw):
    invoice = raw.put("Invoices", {"Invoices": [INVOICE]}).json()["Invoices"][0]
    browser = requests.Session()

    page = browser.get(
        deep_link(raw.server, ORG1_SHORT_CODE, f"/AccountsReceivable/View.aspx?InvoiceID={invoice['InvoiceID']}"),
        timeout=5,
    )

    assert page.status_code == 200
    assert page.url == f"{raw.server.url}/AccountsReceivable/View.aspx?InvoiceID={invoice['InvoiceID']}"
    text = text_of(page)
    for shown in ("Invoice INV-000042", "Organisation 1", "Acme Pty Ltd", "AUTHORISED", "2024-05-01", "2024-05-31",
                  "Mobile plan, monthly", "110.00", invoice["InvoiceID"]):
        assert shown in text
    assert "<title>Invoice INV-000042 | Xero sandbox</title>" in page.text


def test_contacts_transactions_payments_and_credit_notes_open_too(raw):
    invoice = raw.put("Invoices", {"Invoices": [INVOICE]}).json()["Invoices"][0]
    payment = raw.put("Payments", {"Payments": [{
        "Invoice": {"InvoiceID": invoice["InvoiceID"]}, "Account": {"Code": "090"}, "Date": "2024-05-10",
        "Amount": 20, "Reference": "RCT-000007 INV-000042",
    }]}).json()["Payments"][0]
    receipt = raw.put("BankTransactions", {"BankTransactions": [{
        "Type": "RECEIVE-OVERPAYMENT", "Contact": {"ContactID": invoice["Contact"]["ContactID"]},
        "BankAccount": {"Code": "090"}, "Date": "2024-05-11",
        "LineItems": [{"Description": "Credit from receipt RCT-000008", "LineAmount": 15}],
    }]}).json()["BankTransactions"][0]
    note = raw.put("CreditNotes", {"CreditNotes": [{
        "Type": "ACCRECCREDIT", "Contact": {"ContactID": invoice["Contact"]["ContactID"]}, "Status": "AUTHORISED",
        "Date": "2024-05-12", "CreditNoteNumber": "CN-000003",
        "LineItems": [{"Description": "Sorry", "UnitAmount": 10, "AccountCode": "200"}],
    }]}).json()["CreditNotes"][0]
    browser = requests.Session()
    expected = {
        f"/Contacts/View/{invoice['Contact']['ContactID']}": ["Contact Acme Pty Ltd", "CUST-7"],
        f"/Bank/ViewTransaction.aspx?bankTransactionID={payment['PaymentID']}": [
            "Payment RCT-000007 INV-000042", "20.00", "090"],
        f"/Bank/ViewTransaction.aspx?bankTransactionID={receipt['BankTransactionID']}": [
            "Bank transaction RECEIVE-OVERPAYMENT", "15.00", "Credit from receipt RCT-000008"],
        f"/AccountsReceivable/ViewCreditNote.aspx?creditNoteID={note['CreditNoteID']}": [
            "Credit note CN-000003", "11.00"],
    }
    for path, shown in expected.items():
        page = browser.get(deep_link(raw.server, ORG1_SHORT_CODE, path), timeout=5)
        assert page.status_code == 200, path
        for text in [*shown, "Organisation 1"]:
            assert text in text_of(page), (path, text)


def test_a_link_without_a_short_code_opens_the_record_wherever_it_is(raw):
    invoice = raw.for_tenant(ORG2_TENANT_ID).put("Invoices", {"Invoices": [dict(INVOICE, CurrencyCode="NZD")]})
    invoice_id = invoice.json()["Invoices"][0]["InvoiceID"]

    page = requests.get(f"{raw.server.url}/AccountsReceivable/View.aspx?InvoiceID={invoice_id}", timeout=5)

    assert page.status_code == 200
    assert "Organisation 2" in text_of(page) and "INV-000042" in text_of(page)


def test_a_record_of_another_organisation_is_not_found_there(raw):
    invoice = raw.put("Invoices", {"Invoices": [INVOICE]}).json()["Invoices"][0]

    page = requests.get(
        deep_link(raw.server, ORG2_SHORT_CODE, f"/AccountsReceivable/View.aspx?InvoiceID={invoice['InvoiceID']}"),
        timeout=5,
    )

    assert page.status_code == 404
    assert "Organisation 2 has no invoice with id" in text_of(page)


def test_unknown_short_codes_records_and_pages_are_refused(raw):
    unknown_code = requests.get(
        deep_link(raw.server, "!nope1", "/AccountsReceivable/View.aspx?InvoiceID=x"), timeout=5
    )
    assert unknown_code.status_code == 404
    assert "No organisation has the short code !nope1" in text_of(unknown_code)

    missing = requests.get(
        f"{raw.server.url}/AccountsReceivable/View.aspx?InvoiceID=5b0c4c8e-0000-4000-8000-000000000000", timeout=5
    )
    assert missing.status_code == 404

    for elsewhere in ("https://evil.example/", "//evil.example/", "/Reports/Index.aspx"):
        page = requests.get(deep_link(raw.server, ORG1_SHORT_CODE, elsewhere), timeout=5, allow_redirects=False)
        assert page.status_code == 400, elsewhere
        assert "The sandbox shows invoices, credit notes, contacts and bank transactions" in text_of(page)


def test_record_pages_are_the_sandboxs_own_not_xeros_api(raw):
    invoice = raw.put("Invoices", {"Invoices": [INVOICE]}).json()["Invoices"][0]
    raw.server.clear_requests_log()
    raw.server.add_fault(path="/*", mode="status", status=503, count=None)
    try:
        page = requests.get(
            deep_link(raw.server, ORG1_SHORT_CODE, f"/AccountsReceivable/View.aspx?InvoiceID={invoice['InvoiceID']}"),
            timeout=5,
        )
        assert page.status_code == 200
    finally:
        raw.server.clear_faults()
    assert raw.server.requests_log() == []


def test_pages_have_a_favicon(xero_sandbox):
    home = requests.get(xero_sandbox.url + "/", timeout=5)
    assert '<link rel="icon" href="/favicon.svg" type="image/svg+xml">' in home.text
    for path in ("/favicon.svg", "/favicon.ico"):
        icon = requests.get(xero_sandbox.url + path, timeout=5)
        assert icon.status_code == 200, path
        assert icon.headers["Content-Type"].startswith("image/svg+xml")
        assert icon.text.startswith("<svg")
