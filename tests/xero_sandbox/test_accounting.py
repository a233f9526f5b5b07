"""Xero's accounting rules as the sandbox applies them: contacts, invoices, payments, bank
transactions, overpayments, batches and validation messages."""


def sales_invoice(**overrides) -> dict:
    body = {
        "Type": "ACCREC", "Contact": {"Name": "Acme Pty Ltd"}, "Date": "2024-05-01", "DueDate": "2024-05-15",
        "Status": "AUTHORISED",
        "LineItems": [{"Description": "Plan", "Quantity": 1, "UnitAmount": 100, "AccountCode": "200"}],
    }
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not None}


def messages(element: dict) -> list[str]:
    return [error["Message"] for error in element.get("ValidationErrors", [])]


def create_invoice(raw, **overrides) -> dict:
    response = raw.put("Invoices", {"Invoices": [sales_invoice(**overrides)]})
    assert response.status_code == 200, response.text
    return response.json()["Invoices"][0]


def fail_invoice(raw, **overrides) -> list[str]:
    response = raw.put("Invoices", {"Invoices": [sales_invoice(**overrides)]})
    assert response.status_code == 400, response.text
    return messages(response.json()["Elements"][0])


def pay(raw, invoice_id, amount, code="090", by="InvoiceID"):
    return raw.put("Payments", {"Payments": [
        {"Invoice": {by: invoice_id}, "Account": {"Code": code}, "Date": "2024-05-10", "Amount": amount},
    ]})


def overpayment(raw, amount, contact_name="Acme Pty Ltd"):
    response = raw.put("BankTransactions", {"BankTransactions": [{
        "Type": "RECEIVE-OVERPAYMENT", "Contact": {"Name": contact_name}, "BankAccount": {"Code": "090"},
        "Date": "2024-05-10", "LineItems": [{"Description": "Credit", "LineAmount": amount}],
    }]})
    assert response.status_code == 200, response.text
    return response.json()["BankTransactions"][0]


# Contacts ------------------------------------------------------------------------------------


def test_contact_names_must_be_unique_among_active_contacts(raw):
    assert raw.put("Contacts", {"Contacts": [{"Name": "Acme"}]}).status_code == 200

    response = raw.put("Contacts", {"Contacts": [{"Name": "Acme"}]})

    assert response.status_code == 400
    assert messages(response.json()["Elements"][0]) == [
        "The contact name Acme is already assigned to another contact. "
        "The contact name must be unique across all active contacts."
    ]


def test_contact_numbers_must_be_unique(raw):
    raw.put("Contacts", {"Contacts": [{"Name": "One", "ContactNumber": "C-1"}]})
    response = raw.put("Contacts", {"Contacts": [{"Name": "Two", "ContactNumber": "C-1"}]})
    [message] = messages(response.json()["Elements"][0])
    assert "The contact number C-1 is already assigned to another contact" in message


def test_post_contacts_updates_by_number_then_name_else_creates(raw):
    raw.put("Contacts", {"Contacts": [{"Name": "Acme", "ContactNumber": "C-1"}]})

    by_number = raw.post("Contacts", {"Contacts": [{"ContactNumber": "C-1", "Name": "Acme Renamed"}]}).json()
    by_name = raw.post("Contacts", {"Contacts": [{"Name": "Acme Renamed", "EmailAddress": "a@acme.test"}]}).json()
    created = raw.post("Contacts", {"Contacts": [{"Name": "Brand New"}]}).json()

    contact_id = by_number["Contacts"][0]["ContactID"]
    assert by_name["Contacts"][0]["ContactID"] == contact_id
    assert created["Contacts"][0]["ContactID"] != contact_id
    fetched = raw.get("Contacts/C-1").json()["Contacts"][0]
    assert (fetched["Name"], fetched["EmailAddress"]) == ("Acme Renamed", "a@acme.test")


def test_archived_contacts_are_hidden_unless_asked_for(raw):
    contact = raw.put("Contacts", {"Contacts": [{"Name": "Old Co"}]}).json()["Contacts"][0]
    raw.post(f"Contacts/{contact['ContactID']}", {"Contacts": [{"ContactStatus": "ARCHIVED"}]})

    assert raw.get("Contacts").json()["Contacts"] == []
    archived = raw.get("Contacts", params={"includeArchived": "true"}).json()["Contacts"]
    assert [c["ContactStatus"] for c in archived] == ["ARCHIVED"]
    assert raw.put("Contacts", {"Contacts": [{"Name": "Old Co"}]}).status_code == 200


