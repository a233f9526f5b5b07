"""A person in Xero applies a payment to an invoice (a reconciled bank deposit, a receipt entered by hand)
and deletes it: Xero's rules, the invoice's webhook events, and GET /Payments with If-Modified-Since as an
app polling for them sees it."""
import pytest
import requests

from xero_sandbox.testing import EditRefused
from xero_sandbox.wire import parse_datetime

from .test_accounting import create_invoice
from .test_webhooks import receiver, summary  # noqa: F401 (the receiver fixture)


def test_a_person_pays_an_invoice_into_a_bank_account_on_a_date(raw):
    invoice = create_invoice(raw, InvoiceNumber="INV-7")

    payment = raw.server.apply_payment("INV-7", "60.50", account="090", date="2024-05-11", reference="Deposit 88")

    fetched = raw.get(f"Invoices/{invoice['InvoiceID']}").json()["Invoices"][0]
    assert (fetched["AmountPaid"], fetched["AmountDue"], fetched["Status"]) == (60.5, 49.5, "AUTHORISED")
    listed = raw.get(f"Payments/{payment['PaymentID']}").json()["Payments"][0]
    assert (listed["Amount"], listed["Reference"], listed["Account"]["Code"], listed["Invoice"]["InvoiceNumber"]) == (
        60.5, "Deposit 88", "090", "INV-7")
    assert listed["Date"] == payment["Date"] and "1715385600000" in listed["Date"]  # 11 May 2024
    assert raw.server.violations() == []


def test_a_person_pays_into_the_first_bank_account_today_by_default(raw):
    invoice = create_invoice(raw)

    payment = raw.server.apply_payment(invoice["InvoiceID"], 110)

    assert (payment["Amount"], payment["Account"]["Code"], payment["Status"]) == (110.0, "090", "AUTHORISED")
    assert raw.get(f"Invoices/{invoice['InvoiceID']}").json()["Invoices"][0]["Status"] == "PAID"


@pytest.mark.parametrize(("amount", "message"), [
    ("110.01", "Payment amount exceeds the amount outstanding on this document"),
    ("0", "Payment amount must be greater than zero"),
])
def test_a_person_is_held_to_xeros_rules(raw, amount, message):
    invoice = create_invoice(raw)

    with pytest.raises(EditRefused) as refused:
        raw.server.apply_payment(invoice["InvoiceID"], amount)

    assert refused.value.status == 400 and refused.value.messages == [message]
    assert raw.get("Payments").json()["Payments"] == []


def test_paying_an_unknown_invoice_is_not_found(raw):
    with pytest.raises(EditRefused) as refused:
        raw.server.apply_payment("INV-404", 10)
    assert refused.value.status == 404


def test_paying_and_deleting_send_the_invoice_events_xero_sends(raw, receiver):  # noqa: F811
    invoice = create_invoice(raw)
    raw.server.flush_webhooks()

    payment = raw.server.apply_payment(invoice["InvoiceID"], 50)
    raw.server.delete_payment(payment["PaymentID"])
    raw.server.flush_webhooks()

    assert summary(receiver.events[2:]) == [
        ("INVOICE", "UPDATE", invoice["InvoiceID"]),  # paid by a person
        ("INVOICE", "UPDATE", invoice["InvoiceID"]),  # that payment deleted
    ]


def test_payments_changed_since_a_moment_are_listed_deleted_ones_included(raw):
    first = create_invoice(raw, InvoiceNumber="INV-1")
    second = create_invoice(raw, InvoiceNumber="INV-2")
    early = raw.server.apply_payment(first["InvoiceID"], 10)
    raw.server.advance_clock(60)
    late = raw.server.apply_payment(second["InvoiceID"], 20)
    since = late["UpdatedDateUTC"]

    def changed(moment):
        response = raw.get("Payments", params={"order": "UpdatedDateUTC ASC", "page": 1},
                           headers={"If-Modified-Since": moment})
        assert response.status_code == 200, response.text
        return [p["PaymentID"] for p in response.json()["Payments"]]

    moment = parse_datetime(since).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert changed(moment) == [late["PaymentID"]]
    raw.server.advance_clock(60)
    raw.server.delete_payment(early["PaymentID"])
    deleted = changed(moment)
    assert deleted == [late["PaymentID"], early["PaymentID"]]  # the deletion changed it, so it is listed again
    assert raw.get(f"Payments/{early['PaymentID']}").json()["Payments"][0]["Status"] == "DELETED"
    assert raw.server.violations() == []


def test_a_person_credits_an_invoice_allocated_up_to_what_it_owes_the_rest_credit(raw, receiver):  # noqa: F811
    invoice = create_invoice(raw)  # 110.00
    raw.server.apply_payment(invoice["InvoiceID"], 100)
    raw.server.flush_webhooks()

    note = raw.server.enter_credit_note(invoice["InvoiceID"], "25.00", date="2024-05-12", reference="Goodwill")
    raw.server.flush_webhooks()

    assert (note["Type"], note["Status"], note["Total"], note["RemainingCredit"]) == ("ACCRECCREDIT", "AUTHORISED",
                                                                                       25.0, 15.0)
    (allocation,) = note["Allocations"]
    assert (allocation["Invoice"]["InvoiceID"], allocation["Amount"]) == (invoice["InvoiceID"], 10.0)
    fetched = raw.get(f"Invoices/{invoice['InvoiceID']}").json()["Invoices"][0]
    assert (fetched["Status"], fetched["AmountCredited"], fetched["AmountDue"]) == ("PAID", 10.0, 0.0)
    assert ("INVOICE", "UPDATE", invoice["InvoiceID"]) in summary(receiver.events)
    assert raw.server.violations() == []


def test_a_person_enters_a_prepayment_for_a_contact_and_it_is_listed_as_changed(raw):
    invoice = create_invoice(raw)

    prepayment = raw.server.enter_prepayment(invoice["Contact"]["ContactID"], "80.00", account="090")

    assert (prepayment["Type"], prepayment["Total"], prepayment["RemainingCredit"]) == (
        "RECEIVE-PREPAYMENT", 80.0, 80.0)
    listed = raw.get("Prepayments", headers={"If-Modified-Since": "2000-01-01T00:00:00Z"}).json()["Prepayments"]
    assert [p["PrepaymentID"] for p in listed] == [prepayment["PrepaymentID"]]
    assert raw.server.violations() == []


def test_the_page_credits_an_invoice_and_receives_money_ahead(raw):
    invoice = create_invoice(raw)
    tenant_id = raw.server.organisations()[0]["tenant_id"]
    page = requests.get(f"{raw.server.url}/", timeout=10).text
    assert 'value="enter_credit_note"' in page and 'value="enter_prepayment"' in page

    credited = requests.post(f"{raw.server.url}/edits", data={
        "tenant_id": tenant_id, "action": "enter_credit_note", "invoice": invoice["InvoiceID"], "amount": "10"},
        timeout=10, allow_redirects=False)
    received = requests.post(f"{raw.server.url}/edits", data={
        "tenant_id": tenant_id, "action": "enter_prepayment", "contact": invoice["Contact"]["ContactID"],
        "amount": "5", "account": "090"}, timeout=10, allow_redirects=False)

    assert "notice=Credit+note+entered." in credited.headers["Location"]
    assert "notice=Prepayment+entered." in received.headers["Location"]
    state = raw.server.org_state(tenant_id)
    assert (len(state["credit_notes"]), len(state["prepayments"])) == (1, 1)
