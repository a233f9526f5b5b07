"""The page for people at ``/``: what each organisation holds, read from the same state as the
control API, and kept out of the request log, rate limits, faults and OpenAPI checks."""
import datetime as dt
from decimal import Decimal
from html.parser import HTMLParser

import pytest
import requests
from xero_python.accounting import Contact, CurrencyCode, Invoice, Invoices, LineItem

from xero_sandbox import pages
from xero_sandbox.seed import ORG1_TENANT_ID, ORG2_TENANT_ID


class PageParser(HTMLParser):
    """Collects every table (by id) as rows of cell texts, and the page's text."""

    def __init__(self):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._texts: list[str] = []
        self._table = None
        self._row = None
        self._cell = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._table = self.tables.setdefault(dict(attrs).get("id", ""), [])
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self._table.append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        self._texts.append(data)

    @property
    def text(self) -> str:
        return " ".join("".join(self._texts).split())


class Page:
    def __init__(self, response: requests.Response):
        assert response.status_code == 200, response.text
        assert response.headers["Content-Type"].startswith("text/html")
        parser = PageParser()
        parser.feed(response.text)
        self.html = response.text
        self.tables = parser.tables
        self.text = parser.text

    def rows(self, kind: str, tenant_id: str = ORG1_TENANT_ID) -> list[list[str]]:
        """Body rows of a table (the header row dropped)."""
        return self.tables[f"{kind}-{tenant_id}"][1:]


def home(server) -> Page:
    return Page(requests.get(server.url + "/", timeout=5))


def test_page_shows_what_was_sent_through_the_api(raw):
    contact = raw.put("Contacts", {"Contacts": [
        {"Name": "Acme Pty Ltd", "ContactNumber": "CUST-7", "EmailAddress": "billing@acme.test"},
    ]}).json()["Contacts"][0]
    invoice = raw.put("Invoices", {"Invoices": [{
        "Type": "ACCREC", "Contact": {"ContactID": contact["ContactID"]}, "InvoiceNumber": "ARENA-1001",
        "Status": "AUTHORISED", "Date": "2024-05-01", "DueDate": "2024-05-31",
        "LineItems": [{"Description": "Plan", "Quantity": 2, "UnitAmount": 600, "AccountCode": "200"}],
    }]}).json()["Invoices"][0]
    payment = raw.put("Payments", {"Payments": [{
        "Invoice": {"InvoiceID": invoice["InvoiceID"]}, "Account": {"Code": "090"}, "Date": "2024-05-10",
        "Amount": 200.5, "Reference": "Card 4242",
    }]})
    credit = raw.put("BankTransactions", {"BankTransactions": [{
        "Type": "RECEIVE-OVERPAYMENT", "Contact": {"ContactID": contact["ContactID"]},
        "BankAccount": {"Code": "091"}, "Date": "2024-05-12", "LineAmountTypes": "NoTax",
        "LineItems": [{"Description": "Paid twice", "LineAmount": 1250}],
    }]}).json()["BankTransactions"][0]
    assert payment.status_code == 200, payment.text

    page = home(raw.server)

    assert page.rows("contacts") == [["Acme Pty Ltd", "CUST-7", "billing@acme.test", "1,119.50", "1,250.00"]]
    assert page.rows("invoices") == [[
        "ARENA-1001", "Acme Pty Ltd", "AUTHORISED", "2024-05-01", "2024-05-31", "AUD",
        "1,320.00", "200.50", "0.00", "1,119.50", "Void",
    ]]
    assert page.rows("payments") == [
        ["2024-05-10", "ARENA-1001", "200.50", "Card 4242", "090", "AUTHORISED", "Delete"],
    ]
    assert page.rows("bank-transactions") == [[
        "2024-05-12", "RECEIVE-OVERPAYMENT", "Acme Pty Ltd", "", "1,250.00", "091 Business Savings Account",
        "AUTHORISED", credit["OverpaymentID"][:8] + "…",
    ]]
    assert page.rows("overpayments") == [
        ["2024-05-12", "Acme Pty Ltd", "AUD", "1,250.00", "1,250.00", "AUTHORISED", "0"],
    ]
    # The figures are the control API's: Credit and the receivable balance of the same contact.
    [state_contact] = raw.server.org_state()["contacts"]
    assert (state_contact["Credit"], state_contact["Balances"]["AccountsReceivable"]["Outstanding"]) == (1250, 1119.5)
    assert "No invoices yet" in page.text and f"invoices-{ORG2_TENANT_ID}" not in page.tables  # Organisation 2