def test_unknown_contact_is_404(raw):
    assert raw.get("Contacts/00000000-0000-0000-0000-000000000000").status_code == 404
    assert raw.get("Contacts/NO-SUCH-NUMBER").status_code == 404


# Invoices ------------------------------------------------------------------------------------


def test_invoice_totals_use_the_organisations_tax_rates(raw):
    au = create_invoice(raw, LineItems=[
        {"Description": "A", "Quantity": 3, "UnitAmount": 33.33, "AccountCode": "200"},
        {"Description": "B", "Quantity": 1, "UnitAmount": 10, "AccountCode": "270"},
    ])
    nz = raw.for_tenant(raw.server.tenant_ids["Organisation 2"]).put("Invoices", {"Invoices": [sales_invoice()]}).json()

    assert (au["SubTotal"], au["TotalTax"], au["Total"], au["AmountDue"]) == (109.99, 10.0, 119.99, 119.99)
    assert [line["TaxType"] for line in au["LineItems"]] == ["OUTPUT", "EXEMPTOUTPUT"]
    assert nz["Invoices"][0]["Total"] == 115.0 and nz["Invoices"][0]["LineItems"][0]["TaxType"] == "OUTPUT2"


def test_inclusive_amounts_and_explicit_tax_amounts(raw):
    inclusive = create_invoice(raw, LineAmountTypes="Inclusive",
                               LineItems=[{"Description": "A", "UnitAmount": 110, "AccountCode": "200"}])
    explicit = create_invoice(raw, LineItems=[
        {"Description": "A", "UnitAmount": 100, "AccountCode": "200", "TaxAmount": 9.99},
    ])
    no_tax = create_invoice(raw, LineAmountTypes="NoTax")

    assert (inclusive["SubTotal"], inclusive["TotalTax"], inclusive["Total"]) == (100.0, 10.0, 110.0)
    assert (explicit["TotalTax"], explicit["Total"]) == (9.99, 109.99)
    assert (no_tax["TotalTax"], no_tax["Total"]) == (0.0, 100.0)


def test_tax_is_rounded_half_up_per_line(raw):
    invoice = create_invoice(raw, LineItems=[{"Description": "A", "UnitAmount": 0.05, "AccountCode": "200"}])
    assert invoice["LineItems"][0]["TaxAmount"] == 0.01


def test_unit_amounts_keep_four_decimal_places_only_when_the_call_asks_for_them(raw):
    calls = {"Description": "Calls, per minute", "Quantity": 1234, "UnitAmount": 0.01255, "AccountCode": "200"}
    response = raw.put("Invoices", {"Invoices": [sales_invoice(LineItems=[calls])]}, params={"unitdp": 4})
    (kept,) = response.json()["Invoices"]
    assert (kept["LineItems"][0]["UnitAmount"], kept["LineItems"][0]["LineAmount"]) == (0.0126, 15.55)
    path = f"Invoices/{kept['InvoiceID']}"
    assert raw.get(path).json()["Invoices"][0]["LineItems"][0]["UnitAmount"] == 0.01, "answered with 2 unless asked"
    assert raw.get(path, params={"unitdp": 4}).json()["Invoices"][0]["LineItems"][0]["UnitAmount"] == 0.0126
    assert kept["Total"] == 17.11, "15.55 and its tax, 1.56: line amounts and tax at two decimal places"

    rounded = create_invoice(raw, LineItems=[calls])
    assert (rounded["LineItems"][0]["UnitAmount"], rounded["LineItems"][0]["LineAmount"]) == (0.01, 12.34)


def test_unknown_and_archived_account_codes_are_rejected(raw):
    assert fail_invoice(raw, LineItems=[{"Description": "A", "UnitAmount": 1, "AccountCode": "999"}]) == [
        "Account code '999' is not a valid code for this document."
    ]
    assert fail_invoice(raw, LineItems=[{"Description": "A", "UnitAmount": 1, "AccountCode": "210"}]) == [
        "Account code '210' is not a valid code for this document."
    ]
    assert fail_invoice(raw, LineItems=[{"Description": "A", "UnitAmount": 1, "AccountCode": "090"}]) == [
        "Account code '090' is not a valid code for this document."
    ]


