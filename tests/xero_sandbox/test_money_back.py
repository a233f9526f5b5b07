"""Money flowing back to customers: credit notes and their allocations, refunds of overpayments and
credit notes, and undoing them (deleting payments, allocations and overpayment transactions)."""
import datetime as dt
from decimal import Decimal

from xero_python.accounting import (
    Allocation,
    Allocations,
    Contact,
    CreditNote,
    CreditNotes,
    Invoice,
    LineItem,
)

from .test_accounting import create_invoice, messages, overpayment


def credit_note(**overrides) -> dict:
    body = {
        "Type": "ACCRECCREDIT", "Contact": {"Name": "Acme Pty Ltd"}, "Date": "2024-05-03", "Status": "AUTHORISED",
        "LineItems": [{"Description": "Refund of plan", "Quantity": 1, "UnitAmount": 50, "AccountCode": "200"}],
    }
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not None}


def create_credit_note(raw, **overrides) -> dict:
    response = raw.put("CreditNotes", {"CreditNotes": [credit_note(**overrides)]})
    assert response.status_code == 200, response.text
    return response.json()["CreditNotes"][0]


def allocate(raw, collection, credit_id, invoice_id, amount):
    return raw.put(f"{collection}/{credit_id}/Allocations", {"Allocations": [
        {"Invoice": {"InvoiceID": invoice_id}, "Amount": amount, "Date": "2024-05-20"}]})


def refund(raw, amount, **target):
    return raw.put("Payments", {"Payments": [
        {**target, "Account": {"Code": "090"}, "Date": "2024-05-21", "Amount": amount, "Reference": "Refund"}]})


def get(raw, collection, record_id) -> dict:
    response = raw.get(f"{collection}/{record_id}")
    assert response.status_code == 200, response.text
    return response.json()[collection][0]


# Credit notes --------------------------------------------------------------------------------


def test_an_authorised_credit_note_is_credit_for_the_contact(raw):
    created = create_credit_note(raw, Reference="May refund")

    fetched = get(raw, "CreditNotes", created["CreditNoteID"])
    assert (fetched["Type"], fetched["Status"], fetched["CreditNoteNumber"]) == (
        "ACCRECCREDIT", "AUTHORISED", "CN-0001")
    assert (fetched["SubTotal"], fetched["TotalTax"], fetched["Total"], fetched["RemainingCredit"]) == (
        50.0, 5.0, 55.0, 55.0)
    assert fetched["Reference"] == "May refund" and fetched["LineItems"][0]["TaxType"] == "OUTPUT"
    [contact] = raw.server.org_state()["contacts"]
    assert contact["Credit"] == 55.0 and contact["IsCustomer"]


def test_credit_note_numbers_are_unique(raw):
    create_credit_note(raw, CreditNoteNumber="CN-9")

    response = raw.put("CreditNotes", {"CreditNotes": [credit_note(CreditNoteNumber="CN-9")]})

    assert response.status_code == 400
    assert messages(response.json()["Elements"][0]) == ["Credit Note # must be unique."]


def test_allocating_a_credit_note_settles_the_invoice(raw):
    invoice = create_invoice(raw)
    note = create_credit_note(raw, LineItems=[{"Description": "x", "UnitAmount": 100, "AccountCode": "200"}])

    first = allocate(raw, "CreditNotes", note["CreditNoteID"], invoice["InvoiceID"], 60)
    second = allocate(raw, "CreditNotes", note["CreditNoteID"], invoice["InvoiceID"], 50)

    assert first.status_code == 200 and second.status_code == 200, second.text
    settled = get(raw, "Invoices", invoice["InvoiceID"])
    used = get(raw, "CreditNotes", note["CreditNoteID"])
    assert (settled["Status"], settled["AmountCredited"], settled["AmountDue"]) == ("PAID", 110.0, 0.0)
    assert [(c["CreditNoteID"], c["AppliedAmount"]) for c in settled["CreditNotes"]] == [
        (note["CreditNoteID"], 60.0), (note["CreditNoteID"], 50.0)]
    assert (used["Status"], used["RemainingCredit"], len(used["Allocations"])) == ("PAID", 0.0, 2)
    assert used["FullyPaidOnDate"] == "/Date(1716163200000+0000)/"
    assert first.json()["Allocations"][0]["CreditNote"]["CreditNoteID"] == note["CreditNoteID"]


