"""The sandbox's traffic checked against Xero's OpenAPI files: a representative xero-python
workload records no violation, and deliberately broken requests and responses are caught."""
import datetime as dt
from decimal import Decimal

import pytest
import requests
from xero_python.accounting import (
    Account,
    Allocation,
    Allocations,
    BankTransaction,
    BankTransactions,
    Contact,
    Contacts,
    Invoice,
    Invoices,
    LineAmountTypes,
    LineItem,
    Payment,
    PaymentDelete,
    Payments,
)
from xero_python.exceptions import AccountingBadRequestException

from xero_sandbox import conformance
from xero_sandbox.config import SandboxConfig
from xero_sandbox.testing import SandboxServer

from .test_accounting import sales_invoice


def line(amount, code="200", **extra):
    return LineItem(description="Service", quantity=1, unit_amount=Decimal(amount), account_code=code, **extra)


def test_representative_xero_python_workload_conforms(sdk, sandbox_urls, org1, org2):
    api = sdk.accounting
    for tenant in (org1, org2):
        api.get_organisations(tenant)
        api.get_accounts(tenant, where='Status=="ACTIVE"')
        api.get_tax_rates(tenant)
        api.get_currencies(tenant)
    sdk.identity.get_connections()

    contact = api.create_contacts(org1, Contacts(contacts=[Contact(name="Conform Co", contact_number="CF-1")]),
                                  summarize_errors=False).contacts[0]
    api.update_or_create_contacts(org1, Contacts(contacts=[Contact(contact_number="CF-1", email_address="a@b.test")]))
    api.get_contact_by_contact_number(org1, "CF-1")
    api.get_contacts(org1, page=1, where='ContactStatus=="ACTIVE"', include_archived=True, search_term="conform")

    draft = api.create_invoices(org1, Invoices(invoices=[Invoice(
        type="ACCREC", contact=Contact(contact_id=contact.contact_id), status="DRAFT", date=dt.date(2024, 5, 1),
        line_items=[line("100")])]), idempotency_key="cf-1").invoices[0]
    draft.status, draft.due_date = "AUTHORISED", dt.date(2024, 5, 31)
    invoice = api.update_invoice(org1, draft.invoice_id, Invoices(invoices=[draft])).invoices[0]
    api.get_invoices(org1, page=1, page_size=10, statuses=["AUTHORISED"], invoice_numbers=[invoice.invoice_number],
                     if_modified_since=dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc))

    payment = api.create_payments(org1, Payments(payments=[Payment(
        invoice=Invoice(invoice_id=invoice.invoice_id), account=Account(code="090"), date=dt.date(2024, 5, 5),
        amount=Decimal("50"), reference="part")])).payments[0]
    api.delete_payment(org1, payment.payment_id, PaymentDelete(status="DELETED"))
    api.create_payment(org1, Payment(invoice=Invoice(invoice_number=invoice.invoice_number),
                                     account=Account(code="091"), date=dt.date(2024, 5, 6), amount=Decimal("10")))
    api.get_payments(org1, where='Status=="AUTHORISED"')

    txns = api.create_bank_transactions(org1, BankTransactions(bank_transactions=[
        BankTransaction(type="RECEIVE", contact=Contact(contact_id=contact.contact_id),
                        bank_account=Account(code="090"), reference="R-1", line_items=[line("20")]),
        BankTransaction(type="RECEIVE-OVERPAYMENT", contact=Contact(contact_id=contact.contact_id),
                        bank_account=Account(code="090"), line_amount_types=LineAmountTypes.NOTAX,
                        line_items=[LineItem(description="Credit", line_amount=Decimal("30"))]),
        BankTransaction(type="RECEIVE-PREPAYMENT", contact=Contact(contact_id=contact.contact_id),
                        bank_account=Account(code="090"), line_items=[line("40")]),
        BankTransaction(type="SPEND", contact=Contact(name="Supplier"), bank_account=Account(code="091"),
                        line_items=[line("15", code="400")]),
    ]), summarize_errors=False).bank_transactions
    api.get_bank_transactions(org1, where='Reference=="R-1"', page=1)
    api.get_bank_transaction(org1, txns[0].bank_transaction_id)

    api.create_overpayment_allocations(org1, txns[1].overpayment_id, Allocations(allocations=[Allocation(
        invoice=Invoice(invoice_id=invoice.invoice_id), amount=Decimal("30"), date=dt.date(2024, 5, 7))]))
    api.create_prepayment_allocations(org1, txns[2].prepayment_id, Allocations(allocations=[Allocation(
        invoice=Invoice(invoice_id=invoice.invoice_id), amount=Decimal("20"), date=dt.date(2024, 5, 7))]))
    api.get_overpayments(org1, page=1)
    api.get_prepayments(org1)
    api.get_invoice(org1, invoice.invoice_id)

    with pytest.raises(AccountingBadRequestException):
        api.create_invoices(org1, Invoices(invoices=[Invoice(
            type="ACCREC", contact=Contact(contact_id=contact.contact_id), status="AUTHORISED",
            line_items=[line("1", code="999")])]))
    mixed = api.create_invoices(org2, Invoices(invoices=[
        Invoice(type="ACCREC", contact=Contact(name="NZ Co"), status="AUTHORISED", due_date=dt.date(2024, 6, 1),
                line_items=[line("1")]),
        Invoice(type="ACCREC", contact=Contact(name="NZ Co"), status="AUTHORISED", line_items=[line("1")]),
    ]), summarize_errors=False).invoices

    assert [i.status_attribute_string for i in mixed] == ["OK", "ERROR"]
    assert sandbox_urls.violations() == []
    assert len(sandbox_urls.requests_log()) > 30