def test_tax_types_are_region_specific(raw):
    nz = raw.for_tenant(raw.server.tenant_ids["Organisation 2"])
    response = nz.put("Invoices", {"Invoices": [sales_invoice(LineItems=[
        {"Description": "A", "UnitAmount": 1, "AccountCode": "200", "TaxType": "OUTPUT"},
    ])]})
    assert messages(response.json()["Elements"][0]) == [
        "The TaxType code OUTPUT does not exist or cannot be used for this type of transaction."
    ]


def test_authorised_invoices_need_a_due_date_and_coded_lines(raw):
    assert fail_invoice(raw, DueDate=None) == ["Due Date is required."]
    assert fail_invoice(raw, LineItems=[{"Description": "A", "UnitAmount": 5}]) == [
        "Account code must be specified on each line item"
    ]
    draft = create_invoice(raw, Status="DRAFT", DueDate=None, LineItems=[{"Description": "A", "UnitAmount": 5}])
    assert draft["Status"] == "DRAFT"


def test_invoice_numbers_are_unique_for_sales_invoices(raw):
    create_invoice(raw, InvoiceNumber="INV-9")
    assert fail_invoice(raw, InvoiceNumber="INV-9") == ["Invoice # must be unique."]


def test_sales_invoices_get_numbers_when_none_is_given(raw):
    assert [create_invoice(raw)["InvoiceNumber"] for _ in range(2)] == ["INV-0001", "INV-0002"]


def test_currency_must_be_enabled(raw):
    assert create_invoice(raw, CurrencyCode="NZD")["CurrencyCode"] == "NZD"
    assert fail_invoice(raw, CurrencyCode="USD") == ["Organisation is not subscribed to currency USD"]


def test_contact_can_be_given_by_number_or_created_by_name(raw):
    raw.put("Contacts", {"Contacts": [{"Name": "Known", "ContactNumber": "K-1"}]})

    by_number = create_invoice(raw, Contact={"ContactNumber": "K-1"})
    create_invoice(raw, Contact={"Name": "Newcomer"})

    assert by_number["Contact"]["Name"] == "Known"
    assert raw.get("Contacts", params={"where": 'Name=="Newcomer"'}).json()["Contacts"][0]["IsCustomer"] is True
    assert fail_invoice(raw, Contact={"ContactID": "00000000-0000-0000-0000-000000000000"}) == [
        "The contact with ContactID '00000000-0000-0000-0000-000000000000' could not be found"
    ]


def test_get_invoice_by_id_or_number(raw):
    invoice = create_invoice(raw, InvoiceNumber="ARENA-7")
    assert raw.get("Invoices/ARENA-7").json()["Invoices"][0]["InvoiceID"] == invoice["InvoiceID"]
    assert raw.get(f"Invoices/{invoice['InvoiceID']}").json()["Invoices"][0]["InvoiceNumber"] == "ARENA-7"
    assert raw.get("Invoices/11111111-1111-1111-1111-111111111111").status_code == 404


def test_draft_can_be_authorised_by_number_and_deleted_only_before_approval(raw):
    create_invoice(raw, Status="DRAFT", InvoiceNumber="D-1")
    approved = raw.post("Invoices", {"Invoices": [{"InvoiceNumber": "D-1", "Status": "AUTHORISED"}]}).json()
    assert approved["Invoices"][0]["Status"] == "AUTHORISED"

    refused = raw.post("Invoices/D-1", {"Invoices": [{"Status": "DELETED"}]})
    assert refused.status_code == 400
    assert "Only DRAFT or SUBMITTED invoices can be deleted" in messages(refused.json()["Elements"][0])[0]

    create_invoice(raw, Status="DRAFT", InvoiceNumber="D-2")
    deleted = raw.post("Invoices/D-2", {"Invoices": [{"Status": "DELETED"}]}).json()["Invoices"][0]
    assert (deleted["Status"], deleted["AmountDue"]) == ("DELETED", 0.0)


