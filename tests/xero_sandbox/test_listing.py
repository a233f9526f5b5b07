"""GET endpoints: paging, where filters, IDs/InvoiceNumbers/Statuses filters, order, If-Modified-Since."""
import datetime as dt

from xero_python.accounting import Account, Contact, Invoice, Invoices, LineItem, Payment, Payments

from .test_accounting import create_invoice


def names(response, collection="Contacts") -> list[str]:
    assert response.status_code == 200, response.text
    return [item.get("Name") or item.get("InvoiceNumber") for item in response.json()[collection]]


def add_contacts(raw, count, prefix="Customer"):
    contacts = [{"Name": f"{prefix} {i:03d}", "ContactNumber": f"{prefix[0]}-{i}"} for i in range(1, count + 1)]
    response = raw.put("Contacts", {"Contacts": contacts})
    assert response.status_code == 200, response.text
    return response.json()["Contacts"]


def test_paging_is_one_based_with_pagination_details(raw):
    add_contacts(raw, 5)

    first = raw.get("Contacts", params={"page": 1, "pageSize": 2}).json()
    last = raw.get("Contacts", params={"page": 3, "pageSize": 2}).json()
    beyond = raw.get("Contacts", params={"page": 4, "pageSize": 2}).json()

    assert first["pagination"] == {"page": 1, "pageSize": 2, "pageCount": 3, "itemCount": 5}
    assert [c["Name"] for c in first["Contacts"]] == ["Customer 001", "Customer 002"]
    assert [c["Name"] for c in last["Contacts"]] == ["Customer 005"]
    assert beyond["Contacts"] == []


def test_default_page_size_is_100_and_page_size_is_capped_at_1000(raw):
    add_contacts(raw, 105)

    assert len(raw.get("Contacts", params={"page": 1}).json()["Contacts"]) == 100
    assert len(raw.get("Contacts", params={"page": 2}).json()["Contacts"]) == 5
    assert raw.get("Contacts", params={"page": 1, "pageSize": 5000}).json()["pagination"]["pageSize"] == 1000
    assert "pagination" not in raw.get("Contacts").json()
    assert raw.get("Contacts", params={"page": 0}).status_code == 400


def test_where_filters_on_strings_guids_numbers_and_dates(raw):
    contacts = add_contacts(raw, 3)
    create_invoice(raw, Contact={"ContactID": contacts[0]["ContactID"]}, InvoiceNumber="W-1")
    create_invoice(raw, Contact={"ContactID": contacts[1]["ContactID"]}, InvoiceNumber="W-2", Date="2024-06-01",
                   LineItems=[{"Description": "Big", "UnitAmount": 500, "AccountCode": "200"}])
    create_invoice(raw, Contact={"ContactID": contacts[1]["ContactID"]}, InvoiceNumber="W-3", Status="DRAFT")

    def where(clause, collection="Invoices"):
        return names(raw.get(collection, params={"where": clause}), collection)

    assert where('ContactNumber=="C-2"', "Contacts") == ["Customer 002"]
    clause = 'Name.StartsWith("customer 00") AND Name!="Customer 001"'
    assert where(clause, "Contacts") == ["Customer 002", "Customer 003"]
    assert where(f'Contact.ContactID==Guid("{contacts[1]["ContactID"]}")') == ["W-2", "W-3"]
    assert where('Type=="ACCREC" && Status=="AUTHORISED"') == ["W-1", "W-2"]
    assert where('Total>500') == ["W-2"]
    assert where('Date>=DateTime(2024,06,01)') == ["W-2"]
    assert where('(Status=="DRAFT" OR InvoiceNumber=="W-1")') == ["W-1", "W-3"]


def test_where_clause_that_cannot_be_parsed_is_a_400(raw):
    response = raw.get("Invoices", params={"where": 'Status = "PAID"'})
    assert response.status_code == 400 and "where clause" in response.json()["Message"]


def test_accounts_where_as_the_app_uses_it(raw):
    active_revenue = raw.get("Accounts", params={"where": 'Status=="ACTIVE" AND Type=="REVENUE"'}).json()["Accounts"]
    banks = raw.get("Accounts", params={"where": 'Type=="BANK"'}).json()["Accounts"]

    assert [a["Code"] for a in active_revenue] == ["200", "201", "202", "260", "270"]
    numbered = [(a["Code"], a["BankAccountNumber"] is not None) for a in banks]
    assert numbered == [("090", True), ("091", True), ("092", True)]


def test_invoice_filters_by_ids_numbers_contacts_and_statuses(raw):
    first = create_invoice(raw, InvoiceNumber="F-1")
    create_invoice(raw, InvoiceNumber="F-2", Status="DRAFT", Contact={"Name": "Other"})
    create_invoice(raw, InvoiceNumber="F-3")

    assert names(raw.get("Invoices", params={"IDs": first["InvoiceID"]}), "Invoices") == ["F-1"]
    assert names(raw.get("Invoices", params={"InvoiceNumbers": "F-3,F-1"}), "Invoices") == ["F-1", "F-3"]
    by_contact = raw.get("Invoices", params={"ContactIDs": first["Contact"]["ContactID"]})
    assert names(by_contact, "Invoices") == ["F-1", "F-3"]
    assert names(raw.get("Invoices", params={"Statuses": "DRAFT"}), "Invoices") == ["F-2"]
    assert names(raw.get("Invoices", params={"order": "InvoiceNumber DESC"}), "Invoices") == ["F-3", "F-2", "F-1"]


def test_if_modified_since_returns_records_updated_since(raw):
    old = add_contacts(raw, 1, prefix="Old")[0]
    raw.server.advance_clock(60)
    since = raw.server.state()["now"]
    add_contacts(raw, 1, prefix="New")

    assert names(raw.get("Contacts", headers={"If-Modified-Since": since})) == ["New 001"]
    raw.post(f"Contacts/{old['ContactID']}", {"Contacts": [{"EmailAddress": "old@example.com"}]})
    assert names(raw.get("Contacts", headers={"If-Modified-Since": since})) == ["Old 001", "New 001"]


def test_http_date_if_modified_since_works_but_breaks_the_spec(raw):
    add_contacts(raw, 2)

    response = raw.get("Contacts", headers={"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"})

    assert len(response.json()["Contacts"]) == 2
    assert ["If-Modified-Since" in v["error"] for v in raw.server.violations()] == [True]
    raw.server.clear_violations()


def test_xero_python_polls_payments_with_if_modified_since(sdk, org1):
    before = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    api = sdk.accounting
    invoice = _authorised_invoice(sdk, org1)
    api.create_payments(org1, Payments(payments=[Payment(
        invoice=Invoice(invoice_id=invoice.invoice_id), account=Account(code="090"), amount=10,
        date=dt.date(2024, 5, 2))]))

    recent = api.get_payments(org1, if_modified_since=before).payments
    future = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5)
    later = api.get_payments(org1, if_modified_since=future).payments

    assert [p.amount for p in recent] == [10] and later == []


def _authorised_invoice(sdk, tenant_id):
    return sdk.accounting.create_invoices(tenant_id, Invoices(invoices=[Invoice(
        type="ACCREC", contact=Contact(name="Poller"), status="AUTHORISED", date=dt.date(2024, 5, 1),
        due_date=dt.date(2024, 5, 30), line_items=[LineItem(description="x", unit_amount=100, account_code="200")],
    )])).invoices[0]