def test_malformed_request_is_recorded_as_a_violation(raw):
    response = raw.put("Invoices", {"Invoices": [sales_invoice(
        Status="SENT", LineItems=[{"Description": "x", "UnitAmount": "ten", "AccountCode": "200"}])]})

    found = raw.server.violations()
    assert response.status_code == 400
    assert {v["kind"] for v in found} == {"request"}
    errors = " ".join(v["error"] for v in found)
    assert "'ten' is not of type 'number'" in errors and "'SENT' is not one of" in errors
    raw.server.clear_violations()


def test_missing_tenant_header_is_a_request_violation(raw):
    response = requests.get(f"{raw.server.url}/api.xro/2.0/Organisation",
                            headers={"Authorization": f"Bearer {raw.token['access_token']}"}, timeout=5)

    assert response.status_code == 403
    assert "xero-tenant-id" in raw.server.violations()[0]["error"]
    raw.server.clear_violations()


def test_response_validation_is_live():
    xero_example = b'[{"id": "7cb59f93-2964-421d-bb5e-a0f7a4572a44", "createdDateUtc": "2019-12-07T18:46:19.5165400"}]'

    found = conformance.check(
        "GET", "/connections", [], [("Authorization", "Bearer x")], b"", None,
        200, xero_example, "application/json", [],
    )

    assert [v["kind"] for v in found] == ["response"]
    assert "date-time" in found[0]["error"]


def test_connections_emit_rfc3339_dates_with_an_offset(sdk):
    connection = sdk.identity.get_connections()[0]
    assert connection.created_date_utc.utcoffset() == dt.timedelta(0)


def test_validation_is_off_unless_enabled():
    with SandboxServer(SandboxConfig()) as server:
        token = server.connect()
        requests.put(f"{server.url}/api.xro/2.0/Invoices", json={"Invoices": [{"Status": "SENT"}]}, timeout=5,
                     headers={"Authorization": f"Bearer {token['access_token']}",
                              "xero-tenant-id": server.tenant_ids["Organisation 1"]})
        assert server.violations() == []