def test_void_only_without_payments(raw):
    paid_part = create_invoice(raw)
    pay(raw, paid_part["InvoiceID"], 10)
    untouched = create_invoice(raw)

    refused = raw.post(f"Invoices/{paid_part['InvoiceID']}", {"Invoices": [{"Status": "VOIDED"}]})
    voided = raw.post("Invoices", {"Invoices": [{"InvoiceID": untouched["InvoiceID"], "Status": "VOIDED"}]})

    assert messages(refused.json()["Elements"][0]) == [
        "This document cannot be voided as it has a payment or credit note allocated to it."
    ]
    assert voided.json()["Invoices"][0]["Status"] == "VOIDED"
    again = raw.post(f"Invoices/{untouched['InvoiceID']}", {"Invoices": [{"LineItems": []}]})
    assert messages(again.json()["Elements"][0]) == ["This document cannot be edited as it has been voided."]


def test_draft_lines_can_be_replaced(raw):
    draft = create_invoice(raw, Status="DRAFT")
    updated = raw.post(f"Invoices/{draft['InvoiceID']}", {"Invoices": [{"LineItems": [
        {"Description": "Bigger plan", "Quantity": 2, "UnitAmount": 75, "AccountCode": "200"},
    ]}]}).json()["Invoices"][0]
    assert (updated["SubTotal"], updated["Total"]) == (150.0, 165.0)
    assert updated["UpdatedDateUTC"] != draft["UpdatedDateUTC"] or updated["Total"] != draft["Total"]


# Payments ------------------------------------------------------------------------------------


def test_payment_larger_than_amount_due_is_rejected(raw):
    invoice = create_invoice(raw)

    response = pay(raw, invoice["InvoiceID"], 110.01)

    assert response.status_code == 400
    assert messages(response.json()["Elements"][0]) == [
        "Payment amount exceeds the amount outstanding on this document"
    ]
    assert raw.get(f"Invoices/{invoice['InvoiceID']}").json()["Invoices"][0]["AmountPaid"] == 0.0


def test_partial_then_full_payment_marks_the_invoice_paid(raw):
    invoice = create_invoice(raw)
    pay(raw, invoice["InvoiceID"], 60)
    partial = raw.get(f"Invoices/{invoice['InvoiceID']}").json()["Invoices"][0]
    payment = pay(raw, invoice["InvoiceNumber"], 50, by="InvoiceNumber").json()

    paid = raw.get(f"Invoices/{invoice['InvoiceID']}").json()["Invoices"][0]
    assert (partial["Status"], partial["AmountDue"], partial["AmountPaid"]) == ("AUTHORISED", 50.0, 60.0)
    assert payment["Payments"][0]["PaymentType"] == "ACCRECPAYMENT"
    assert (paid["Status"], paid["AmountDue"], len(paid["Payments"])) == ("PAID", 0.0, 2)
    assert paid["FullyPaidOnDate"] == "/Date(1715299200000+0000)/"


def test_payments_need_an_authorised_invoice_and_a_bank_account(raw):
    draft = create_invoice(raw, Status="DRAFT")
    invoice = create_invoice(raw)

    assert messages(pay(raw, draft["InvoiceID"], 1).json()["Elements"][0]) == [
        "Payment can only be made against an AUTHORISED invoice"
    ]
    [to_revenue] = messages(pay(raw, invoice["InvoiceID"], 1, code="200").json()["Elements"][0])
    assert to_revenue.startswith("Payments can only be made to BANK accounts")


def test_deleting_a_payment_reopens_the_invoice(raw):
    invoice = create_invoice(raw)
    payment = pay(raw, invoice["InvoiceID"], 110).json()["Payments"][0]

    deleted = raw.post(f"Payments/{payment['PaymentID']}", {"Status": "DELETED"}).json()["Payments"][0]

    reopened = raw.get(f"Invoices/{invoice['InvoiceID']}").json()["Invoices"][0]
    assert deleted["Status"] == "DELETED"
    assert (reopened["Status"], reopened["AmountDue"], reopened["Payments"]) == ("AUTHORISED", 110.0, [])
    assert raw.get(f"Payments/{payment['PaymentID']}").json()["Payments"][0]["Status"] == "DELETED"


# Bank transactions, overpayments, prepayments -------------------------------------------------


