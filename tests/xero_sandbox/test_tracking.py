"""Tracking categories (issue 20): the sandbox lists them as Xero does and checks each line's Tracking."""

from .test_accounting import create_invoice, fail_invoice, sales_invoice


def line(**extra) -> list[dict]:
    return [{"Description": "Plan", "Quantity": 1, "UnitAmount": 100, "AccountCode": "201", **extra}]


def test_tracking_categories_list_the_active_ones_and_archived_ones_on_request(raw):
    listed = raw.get("TrackingCategories").json()["TrackingCategories"]
    assert [(c["Name"], [o["Name"] for o in c["Options"]]) for c in listed] == [
        ("Plan", ["Residential", "Business"]),
        ("Region", ["NSW", "VIC", "QLD", "WA"]),
    ]
    every = raw.get("TrackingCategories", params={"includeArchived": "true"}).json()["TrackingCategories"]
    assert {c["Name"]: c["Status"] for c in every} == {"Department": "ARCHIVED", "Plan": "ACTIVE", "Region": "ACTIVE"}


def test_a_line_carries_its_tracking_by_name_and_answers_with_ids(raw):
    invoice = create_invoice(raw, LineItems=line(Tracking=[{"Name": "Region", "Option": "nsw"}]))
    (tracking,) = invoice["LineItems"][0]["Tracking"]
    assert (tracking["Name"], tracking["Option"]) == ("Region", "NSW") and tracking["TrackingOptionID"]


def test_unknown_archived_or_too_many_tracking_options_are_refused(raw):
    assert fail_invoice(raw, LineItems=line(Tracking=[{"Name": "Colour", "Option": "Red"}])) == [
        "The tracking category 'Colour' does not exist or has been archived"
    ]
    assert fail_invoice(raw, LineItems=line(Tracking=[{"Name": "Region", "Option": "TAS"}])) == [
        "The tracking option 'TAS' does not exist or has been archived in tracking category 'Region'"
    ]
    three = [{"Name": "Region", "Option": "NSW"}, {"Name": "Plan", "Option": "Business"},
             {"Name": "Department", "Option": "Sales"}]
    assert fail_invoice(raw, LineItems=line(Tracking=three)) == ["A line item can have at most 2 tracking categories"]
    assert sales_invoice()  # the helper's own invoice has no tracking


def test_a_spend_money_to_the_fee_account_from_the_clearing_account(raw):
    response = raw.put("BankTransactions", {"BankTransactions": [{
        "Type": "SPEND", "Contact": {"Name": "Windcave"}, "BankAccount": {"Code": "092"}, "Date": "2024-05-10",
        "LineAmountTypes": "Inclusive", "Reference": "FEE RCT-000001",
        "LineItems": [{"Description": "Card fee", "Quantity": 1, "UnitAmount": 1.10, "AccountCode": "404",
                       "TaxType": "EXEMPTEXPENSES"}],
    }]})
    assert response.status_code == 200, response.text
    (spend,) = response.json()["BankTransactions"]
    assert (spend["BankAccount"]["Code"], spend["Total"], spend["LineItems"][0]["AccountCode"]) == ("092", 1.1, "404")
