"""The real xero-python SDK and requests-oauthlib, unmodified, complete Xero's flows against the sandbox."""
import datetime as dt
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import jwt
from requests_oauthlib import OAuth2Session
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
    Payments,
)

from .conftest import make_sdk

SCOPES = [
    "openid", "profile", "email", "offline_access", "accounting.invoices", "accounting.payments",
    "accounting.banktransactions", "accounting.contacts", "accounting.settings.read",
]


def test_requests_oauthlib_completes_the_oauth_flow_with_pkce(sandbox_urls, org1, org2):
    server = sandbox_urls
    oauth = OAuth2Session(server.client_id, redirect_uri=server.redirect_uri, scope=SCOPES, pkce="S256")
    authorize_url, state = oauth.authorization_url(server.url + "/identity/connect/authorize")

    callback = server.consent(authorize_url, tenant_ids=[org1, org2])
    token = oauth.fetch_token(server.url + "/connect/token", authorization_response=callback,
                              client_secret=server.client_secret)

    assert parse_qs(urlsplit(callback).query)["state"] == [state]
    assert token["token_type"] == "Bearer" and token["refresh_token"] and token["id_token"]
    claims = jwt.decode(token["access_token"], options={"verify_signature": False})
    assert set(claims["scope"]) == set(SCOPES)
    sdk = make_sdk(server, dict(token))
    connections = sdk.identity.get_connections(auth_event_id=claims["authentication_event_id"])
    assert sorted(c.tenant_name for c in connections) == ["Organisation 1", "Organisation 2"]
    assert {str(c.tenant_id) for c in connections} == {org1, org2}
    assert all(c.tenant_type == "ORGANISATION" for c in connections)


def test_cancel_on_the_consent_page_redirects_with_access_denied(sandbox_urls):
    server = sandbox_urls
    oauth = OAuth2Session(server.client_id, redirect_uri=server.redirect_uri, scope=SCOPES, pkce="S256")
    authorize_url, state = oauth.authorization_url(server.url + "/identity/connect/authorize")

    callback = server.consent(authorize_url, action="cancel")

    assert parse_qs(urlsplit(callback).query) == {"error": ["access_denied"], "state": [state]}


def test_sdk_reads_settings_of_each_region(sdk, org1, org2):
    au_rates = {r.tax_type: r.effective_rate for r in sdk.accounting.get_tax_rates(org1).tax_rates}
    nz_rates = {r.tax_type: r.effective_rate for r in sdk.accounting.get_tax_rates(org2).tax_rates}
    revenue = sdk.accounting.get_accounts(org1, where='Status=="ACTIVE" AND Type=="REVENUE"').accounts
    organisation = sdk.accounting.get_organisations(org2).organisations[0]
    currencies = [c.code.value for c in sdk.accounting.get_currencies(org1).currencies]

    assert au_rates["OUTPUT"] == Decimal("10") and "OUTPUT2" not in au_rates
    assert nz_rates["OUTPUT2"] == Decimal("15") and "OUTPUT" not in nz_rates
    assert sorted(a.code for a in revenue) == ["200", "201", "202", "260", "270"]
    assert (organisation.name, organisation.base_currency.value) == ("Organisation 2", "NZD")
    assert currencies == ["AUD", "NZD"]