def test_receive_overpayment_creates_credit_for_the_contact(raw):
    transaction = overpayment(raw, 25)

    credit = raw.get(f"Overpayments/{transaction['OverpaymentID']}").json()["Overpayments"][0]
    state = raw.server.org_state()
    assert (credit["Type"], credit["Status"], credit["RemainingCredit"], credit["Total"]) == (
        "RECEIVE-OVERPAYMENT", "AUTHORISED", 25.0, 25.0)
    assert state["contacts"][0]["Credit"] == 25.0


def test_overpayment_lines_must_be_single_and_uncoded(raw):
    two_lines = raw.put("BankTransactions", {"BankTransactions": [{
        "Type": "RECEIVE-OVERPAYMENT", "Contact": {"Name": "Acme"}, "BankAccount": {"Code": "090"},
        "LineItems": [{"Description": "a", "LineAmount": 1}, {"Description": "b", "LineAmount": 1}],
    }]})
    coded = raw.put("BankTransactions", {"BankTransactions": [{
        "Type": "RECEIVE-OVERPAYMENT", "Contact": {"Name": "Acme"}, "BankAccount": {"Code": "090"},
        "LineItems": [{"Description": "a", "LineAmount": 1, "AccountCode": "200"}],
    }]})

    assert messages(two_lines.json()["Elements"][0]) == ["An overpayment must have exactly one line item"]
    assert "must not have an AccountCode" in messages(coded.json()["Elements"][0])[0]


def test_bank_transactions_need_a_bank_account(raw):
    response = raw.put("BankTransactions", {"BankTransactions": [{
        "Type": "RECEIVE", "Contact": {"Name": "Acme"}, "BankAccount": {"Code": "200"},
        "LineItems": [{"Description": "a", "UnitAmount": 1, "AccountCode": "200"}],
    }]})
    assert "BankAccount must be an account of type BANK" in messages(response.json()["Elements"][0])[0]


def test_allocating_an_overpayment_pays_an_invoice(raw):
    credit_id = overpayment(raw, 150)["OverpaymentID"]
    invoice = create_invoice(raw)

    response = raw.put(f"Overpayments/{credit_id}/Allocations", {"Allocations": [
        {"Invoice": {"InvoiceID": invoice["InvoiceID"]}, "Amount": 110, "Date": "2024-05-20"},
    ]})

    assert response.status_code == 200, response.text
    settled = raw.get(f"Invoices/{invoice['InvoiceID']}").json()["Invoices"][0]
    credit = raw.get(f"Overpayments/{credit_id}").json()["Overpayments"][0]
    assert (settled["Status"], settled["AmountCredited"], settled["AmountDue"]) == ("PAID", 110.0, 0.0)
    assert settled["Overpayments"][0]["OverpaymentID"] == credit_id
    assert (credit["RemainingCredit"], credit["Status"], len(credit["Allocations"])) == (40.0, "AUTHORISED", 1)


def test_allocations_cannot_exceed_the_credit_or_the_amount_due(raw):
    credit_id = overpayment(raw, 50)["OverpaymentID"]
    invoice = create_invoice(raw)
    other = create_invoice(raw, Contact={"Name": "Someone Else"})

    too_much_credit = raw.put(f"Overpayments/{credit_id}/Allocations", {"Allocations": [
        {"Invoice": {"InvoiceID": invoice["InvoiceID"]}, "Amount": 60, "Date": "2024-05-20"}]})
    wrong_contact = raw.put(f"Overpayments/{credit_id}/Allocations", {"Allocations": [
        {"Invoice": {"InvoiceID": other["InvoiceID"]}, "Amount": 5, "Date": "2024-05-20"}]})
    small = create_invoice(raw, LineItems=[{"Description": "x", "UnitAmount": 10, "AccountCode": "200"}])
    beyond_due = raw.put(f"Overpayments/{credit_id}/Allocations", {"Allocations": [
        {"Invoice": {"InvoiceID": small["InvoiceID"]}, "Amount": 12, "Date": "2024-05-20"}]})

    assert messages(too_much_credit.json()["Elements"][0]) == [
        "The amount allocated exceeds the remaining credit on this overpayment"]
    assert messages(wrong_contact.json()["Elements"][0]) == [
        "The invoice and the overpayment must belong to the same contact"]
    assert messages(beyond_due.json()["Elements"][0]) == [
        "The amount allocated exceeds the amount outstanding on the invoice"]