def test_allocations_and_paid_invoices_show_up(raw):
    credit = raw.put("BankTransactions", {"BankTransactions": [{
        "Type": "RECEIVE-OVERPAYMENT", "Contact": {"Name": "Acme"}, "BankAccount": {"Code": "090"},
        "Date": "2024-05-10", "LineItems": [{"Description": "Credit", "LineAmount": 150}],
    }]}).json()["BankTransactions"][0]
    invoice = raw.put("Invoices", {"Invoices": [{
        "Type": "ACCREC", "Contact": {"Name": "Acme"}, "Status": "AUTHORISED", "Date": "2024-05-01",
        "DueDate": "2024-05-15", "LineItems": [{"Description": "Plan", "UnitAmount": 100, "AccountCode": "200"}],
    }]}).json()["Invoices"][0]
    allocated = raw.put(f"Overpayments/{credit['OverpaymentID']}/Allocations", {"Allocations": [
        {"Invoice": {"InvoiceID": invoice["InvoiceID"]}, "Amount": 110, "Date": "2024-05-20"},
    ]})
    assert allocated.status_code == 200, allocated.text

    page = home(raw.server)

    [row] = page.rows("invoices")
    assert (row[0], row[2], row[6:]) == (invoice["InvoiceNumber"], "PAID", ["110.00", "0.00", "110.00", "0.00", ""])
    assert page.rows("overpayments") == [["2024-05-10", "Acme", "AUD", "150.00", "40.00", "AUTHORISED", "1"]]
    assert page.rows("contacts") == [["Acme", "", "", "0.00", "40.00"]]


def test_invoices_created_with_xero_python_appear(sdk, xero_sandbox, org2):
    sdk.accounting.create_invoices(org2, Invoices(invoices=[Invoice(
        type="ACCREC", contact=Contact(name="Kiwi Ltd"), status="DRAFT", invoice_number="NZ-1",
        date=dt.date(2024, 6, 1), currency_code=CurrencyCode.NZD,
        line_items=[LineItem(description="Plan", quantity=1, unit_amount=Decimal("10"), account_code="200")],
    )]))

    page = home(xero_sandbox)

    assert page.rows("invoices", org2) == [
        ["NZ-1", "Kiwi Ltd", "DRAFT", "2024-06-01", "", "NZD", "11.50", "0.00", "0.00", "11.50", ""],
    ]
    assert f"invoices-{ORG1_TENANT_ID}" not in page.tables


def test_empty_sandbox_shows_both_organisations_and_empty_states(xero_sandbox):
    page = home(xero_sandbox)

    assert page.tables == {}
    for name, tenant_id, country, currency in (
        ("Organisation 1", ORG1_TENANT_ID, "AU", "AUD"), ("Organisation 2", ORG2_TENANT_ID, "NZ", "NZD"),
    ):
        assert f"{name} Tenant id: {tenant_id} Country: {country} Base currency: {currency}" in page.text
    for empty in ("No contacts yet", "No invoices yet", "No payments yet", "No bank transactions yet",
                  "No overpayments yet"):
        assert page.text.count(empty) == 2
    assert "No connections yet" in page.text


def test_connections_are_listed(xero_sandbox):
    xero_sandbox.connect(tenant_ids=[ORG2_TENANT_ID])

    page = home(xero_sandbox)

    [connection] = xero_sandbox.state()["connections"]
    created = dt.datetime.fromisoformat(connection["createdDateUtc"]).strftime("%Y-%m-%d %H:%M UTC")
    assert f"Connections (1) Organisation 2 connected {created}" in page.text
    assert "No connections yet" not in page.text


def test_big_books_show_the_newest_rows_first(raw, monkeypatch):
    monkeypatch.setattr(pages, "ROW_LIMIT", 2)
    raw.put("Contacts", {"Contacts": [{"Name": "First"}, {"Name": "Second"}, {"Name": "Third"}]})

    page = home(raw.server)

    assert [row[0] for row in page.rows("contacts")] == ["Third", "Second"]
    assert "Contacts (3)" in page.text
    assert "Showing the newest 2 of 3; all of them are in /_sandbox/state." in page.text
    assert len(raw.server.org_state()["contacts"]) == 3


def test_names_are_escaped(raw):
    raw.put("Contacts", {"Contacts": [{"Name": "<script>alert(1)</script> & Co"}]})

    page = home(raw.server)

    assert "<script>alert" not in page.html
    assert page.rows("contacts")[0][0] == "<script>alert(1)</script> & Co"


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_page_is_not_logged_rate_limited_or_faulted(raw, method):
    """Like the control API, the page is the sandbox's own: the docker health check polls it."""
    raw.server.configure(minute_limit=3)
    raw.server.add_fault(path="/*", mode="status", status=503, count=None)
    before = raw.get("Organisation")  # takes the fault: faults apply to Xero's paths
    assert before.status_code == 503
    raw.server.clear_faults()
    raw.server.clear_requests_log()

    answers = [requests.request(method, raw.server.url + "/", timeout=5).status_code for _ in range(5)]
    after = raw.get("Organisation")

    assert answers == [200] * 5
    assert after.status_code == 200 and after.headers["X-MinLimit-Remaining"] == "1"
    assert [entry["path"] for entry in raw.server.requests_log()] == ["/api.xro/2.0/Organisation"]