def test_credit_note_allocations_follow_the_rules(raw):
    invoice = create_invoice(raw)
    draft = create_credit_note(raw, Status="DRAFT")
    note = create_credit_note(raw)

    not_authorised = allocate(raw, "CreditNotes", draft["CreditNoteID"], invoice["InvoiceID"], 10)
    too_much = allocate(raw, "CreditNotes", note["CreditNoteID"], invoice["InvoiceID"], 60)

    assert messages(not_authorised.json()["Elements"][0]) == [
        "This credit note is DRAFT and has no credit left to allocate"]
    assert messages(too_much.json()["Elements"][0]) == [
        "The amount allocated exceeds the remaining credit on this credit note"]


def test_deleting_a_credit_note_allocation_restores_both_sides(raw):
    invoice = create_invoice(raw)
    note = create_credit_note(raw)
    allocation = allocate(raw, "CreditNotes", note["CreditNoteID"], invoice["InvoiceID"], 55).json()["Allocations"][0]

    response = raw.call("DELETE", f"CreditNotes/{note['CreditNoteID']}/Allocations/{allocation['AllocationID']}")

    assert response.status_code == 200, response.text
    assert response.json()["IsDeleted"] is True and response.json()["Amount"] == 55.0
    assert get(raw, "Invoices", invoice["InvoiceID"])["AmountDue"] == 110.0
    restored = get(raw, "CreditNotes", note["CreditNoteID"])
    assert (restored["Status"], restored["RemainingCredit"], restored["Allocations"]) == ("AUTHORISED", 55.0, [])


def test_credit_note_statuses(raw):
    draft = create_credit_note(raw, Status="DRAFT", CreditNoteNumber="CN-D")
    approved = raw.post(f"CreditNotes/{draft['CreditNoteID']}", {"CreditNotes": [{"Status": "AUTHORISED"}]})
    doomed = create_credit_note(raw, Status="DRAFT")
    deleted = raw.post("CreditNotes", {"CreditNotes": [{"CreditNoteID": doomed["CreditNoteID"], "Status": "DELETED"}]})
    invoice = create_invoice(raw)
    allocate(raw, "CreditNotes", draft["CreditNoteID"], invoice["InvoiceID"], 5)

    refused = raw.post(f"CreditNotes/{draft['CreditNoteID']}", {"CreditNotes": [{"Status": "VOIDED"}]})
    voidable = create_credit_note(raw)
    voided = raw.post(f"CreditNotes/{voidable['CreditNoteID']}", {"CreditNotes": [{"Status": "VOIDED"}]})

    assert approved.json()["CreditNotes"][0]["Status"] == "AUTHORISED"
    assert deleted.json()["CreditNotes"][0]["Status"] == "DELETED"
    assert messages(refused.json()["Elements"][0]) == [
        "This credit note cannot be voided as it has been allocated or refunded."]
    assert (voided.json()["CreditNotes"][0]["Status"], voided.json()["CreditNotes"][0]["RemainingCredit"]) == (
        "VOIDED", 0.0)


def test_post_updates_a_credit_note_by_number(raw):
    created = create_credit_note(raw, Status="DRAFT", CreditNoteNumber="CN-77")

    updated = raw.post("CreditNotes", {"CreditNotes": [{"CreditNoteNumber": "CN-77", "Reference": "Now with ref"}]})

    assert updated.json()["CreditNotes"][0]["CreditNoteID"] == created["CreditNoteID"]
    assert get(raw, "CreditNotes", created["CreditNoteID"])["Reference"] == "Now with ref"


