"""What the organisation itself refuses: documents in a locked period (Xero's words), invoices on a plan
without them, and one organisation's daily limit; settable through the testing API and the page."""
import datetime

import pytest
import requests

from xero_sandbox.seed import ORG2_TENANT_ID
from xero_sandbox.testing import EditRefused

from .test_accounting import create_invoice, fail_invoice, messages, pay
from .test_home_page import home


def test_lock_dates_show_on_the_organisation(raw):
    raw.server.set_lock_dates(period_lock_date="2024-03-31", end_of_year_lock_date=datetime.date(2023, 6, 30))

    organisation = raw.get("Organisation").json()["Organisations"][0]

    assert organisation["PeriodLockDate"] == "/Date(1711843200000+0000)/"
    assert organisation["EndOfYearLockDate"] == "/Date(1688083200000+0000)/"
    raw.server.set_lock_dates(period_lock_date=None, end_of_year_lock_date=None)
    assert "PeriodLockDate" not in raw.get("Organisation").json()["Organisations"][0]


def test_a_document_dated_on_or_before_a_lock_date_is_refused_with_xeros_words(raw):
    invoice = create_invoice(raw, Date="2024-04-01", DueDate="2024-04-30")
    raw.server.set_lock_dates(period_lock_date="2024-03-31")

    refused = fail_invoice(raw, Date="2024-03-31", DueDate="2024-04-30")
    payment = raw.put("Payments", {"Payments": [
        {"Invoice": {"InvoiceID": invoice["InvoiceID"]}, "Account": {"Code": "090"}, "Date": "2024-03-15", "Amount": 5},
    ]})

    assert refused == ["The document date cannot be before the period lock date, currently set at 31-Mar-2024"]
    assert payment.status_code == 400
    assert messages(payment.json()["Elements"][0]) == [
        "The document date cannot be before the period lock date, currently set at 31-Mar-2024"
    ]
    assert pay(raw, invoice["InvoiceID"], 5).status_code == 200  # dated 10 May: open


def test_the_end_of_year_lock_date_is_named_when_both_lock(raw):
    raw.server.set_lock_dates(period_lock_date="2024-03-31", end_of_year_lock_date="2023-06-30")

    assert fail_invoice(raw, Date="2023-06-01") == [
        "The document date cannot be before the end of year lock date, currently set at 30-Jun-2023"
    ]
    assert create_invoice(raw, Date="2024-04-01")["Status"] == "AUTHORISED"


def test_lock_dates_of_one_organisation_leave_the_other_alone(raw):
    raw.server.set_lock_dates(ORG2_TENANT_ID, period_lock_date="2030-01-01")

    assert create_invoice(raw, Date="2024-05-01")["Status"] == "AUTHORISED"


def test_bad_lock_dates_are_refused_and_change_nothing(raw):
    with pytest.raises(EditRefused) as refused:
        raw.server.set_lock_dates(period_lock_date="31/03/2024")
    assert refused.value.status == 400
    with pytest.raises(EditRefused):
        raw.server.set_lock_dates(period_lock_date="2023-01-01", end_of_year_lock_date="2023-06-30")

    assert "PeriodLockDate" not in raw.get("Organisation").json()["Organisations"][0]


def test_a_cashbook_plan_refuses_invoices(raw):
    raw.server.set_plan("GST_CASHBOOK")

    assert raw.get("Organisation").json()["Organisations"][0]["Class"] == "GST_CASHBOOK"
    assert fail_invoice(raw) == [
        "Your Xero subscription does not allow invoices to be created. Upgrade your plan to create invoices."
    ]
    raw.server.set_plan("STANDARD")
    assert create_invoice(raw)["Status"] == "AUTHORISED"


def test_one_organisation_reaches_its_daily_limit_while_the_other_goes_on(raw):
    raw.server.set_day_limit(1)
    assert raw.get("Organisation").status_code == 200

    limited = raw.get("Organisation")
    other = raw.for_tenant(ORG2_TENANT_ID).get("Organisation")

    assert (limited.status_code, limited.headers["X-Rate-Limit-Problem"]) == (429, "day")
    assert int(limited.headers["Retry-After"]) > 3600
    assert other.status_code == 200
    raw.server.set_day_limit(None)
    assert raw.get("Organisation").status_code == 200


def test_the_page_sets_lock_dates_and_the_plan(raw):
    page = home(raw.server)
    assert 'name="period_lock_date"' in page.html

    saved = requests.post(raw.server.url + "/edits", data={
        "tenant_id": raw.server.tenant_ids["Organisation 1"], "action": "set_lock_dates",
        "period_lock_date": "2024-03-31", "end_of_year_lock_date": "",
    }, timeout=5)
    planned = requests.post(raw.server.url + "/edits", data={
        "tenant_id": raw.server.tenant_ids["Organisation 1"], "action": "set_plan", "plan": "LEDGER",
    }, timeout=5)

    assert "Lock dates saved." in saved.text and "Plan changed." in planned.text
    assert 'value="2024-03-31"' in saved.text
    organisation = raw.get("Organisation").json()["Organisations"][0]
    assert (organisation["Class"], "EndOfYearLockDate" in organisation) == ("LEDGER", False)