def test_page_is_served_while_a_fault_matches_every_path(xero_sandbox):
    xero_sandbox.add_fault(path="/*", mode="status", status=503, count=None)

    assert requests.get(xero_sandbox.url + "/", timeout=5).status_code == 200
    assert requests.get(xero_sandbox.url + "/connections", timeout=5).status_code == 503


def _submit(server, page: Page, action: str, tenant_id: str = ORG1_TENANT_ID) -> Page:
    """Post the first button form of ``action`` on the page, as a browser would, and follow the redirect."""
    parser = FormParser()
    parser.feed(page.html)
    fields = next(form for form in parser.forms if ("action", action) in form)
    assert ("tenant_id", tenant_id) in fields
    response = requests.post(server.url + "/edits", data=fields, allow_redirects=False, timeout=5)
    assert response.status_code == 303 and response.headers["Location"].startswith("/?")
    return Page(requests.get(server.url + response.headers["Location"], timeout=5))


class FormParser(HTMLParser):
    """The hidden fields of every form posting to /edits."""

    def __init__(self):
        super().__init__()
        self.forms: list[list[tuple[str, str]]] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "form" and attributes.get("action") == "/edits":
            self.forms.append([])
        elif tag == "input" and attributes.get("type") == "hidden" and self.forms:
            self.forms[-1].append((attributes["name"], attributes.get("value", "")))


def test_buttons_void_an_invoice_and_delete_a_payment(raw):
    paid = raw.put("Invoices", {"Invoices": [{
        "Type": "ACCREC", "Contact": {"Name": "Acme"}, "InvoiceNumber": "PAID-1", "Status": "AUTHORISED",
        "Date": "2024-05-01", "DueDate": "2024-05-31",
        "LineItems": [{"Description": "Plan", "UnitAmount": 100, "AccountCode": "200"}],
    }]}).json()["Invoices"][0]
    raw.put("Payments", {"Payments": [{
        "Invoice": {"InvoiceID": paid["InvoiceID"]}, "Account": {"Code": "090"}, "Date": "2024-05-10", "Amount": 110,
    }]})

    after_delete = _submit(raw.server, home(raw.server), "delete_payment")

    assert "Payment deleted." in after_delete.text
    assert after_delete.rows("payments")[0][5:] == ["DELETED", ""]
    assert after_delete.rows("invoices")[0][2] == "AUTHORISED"
    after_void = _submit(raw.server, after_delete, "void_invoice")
    assert "Invoice voided." in after_void.text
    assert after_void.rows("invoices")[0][2] == "VOIDED"
    assert raw.get(f"Invoices/{paid['InvoiceID']}").json()["Invoices"][0]["Status"] == "VOIDED"


def test_a_refused_button_shows_xeros_message(raw):
    invoice = raw.put("Invoices", {"Invoices": [{
        "Type": "ACCREC", "Contact": {"Name": "Acme"}, "Status": "AUTHORISED", "Date": "2024-05-01",
        "DueDate": "2024-05-31", "LineItems": [{"Description": "Plan", "UnitAmount": 100, "AccountCode": "200"}],
    }]}).json()["Invoices"][0]
    page = home(raw.server)
    raw.put("Payments", {"Payments": [{
        "Invoice": {"InvoiceID": invoice["InvoiceID"]}, "Account": {"Code": "090"}, "Date": "2024-05-10", "Amount": 5,
    }]})

    refused = _submit(raw.server, page, "void_invoice")

    assert "This document cannot be voided as it has a payment or credit note allocated to it." in refused.text
    assert refused.rows("invoices")[0][2] == "AUTHORISED"


def test_credit_notes_and_refunds_show_up(raw):
    note = raw.put("CreditNotes", {"CreditNotes": [{
        "Type": "ACCRECCREDIT", "Contact": {"Name": "Acme"}, "Status": "AUTHORISED", "Date": "2024-05-03",
        "LineItems": [{"Description": "Sorry", "UnitAmount": 50, "AccountCode": "200"}],
    }]}).json()["CreditNotes"][0]
    raw.put("Payments", {"Payments": [{
        "CreditNote": {"CreditNoteID": note["CreditNoteID"]}, "Account": {"Code": "090"}, "Date": "2024-05-04",
        "Amount": 5,
    }]})

    page = home(raw.server)

    assert page.rows("credit-notes") == [
        ["CN-0001", "Acme", "AUTHORISED", "2024-05-03", "AUD", "55.00", "50.00", "0", "1"]]
    assert page.rows("payments") == [["2024-05-04", "Refund: CN-0001", "5.00", "", "090", "AUTHORISED", "Delete"]]
    assert page.rows("contacts") == [["Acme", "", "", "0.00", "50.00"]]
