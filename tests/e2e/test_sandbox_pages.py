"""The Xero sandbox's pages in Chromium at 1024 px and 1440 px: what apps sent fits (tables scroll inside their box
at most, the buttons "as a person in Xero" stay in view), records open on their own page, and every page has a
favicon."""

import pytest
import requests
from playwright.sync_api import Page, expect

from .layout import WIDTHS, assert_fits, assert_tables_fit, at_width

pytestmark = [pytest.mark.xdist_group("browser")]


class Books:
    """Organisation 1's books filled over the API as Arena fills them (demo-like names, money in and out)."""

    def __init__(self, sandbox):
        self.url, self.http = sandbox.url, requests.Session()
        token = sandbox.connect()
        tenant_id = sandbox.organisations()[0]["tenant_id"]
        self.http.headers.update({
            "Authorization": f"Bearer {token['access_token']}", "xero-tenant-id": tenant_id,
            "Accept": "application/json",
        })

    def put(self, collection: str, records: list[dict]) -> list[dict]:
        response = self.http.put(f"{self.url}/api.xro/2.0/{collection}", json={collection: records}, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()[collection]


def fill(sandbox) -> None:
    books = Books(sandbox)
    names = ["Jane Citizen", "Bright Sparks Pty Ltd", "Harbour Cafe and Function Rooms of Circular Quay"]
    contacts = books.put("Contacts", [
        {"Name": name, "ContactNumber": f"C-100{n}", "EmailAddress": f"accounts{n}@example.com"}
        for n, name in enumerate(names, start=1)
    ])
    invoices = books.put("Invoices", [
        {
            "Type": "ACCREC", "Contact": {"ContactID": contact["ContactID"]}, "InvoiceNumber": f"INV-00000{n}",
            "Status": "AUTHORISED", "Date": "2026-11-17", "DueDate": "2026-12-01", "CurrencyCode": "AUD",
            "LineItems": [{"Description": "Mobile plan, monthly", "Quantity": 1, "UnitAmount": 1049.00,
                           "AccountCode": "200", "TaxType": "OUTPUT"}],
        }
        for n, contact in enumerate(contacts, start=1)
    ])
    books.put("Payments", [{
        "Invoice": {"InvoiceID": invoices[0]["InvoiceID"]}, "Account": {"Code": "090"}, "Date": "2026-12-07",
        "Amount": 1153.90, "Reference": "RCT-000001 INV-000001",
    }])
    books.put("BankTransactions", [{
        "Type": "RECEIVE-OVERPAYMENT", "Contact": {"ContactID": contacts[2]["ContactID"]},
        "BankAccount": {"Code": "090"}, "Date": "2026-12-07",
        "LineItems": [{"Description": "Credit from receipt RCT-000002", "LineAmount": 20.00}],
    }])


@pytest.mark.parametrize("width", WIDTHS)
def test_the_sandbox_page_fits_and_its_buttons_stay_in_view(page: Page, xero_sandbox, width):
    fill(xero_sandbox)
    at_width(page, width)
    page.goto(xero_sandbox.url + "/")
    organisation_1 = page.locator(f"#org-{xero_sandbox.organisations()[0]['tenant_id']}")
    expect(organisation_1.get_by_role("button", name="Void")).to_have_count(2)  # INV-000001 is paid
    assert_fits(page, organisation_1.get_by_role("button", name="Void"), organisation_1.get_by_role("button"))
    assert_tables_fit(page)
    icon = page.locator("link[rel=icon]").get_attribute("href")
    assert page.request.get(xero_sandbox.url + icon).ok and page.request.get(xero_sandbox.url + "/favicon.ico").ok

    # A record opens on its own page (the one Xero's deep links go to), which fits too.
    organisation_1.get_by_role("link", name="INV-000002").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Invoice INV-000002")
    expect(page.locator("dl.facts")).to_contain_text("Bright Sparks Pty Ltd")
    assert_fits(page)

    page.go_back()
    organisation_1.get_by_role("button", name="Void invoice INV-000002").click()
    expect(page.get_by_role("status")).to_have_text("Invoice voided.")
    assert_fits(page)