def test_receive_prepayment_creates_an_allocatable_prepayment(raw):
    transaction = raw.put("BankTransactions", {"BankTransactions": [{
        "Type": "RECEIVE-PREPAYMENT", "Contact": {"Name": "Acme Pty Ltd"}, "BankAccount": {"Code": "090"},
        "LineItems": [{"Description": "Deposit", "UnitAmount": 110, "AccountCode": "200"}],
        "LineAmountTypes": "Inclusive",
    }]}).json()["BankTransactions"][0]
    invoice = create_invoice(raw)

    raw.put(f"Prepayments/{transaction['PrepaymentID']}/Allocations", {"Allocations": [
        {"Invoice": {"InvoiceID": invoice["InvoiceID"]}, "Amount": 110, "Date": "2024-05-20"}]})

    prepayment = raw.get(f"Prepayments/{transaction['PrepaymentID']}").json()["Prepayments"][0]
    assert (prepayment["Status"], prepayment["RemainingCredit"]) == ("PAID", 0.0)
    assert raw.get(f"Invoices/{invoice['InvoiceID']}").json()["Invoices"][0]["Status"] == "PAID"


def test_reference_is_kept_only_on_receive_and_spend(raw):
    spend = raw.put("BankTransactions", {"BankTransactions": [{
        "Type": "SPEND", "Contact": {"Name": "Ad Agency"}, "BankAccount": {"Code": "091"}, "Reference": "ADS-1",
        "LineItems": [{"Description": "Ads", "UnitAmount": 50, "AccountCode": "400"}],
    }]}).json()["BankTransactions"][0]
    credit = raw.put("BankTransactions", {"BankTransactions": [{
        "Type": "RECEIVE-OVERPAYMENT", "Contact": {"Name": "Acme"}, "BankAccount": {"Code": "090"},
        "Reference": "OP-1", "LineItems": [{"Description": "x", "LineAmount": 5}],
    }]}).json()["BankTransactions"][0]

    assert (spend["Reference"], spend["Total"], spend["LineItems"][0]["TaxType"]) == ("ADS-1", 55.0, "INPUT")
    assert "Reference" not in credit


# Batches ------------------------------------------------------------------------------------


def test_batch_with_summarize_errors_false_reports_every_element(raw):
    response = raw.put("Invoices", {"Invoices": [
        sales_invoice(InvoiceNumber="B-1"),
        sales_invoice(InvoiceNumber="B-2", LineItems=[{"Description": "x", "UnitAmount": 1, "AccountCode": "999"}]),
        sales_invoice(InvoiceNumber="B-3"),
    ]}, params={"summarizeErrors": "false"})

    assert response.status_code == 200
    elements = response.json()["Invoices"]
    assert [e["StatusAttributeString"] for e in elements] == ["OK", "ERROR", "OK"]
    assert elements[1]["HasErrors"] is True and messages(elements[1]) == [
        "Account code '999' is not a valid code for this document."]
    assert sorted(i["InvoiceNumber"] for i in raw.server.org_state()["invoices"]) == ["B-1", "B-3"]


def test_batch_with_summarized_errors_fails_but_still_creates_the_good_elements(raw):
    response = raw.put("Invoices", {"Invoices": [
        sales_invoice(InvoiceNumber="S-1"),
        sales_invoice(InvoiceNumber="S-2", DueDate=None),
    ]})

    body = response.json()
    assert response.status_code == 400
    assert (body["ErrorNumber"], body["Type"], body["Message"]) == (
        10, "ValidationException", "A validation exception occurred")
    assert [e["InvoiceNumber"] for e in body["Elements"]] == ["S-2"]
    assert [i["InvoiceNumber"] for i in raw.server.org_state()["invoices"]] == ["S-1"]


def test_malformed_json_is_a_post_data_error(raw):
    response = raw.call("PUT", "Invoices", headers={"Content-Type": "application/json"}, json=None)
    assert response.status_code == 200
    broken = raw.http.put(f"{raw.server.url}/api.xro/2.0/Contacts", data="{not json", headers={
        "Authorization": f"Bearer {raw.token['access_token']}", "xero-tenant-id": raw.tenant_id,
        "Content-Type": "application/json"})
    assert broken.status_code == 400 and broken.json()["Type"] == "PostDataInvalidException"
    raw.server.clear_violations()