def test_listing_credit_notes_filters_and_pages(raw):
    first = create_credit_note(raw, Status="DRAFT")
    raw.server.advance_clock(60)
    second = create_credit_note(raw)
    since = raw.server.state()["now"]
    raw.server.advance_clock(60)
    third = create_credit_note(raw)

    authorised = raw.get("CreditNotes", params={"where": 'Status=="AUTHORISED"', "order": "CreditNoteNumber DESC"})
    paged = raw.get("CreditNotes", params={"page": 2, "pageSize": 2}).json()
    modified = raw.get("CreditNotes", headers={"If-Modified-Since": since}).json()["CreditNotes"]
    by_id = raw.get("CreditNotes", params={"where": f'CreditNoteID==Guid("{first["CreditNoteID"]}")'})
    no_ids = raw.get("CreditNotes", params={"IDs": first["CreditNoteID"]})

    assert [c["CreditNoteID"] for c in authorised.json()["CreditNotes"]] == [third["CreditNoteID"],
                                                                             second["CreditNoteID"]]
    assert paged["pagination"] == {"page": 2, "pageSize": 2, "pageCount": 2, "itemCount": 3}
    assert [c["CreditNoteID"] for c in modified] == [third["CreditNoteID"]]
    assert [c["CreditNoteID"] for c in by_id.json()["CreditNotes"]] == [first["CreditNoteID"]]
    assert no_ids.status_code == 400 and "IDs" in no_ids.json()["Message"]


def test_credit_note_batches_report_each_element_and_replay_idempotently(raw):
    body = {"CreditNotes": [credit_note(), credit_note(Contact={"ContactID": "00000000-0000-0000-0000-000000000000"})]}
    headers = {"Idempotency-Key": "credit-batch-1"}

    first = raw.put("CreditNotes", body, params={"summarizeErrors": "false"}, headers=headers)
    again = raw.put("CreditNotes", body, params={"summarizeErrors": "false"}, headers=headers)

    statuses = [c["StatusAttributeString"] for c in first.json()["CreditNotes"]]
    assert first.status_code == 200 and statuses == ["OK", "ERROR"]
    assert first.json()["CreditNotes"][1]["HasErrors"] is True
    assert again.json() == first.json()
    assert len(raw.server.org_state()["credit_notes"]) == 1


def test_credit_notes_with_xero_python(sdk, org1):
    invoice = sdk.accounting.create_invoices(org1, {"Invoices": [Invoice(
        type="ACCREC", contact=Contact(name="Py Ltd"), status="AUTHORISED", date=dt.date(2024, 5, 1),
        due_date=dt.date(2024, 5, 31),
        line_items=[LineItem(description="Plan", quantity=1, unit_amount=Decimal("100"), account_code="200")],
    )]}).invoices[0]
    created = sdk.accounting.create_credit_notes(org1, CreditNotes(credit_notes=[CreditNote(
        type="ACCRECCREDIT", contact=Contact(contact_id=invoice.contact.contact_id), status="AUTHORISED",
        date=dt.date(2024, 5, 2),
        line_items=[LineItem(description="Sorry", quantity=1, unit_amount=Decimal("20"), account_code="200")],
    )]), summarize_errors=False).credit_notes[0]

    sdk.accounting.create_credit_note_allocation(org1, created.credit_note_id, Allocations(allocations=[
        Allocation(invoice=Invoice(invoice_id=invoice.invoice_id), amount=Decimal("22"), date=dt.date(2024, 5, 3)),
    ]))

    fetched = sdk.accounting.get_credit_notes(org1, where=f'CreditNoteID==Guid("{created.credit_note_id}")')
    assert fetched.credit_notes[0].remaining_credit == 0
    assert sdk.accounting.get_invoice(org1, invoice.invoice_id).invoices[0].amount_due == Decimal("88")


# Refunds -------------------------------------------------------------------------------------


def test_refunding_an_overpayment_uses_its_credit(raw):
    credit_id = overpayment(raw, 100)["OverpaymentID"]

    response = refund(raw, 40, Overpayment={"OverpaymentID": credit_id})

    assert response.status_code == 200, response.text
    payment = response.json()["Payments"][0]
    assert payment["PaymentType"] == "AROVERPAYMENTPAYMENT" and payment["Amount"] == 40.0
    # As Xero answers: the overpayment sits in the Invoice element, its id as InvoiceID.
    assert (payment["Invoice"]["Type"], payment["Invoice"]["InvoiceID"]) == ("AROVERPAYMENT", credit_id)
    credit = get(raw, "Overpayments", credit_id)
    assert (credit["RemainingCredit"], credit["Status"]) == (60.0, "AUTHORISED")
    assert [(p["PaymentID"], p["Amount"]) for p in credit["Payments"]] == [(payment["PaymentID"], 40.0)]
    assert raw.server.org_state()["contacts"][0]["Credit"] == 60.0