def test_sdk_creates_contact_invoice_payment_and_overpayment(sdk, org1):
    api = sdk.accounting
    contact = api.create_contacts(org1, Contacts(contacts=[
        Contact(name="Acme Pty Ltd", contact_number="CUST-1", email_address="billing@acme.test"),
    ])).contacts[0]
    invoice = api.create_invoices(org1, Invoices(invoices=[Invoice(
        type="ACCREC", contact=Contact(contact_id=contact.contact_id), status="AUTHORISED",
        date=dt.date(2024, 5, 1), due_date=dt.date(2024, 5, 15), invoice_number="ARENA-1001",
        line_amount_types=LineAmountTypes.EXCLUSIVE,
        line_items=[LineItem(description="Hosting", quantity=2, unit_amount=Decimal("49.95"), account_code="200",
                             tax_type="OUTPUT")],
    )]), summarize_errors=False).invoices[0]

    totals = (invoice.sub_total, invoice.total_tax, invoice.total)
    assert totals == (Decimal("99.9"), Decimal("9.99"), Decimal("109.89"))
    assert invoice.status == "AUTHORISED" and invoice.date == dt.date(2024, 5, 1)

    payment = api.create_payments(org1, Payments(payments=[Payment(
        invoice=Invoice(invoice_id=invoice.invoice_id), account=Account(code="090"),
        date=dt.date(2024, 5, 10), amount=Decimal("109.89"), reference="Card 4242",
    )])).payments[0]
    overpayment_txn = api.create_bank_transactions(org1, BankTransactions(bank_transactions=[BankTransaction(
        type="RECEIVE-OVERPAYMENT", contact=Contact(contact_id=contact.contact_id),
        bank_account=Account(code="090"), date=dt.date(2024, 5, 10), line_amount_types=LineAmountTypes.NOTAX,
        line_items=[LineItem(description="Overpayment", line_amount=Decimal("20.11"))],
    )])).bank_transactions[0]

    paid = api.get_invoice(org1, invoice.invoice_id).invoices[0]
    assert payment.amount == Decimal("109.89") and paid.status == "PAID" and paid.amount_due == 0
    assert paid.fully_paid_on_date == dt.date(2024, 5, 10)
    overpayment = api.get_overpayment(org1, overpayment_txn.overpayment_id).overpayments[0]
    assert overpayment.remaining_credit == Decimal("20.11") and overpayment.status == "AUTHORISED"

    second = api.create_invoices(org1, Invoices(invoices=[Invoice(
        type="ACCREC", contact=Contact(contact_number="CUST-1"), status="AUTHORISED",
        date=dt.date(2024, 6, 1), due_date=dt.date(2024, 6, 15),
        line_items=[LineItem(description="Hosting", quantity=1, unit_amount=Decimal("30"), account_code="200")],
    )])).invoices[0]
    api.create_overpayment_allocations(org1, overpayment.overpayment_id, Allocations(allocations=[Allocation(
        invoice=Invoice(invoice_id=second.invoice_id), amount=Decimal("20.11"), date=dt.date(2024, 6, 2),
    )]))

    second = api.get_invoice(org1, second.invoice_id).invoices[0]
    amounts = (second.total, second.amount_credited, second.amount_due)
    assert amounts == (Decimal("33"), Decimal("20.11"), Decimal("12.89"))
    assert api.get_overpayment(org1, overpayment.overpayment_id).overpayments[0].status == "PAID"
    balances = api.get_contact(org1, contact.contact_id).contacts[0].balances
    assert balances.accounts_receivable.outstanding == Decimal("12.89")


def test_sdk_records_money_received_without_an_invoice(sdk, org2):
    api = sdk.accounting
    txn = api.create_bank_transactions(org2, BankTransactions(bank_transactions=[BankTransaction(
        type="RECEIVE", contact=Contact(name="Walk-in Customer"), bank_account=Account(code="090"),
        reference="PAY-77", date=dt.date(2024, 7, 1),
        line_items=[LineItem(description="Top-up", quantity=1, unit_amount=Decimal("115"), account_code="200",
                             tax_type="OUTPUT2")],
        line_amount_types=LineAmountTypes.INCLUSIVE,
    )])).bank_transactions[0]

    assert (txn.sub_total, txn.total_tax, txn.total) == (Decimal("100"), Decimal("15"), Decimal("115"))
    found = api.get_bank_transactions(org2, where='Reference=="PAY-77"').bank_transactions
    assert [t.bank_transaction_id for t in found] == [txn.bank_transaction_id]
    assert api.get_contacts(org2, search_term="walk-in").contacts[0].is_customer is True