def test_a_refund_cannot_exceed_the_remaining_credit(raw):
    credit_id = overpayment(raw, 100)["OverpaymentID"]
    refund(raw, 100, Overpayment={"OverpaymentID": credit_id})

    again = refund(raw, 1, Overpayment={"OverpaymentID": credit_id})
    too_much = refund(raw, 101, Overpayment={"OverpaymentID": overpayment(raw, 100)["OverpaymentID"]})

    assert get(raw, "Overpayments", credit_id)["Status"] == "PAID"
    assert messages(again.json()["Elements"][0]) == [
        "A refund can only be made from AUTHORISED credit (this one is PAID)"]
    assert messages(too_much.json()["Elements"][0]) == [
        "Payment amount exceeds the amount outstanding on this document"]


def test_deleting_a_refund_gives_the_credit_back(raw):
    credit_id = overpayment(raw, 100)["OverpaymentID"]
    payment = refund(raw, 100, Overpayment={"OverpaymentID": credit_id}).json()["Payments"][0]

    deleted = raw.post(f"Payments/{payment['PaymentID']}", {"Status": "DELETED"})

    assert deleted.json()["Payments"][0]["Status"] == "DELETED"
    credit = get(raw, "Overpayments", credit_id)
    assert (credit["Status"], credit["RemainingCredit"], credit["Payments"]) == ("AUTHORISED", 100.0, [])


def test_refunding_a_credit_note_by_id_or_number(raw):
    note = create_credit_note(raw, CreditNoteNumber="CN-R1")

    by_id = refund(raw, 5, CreditNote={"CreditNoteID": note["CreditNoteID"]}).json()["Payments"][0]
    by_number = refund(raw, 50, CreditNote={"CreditNoteNumber": "CN-R1"}).json()["Payments"][0]

    assert by_id["PaymentType"] == "ARCREDITPAYMENT"
    assert (by_number["Invoice"]["Type"], by_number["Invoice"]["InvoiceNumber"]) == ("ACCRECCREDIT", "CN-R1")
    used = get(raw, "CreditNotes", note["CreditNoteID"])
    assert (used["Status"], used["RemainingCredit"], len(used["Payments"])) == ("PAID", 0.0, 2)
    raw.server.delete_payment(by_id["PaymentID"])
    assert get(raw, "CreditNotes", note["CreditNoteID"])["RemainingCredit"] == 5.0
    assert [p["Status"] for p in raw.get("Payments").json()["Payments"]] == ["DELETED", "AUTHORISED"]


# Undoing overpayments ------------------------------------------------------------------------


def delete_transaction(raw, transaction: dict):
    """As the spec wants it (Type, LineItems and BankAccount are required): the transaction as fetched."""
    return raw.post(f"BankTransactions/{transaction['BankTransactionID']}", {"BankTransactions": [
        dict(transaction, Status="DELETED")]})


def test_deleting_an_overpayment_transaction_voids_its_credit(raw):
    transaction = overpayment(raw, 30)
    path = f"BankTransactions/{transaction['BankTransactionID']}"
    required = {"Type": "RECEIVE-OVERPAYMENT", "BankAccount": {"Code": "090"},
                "LineItems": [{"Description": "Credit", "LineAmount": 30}]}

    changed = raw.post(path, {"BankTransactions": [dict(required, Type="RECEIVE", Status="DELETED")]})
    response = raw.post(path, {"BankTransactions": [dict(required, Status="DELETED")]})

    assert messages(changed.json()["Elements"][0]) == ["The sandbox cannot edit Type on a bank transaction"]
    assert response.status_code == 200, response.text
    credit = get(raw, "Overpayments", transaction["OverpaymentID"])
    assert (credit["Status"], credit["RemainingCredit"]) == ("VOIDED", 0.0)
    assert raw.server.org_state()["contacts"][0]["Credit"] == 0


def test_an_allocated_or_refunded_overpayment_transaction_cannot_be_deleted(raw):
    allocated, refunded = overpayment(raw, 30), overpayment(raw, 30)
    invoice = create_invoice(raw)
    allocation = allocate(raw, "Overpayments", allocated["OverpaymentID"], invoice["InvoiceID"], 10).json()
    payment = refund(raw, 10, Overpayment={"OverpaymentID": refunded["OverpaymentID"]}).json()["Payments"][0]

    def delete(transaction):
        return delete_transaction(raw, transaction)

    assert messages(delete(allocated).json()["Elements"][0]) == [
        "This transaction cannot be deleted as its credit has been allocated to invoices"]
    assert messages(delete(refunded).json()["Elements"][0]) == [
        "This transaction cannot be deleted as its credit has been refunded"]
    raw.call("DELETE", f"Overpayments/{allocated['OverpaymentID']}/Allocations/"
                       f"{allocation['Allocations'][0]['AllocationID']}")
    raw.post(f"Payments/{payment['PaymentID']}", {"Status": "DELETED"})
    assert delete(allocated).status_code == 200 and delete(refunded).status_code == 200


def test_deleting_an_overpayment_allocation_makes_the_invoice_owed_again(raw):
    credit_id = overpayment(raw, 150)["OverpaymentID"]
    invoice = create_invoice(raw)
    allocation = allocate(raw, "Overpayments", credit_id, invoice["InvoiceID"], 110).json()["Allocations"][0]
    assert get(raw, "Invoices", invoice["InvoiceID"])["Status"] == "PAID"

    response = raw.call("DELETE", f"Overpayments/{credit_id}/Allocations/{allocation['AllocationID']}")

    assert response.status_code == 200 and response.json()["IsDeleted"] is True
    reopened = get(raw, "Invoices", invoice["InvoiceID"])
    assert (reopened["Status"], reopened["AmountDue"], reopened["AmountCredited"]) == ("AUTHORISED", 110.0, 0.0)
    assert get(raw, "Overpayments", credit_id)["RemainingCredit"] == 150.0
    gone = raw.call("DELETE", f"Overpayments/{credit_id}/Allocations/{allocation['AllocationID']}")
    assert gone.status_code == 404


# Spend money and finding lost overpayments ---------------------------------------------------


def test_spend_money_keeps_reference_and_contact(raw):
    spent = raw.put("BankTransactions", {"BankTransactions": [{
        "Type": "SPEND", "Contact": {"Name": "Ad Agency"}, "BankAccount": {"Code": "090"}, "Reference": "REFUND-7",
        "Date": "2024-05-22", "LineItems": [{"Description": "Refund", "UnitAmount": 20, "AccountCode": "400"}],
    }]}).json()["BankTransactions"][0]

    by_reference = raw.get("BankTransactions", params={"where": 'Reference=="REFUND-7" AND Type=="SPEND"'})
    by_contact = raw.get("BankTransactions", params={
        "where": f'Contact.ContactID==Guid("{spent["Contact"]["ContactID"]}")'})

    assert [t["BankTransactionID"] for t in by_reference.json()["BankTransactions"]] == [spent["BankTransactionID"]]
    assert [t["Reference"] for t in by_contact.json()["BankTransactions"]] == ["REFUND-7"]
    supplier = raw.get(f"Contacts/{spent['Contact']['ContactID']}").json()["Contacts"][0]
    assert supplier["IsSupplier"] is True


def test_overpayments_are_found_by_contact_with_their_line_descriptions(raw):
    mine = overpayment(raw, 12.5, contact_name="Acme")
    overpayment(raw, 99, contact_name="Someone Else")
    contact_id = mine["Contact"]["ContactID"]

    response = raw.get("Overpayments", params={"where": f'Contact.ContactID==Guid("{contact_id}")'})
    by_reference = raw.get("Overpayments", params={"References": "Credit"})

    [found] = response.json()["Overpayments"]
    assert found["OverpaymentID"] == mine["OverpaymentID"]
    assert [(line["Description"], line["LineAmount"]) for line in found["LineItems"]] == [("Credit", 12.5)]
    assert "Reference" not in found
    assert by_reference.json()["Overpayments"] == []
