"""The whitelabel's Xero mapping end to end (issue 20): a real Celery worker, the real database and broker,
the sandbox over HTTP. Lines land on their category's account and tracking with the mapped tax type; card
money lands gross in the clearing account with one Spend Money of the fee; refunds leave from the account
the money came into; a mapping change affects only later records; a mapping the organisation would refuse
is refused by the command with the valid choices named. Each counts Xero's calls and records."""

import io
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounting.mapping_models import CategoryMapping, MethodMapping, TaxMapping
from accounting.mapping_services import mapping_set
from accounting.models import SyncRecord
from payments.services import LineInput, add_credit, issue_credit_note, issue_invoice, record_payment, refund_credit
from tests.books import all_sent, connected, outbox_settled, xero_calls
from tests.factories import CustomerFactory
from tests.xero import book

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
Kind = SyncRecord.Kind

NBN = LineInput("NBN 100/20, monthly", Decimal("1"), Decimal("89.00"), Decimal("10"), "nbn")
MOBILE = LineInput("Mobile plan, monthly", Decimal("1"), Decimal("49.00"), Decimal("10"), "mobile")
MODEM = LineInput("Wi-Fi modem", Decimal("1"), Decimal("120.00"), Decimal("10"), "hardware")
EXPORT = LineInput("Roaming pack (GST-free)", Decimal("1"), Decimal("20.00"), Decimal("0"), "mobile")


def mapped(whitelabel, *changes: dict):
    for fields in changes:
        mapping_set(whitelabel=whitelabel, fields={"tracking": [], **fields})


def telco(xero):
    whitelabel = connected(xero)
    mapped(
        whitelabel,
        {"category": "nbn", "account": "201", "tracking": ["Region:NSW", "Plan:Residential"]},
        {"category": "mobile", "account": "202", "tracking": ["Region:VIC"]},
        {"category": "hardware", "account": "203"},
        {"tax_rate": "0", "tax_type": "BASEXCLUDED"},
        {"method": "card", "account": "092", "fee_account": "404"},
    )
    return whitelabel


def lines_of(xero_document) -> list[tuple]:
    return [
        (li["AccountCode"], li["TaxType"], tuple((t["Name"], t["Option"]) for t in li.get("Tracking") or []))
        for li in xero_document["LineItems"]
    ]


def test_lines_land_on_their_categorys_account_tracking_and_mapped_tax_type(xero, sync_worker):
    whitelabel = telco(xero)
    customer = CustomerFactory(whitelabel=whitelabel)
    invoice = issue_invoice(customer, [NBN, MOBILE, MODEM, EXPORT, LineInput("Late fee", 1, Decimal("5.00"))])
    all_sent((invoice, Kind.INVOICE))
    (xero_invoice,) = book(xero, whitelabel).invoices()
    assert lines_of(xero_invoice) == [
        ("201", "OUTPUT", (("Region", "NSW"), ("Plan", "Residential"))),
        ("202", "OUTPUT", (("Region", "VIC"),)),
        ("203", "OUTPUT", ()),
        ("202", "BASEXCLUDED", (("Region", "VIC"),)),  # 0% mapped to BAS Excluded, not the automatic GST Free
        ("200", "BASEXCLUDED", ()),  # no category: the settings page's revenue code
    ]
    assert Decimal(str(xero_invoice["Total"])) == invoice.total
    assert len(xero_calls(xero, method="PUT", path_end="/Invoices")) == 1

    note = issue_credit_note(invoice=invoice, lines=[{**NBN.__dict__, "category": ""}], reason="Outage")
    all_sent((note, Kind.CREDIT_NOTE))
    (xero_note,) = book(xero, whitelabel).credit_notes()
    assert lines_of(xero_note) == [("201", "OUTPUT", (("Region", "NSW"), ("Plan", "Residential")))], (
        "a credit note line uses the mapping of the line it credits"
    )


def test_a_card_payment_with_a_fee_lands_gross_in_the_clearing_account_and_one_spend_money_of_the_fee(
    xero, sync_worker
):
    whitelabel = telco(xero)
    customer = CustomerFactory(whitelabel=whitelabel)
    invoice = issue_invoice(customer, [NBN])  # 97.90
    payment = record_payment(customer, "120.00", invoice=invoice, fee="2.10")  # 22.10 left as credit
    cash = record_payment(customer, "10.00", method="cash")
    all_sent(
        (payment.allocations.get(), Kind.PAYMENT),
        (payment, Kind.OVERPAYMENT),
        (payment, Kind.GATEWAY_FEE),
        (cash, Kind.OVERPAYMENT),
    )
    org = book(xero, whitelabel)
    (xero_payment,) = org.payments()
    assert (xero_payment["Account"]["Code"], Decimal(str(xero_payment["Amount"]))) == ("092", Decimal("97.90"))
    spends = [t for t in org.bank_transactions() if t["Type"] == "SPEND"]
    assert len(spends) == 1, "one Spend Money of the fee"
    (fee,) = spends
    assert (fee["BankAccount"]["Code"], Decimal(str(fee["Total"])), fee["LineItems"][0]["AccountCode"]) == (
        "092",
        Decimal("2.10"),
        "404",
    )
    deposits = {Decimal(str(t["Total"])): t["BankAccount"]["Code"] for t in org.bank_transactions()
                if t["Type"] == "RECEIVE-OVERPAYMENT"}
    assert deposits == {Decimal("22.10"): "092", Decimal("10.00"): "090"}, "card gross to clearing, cash to the bank"
    assert SyncRecord.objects.filter(kind=Kind.GATEWAY_FEE).count() == 1, "only the payment with a fee has one"

    refund = refund_credit(customer=customer, amount="22.10", method="bank_transfer")
    part = refund.parts.get()
    all_sent((part, Kind.REFUND))
    (refund_payment,) = [p for p in book(xero, whitelabel).payments() if p["Reference"].startswith(refund.number)]
    assert refund_payment["Account"]["Code"] == "092", "the refund leaves from the account the money came into"


def test_prepaid_top_up_with_a_fee_is_a_receipt_into_the_clearing_account_and_a_spend_money(xero, sync_worker):
    whitelabel = connected(xero, payment_type="prepaid")
    mapped(whitelabel, {"method": "card", "account": "092", "fee_account": "404"})
    customer = CustomerFactory(whitelabel=whitelabel)
    top_up = add_credit(customer, "50.00", fee="0.85")
    all_sent((top_up.receipt, Kind.RECEIPT), (top_up, Kind.GATEWAY_FEE))
    org = book(xero, whitelabel)
    by_type = sorted((t["Type"], t["BankAccount"]["Code"], Decimal(str(t["Total"]))) for t in org.bank_transactions())
    assert by_type == [("RECEIVE", "092", Decimal("50.00")), ("SPEND", "092", Decimal("0.85"))]
    assert len(xero_calls(xero, method="PUT", path_end="/BankTransactions")) == 2


def test_a_mapping_change_affects_only_later_records(xero, sync_worker):
    whitelabel = telco(xero)
    customer = CustomerFactory(whitelabel=whitelabel)
    first = issue_invoice(customer, [NBN])
    all_sent((first, Kind.INVOICE))
    mapped(whitelabel, {"category": "nbn", "account": "260", "tracking": ["Region:QLD"]})
    second = issue_invoice(customer, [NBN])
    all_sent((second, Kind.INVOICE))
    outbox_settled(whitelabel)
    by_number = {i["InvoiceNumber"]: lines_of(i) for i in book(xero, whitelabel).invoices()}
    assert by_number == {
        first.number: [("201", "OUTPUT", (("Region", "NSW"), ("Plan", "Residential")))],
        second.number: [("260", "OUTPUT", (("Region", "QLD"),))],
    }
    assert len(xero_calls(xero, method="PUT", path_end="/Invoices")) == 2, "nothing sent again"


def command(whitelabel, *args) -> str:
    out = io.StringIO()
    call_command("xero_mapping", "--whitelabel", whitelabel.slug, *args, stdout=out)
    return out.getvalue()


def refused(whitelabel, *args) -> str:
    with pytest.raises(CommandError) as error:
        command(whitelabel, *args)
    assert error.value.returncode == 2
    return str(error.value)


@pytest.mark.django_db(transaction=True)
def test_an_invalid_mapping_is_refused_by_the_command_with_the_valid_choices(xero):
    whitelabel = connected(xero)
    before = xero.requests_log()
    assert "Account 400 – Advertising is not a revenue account. Use one of: 200, 201, 202, 203, 260, 270" in refused(
        whitelabel, "--set", "category=nbn", "account=400"
    )
    assert "Revenue codes you can use: 200, 201" in refused(whitelabel, "--set", "category=nbn", "account=999")
    assert "archived" in refused(whitelabel, "--set", "category=nbn", "account=210")
    message = refused(whitelabel, "--set", "category=nbn", "account=201", "tracking=Region:TAS")
    assert "no active option 'TAS'" in message and "Region: NSW, VIC, QLD, WA" in message
    assert "no tracking category 'Department'" in refused(
        whitelabel, "--set", "category=nbn", "account=201", "tracking=Department:Sales"
    ).replace("an archived", "no")
    assert "EXEMPTOUTPUT (GST Free Income)" in refused(whitelabel, "--set", "tax_rate=0", "tax_type=OUTPUT")
    assert "can't be used on sales" in refused(whitelabel, "--set", "tax_rate=0", "tax_type=EXEMPTEXPENSES")
    assert "is not a bank account. Use one of: 090, 091, 092" in refused(
        whitelabel, "--set", "method=card", "account=404"
    )
    assert "is not an expense account. Use one of: 400, 404" in refused(
        whitelabel, "--set", "method=card", "account=092", "fee_account=200"
    )
    assert "Payment methods: card, bank_transfer" in refused(whitelabel, "--set", "method=cheque", "account=090")
    assert not (CategoryMapping.objects.exists() or TaxMapping.objects.exists() or MethodMapping.objects.exists())
    assert len(xero.requests_log()) - len(before) <= 4, "the organisation's lists are read once (then cached)"

    assert "Mapped" in command(whitelabel, "--set", "category=nbn", "account=201", "tracking=region:nsw")
    assert CategoryMapping.objects.get().tracking == [{"Name": "Region", "Option": "NSW"}], "spelt as Xero does"
    command(whitelabel, "--set", "method=card", "account=092", "fee_account=404")
    command(whitelabel, "--set", "tax_rate=0", "tax_type=EXEMPTOUTPUT")
    exported = command(whitelabel, "--export")
    assert exported.splitlines() == [
        "kind,key,account,fee_account,tax_type,tracking",
        "category,nbn,201,,,Region:NSW",
        "tax,0,,,EXEMPTOUTPUT,",
        "method,card,092,404,,",
    ]
    shown = command(whitelabel, "--show")
    assert "category nbn" in shown and "by effective rate OUTPUT" in shown and "method   cash" in shown


@pytest.mark.django_db(transaction=True)
def test_an_import_is_checked_whole_and_applies_all_or_nothing(xero, tmp_path):
    whitelabel = connected(xero)
    good = tmp_path / "good.csv"
    good.write_text(
        "kind,key,account,fee_account,tax_type,tracking\n"
        "category,mobile,202,,,Region:VIC;Plan:Business\n"
        "method,direct_debit,091,,,\n"
    )
    bad = tmp_path / "bad.csv"
    bad.write_text("kind,key,account,fee_account,tax_type,tracking\ncategory,voice,203,,,\ncategory,usage,999,,,\n")
    assert "Line 3: Category usage: Xero has no account with code 999" in refused(whitelabel, "--import", str(bad))
    assert not CategoryMapping.objects.exists(), "the good first row was not saved either"
    assert "Imported 2" in command(whitelabel, "--import", str(good))
    assert CategoryMapping.objects.get().tracking == [{"Name": "Region", "Option": "VIC"},
                                                      {"Name": "Plan", "Option": "Business"}]


@pytest.mark.django_db(transaction=True)
def test_the_settings_page_shows_the_mapping_and_refuses_an_invalid_one_with_the_valid_choices(xero):
    from django.contrib.messages import get_messages

    from tests.books import admin_client_for
    from tests.xero import settings_url

    whitelabel = connected(xero)
    client = admin_client_for(whitelabel)
    page = client.get(settings_url(whitelabel)).content.decode()
    assert 'id="mapping-heading"' in page and "not mapped: the bank account 090" in page
    mapping_url = settings_url(whitelabel) + "xero/mapping/"
    response = client.post(mapping_url, {"kind": "category", "key": "nbn", "account": "092", "tracking": "Region:NSW"})
    assert response.status_code == 302
    (message,) = [str(m) for m in get_messages(response.wsgi_request)]
    assert message.startswith("Mapping not saved: Category nbn: Account 092 – Card Clearing is not a revenue account")
    assert "Use one of: 200, 201, 202, 203, 260, 270" in message
    assert not CategoryMapping.objects.exists()
    response = client.post(mapping_url, {"kind": "category", "key": "nbn", "account": "201", "tracking": "Region:NSW"})
    assert CategoryMapping.objects.get(whitelabel=whitelabel).account_code == "201"
    page = client.get(settings_url(whitelabel)).content.decode()
    assert "<td>201</td>" in page and "Region:NSW" in page


@pytest.mark.django_db(transaction=True)
def test_the_reconcile_compares_each_lines_coding_but_not_against_a_later_mapping(xero):
    import json

    from tests.accounting.drift import drain

    whitelabel = telco(xero)
    customer = CustomerFactory(whitelabel=whitelabel)
    invoice = issue_invoice(customer, [NBN, MODEM])
    drain(whitelabel)
    mapped(whitelabel, {"category": "nbn", "account": "260"})  # a later mapping: what was sent stays right

    def differences() -> list[dict]:
        out = io.StringIO()
        try:
            call_command("xero_reconcile", "--whitelabel", whitelabel.slug, "--format", "json", stdout=out)
        except CommandError:
            pass
        return [d for w in json.loads(out.getvalue())["whitelabels"] for d in w["differences"]]

    assert differences() == []
    xero.edit_invoice_line(invoice.number, line=1, account_code="200")  # a person recodes the modem in Xero
    (recoded,) = differences()
    assert (recoded["kind"], recoded["label"], recoded["by_person"]) == ("changed_in_xero", invoice.number, True)
    assert "line 2 (Wi-Fi modem) sent on account 203, OUTPUT, now on account 200, OUTPUT" in recoded["detail"]
    # The session's worker may be running this organisation's sync (the billing above queued one): let it hand the
    # organisation back before the test's tables are emptied (a TRUNCATE meeting its locks deadlocked).
    outbox_settled(whitelabel)


def test_a_summary_day_of_200_top_ups_is_one_receive_money_per_method_and_a_later_reversal_is_in_the_next(
    xero, sync_worker
):
    import datetime

    from django.utils import timezone

    from accounting.mapping_models import DailySummary, MappingOptions
    from accounting.summaries import daily_summaries_make, summary_mode_set
    from payments.services import reverse_payment

    whitelabel = connected(xero, payment_type="prepaid")
    mapped(whitelabel, {"method": "card", "account": "092"})
    summary_mode_set(whitelabel=whitelabel, on=True)
    now = timezone.now()
    MappingOptions.objects.filter(whitelabel=whitelabel).update(
        summary_since=now - datetime.timedelta(days=3), summarised_through=None
    )
    tz = whitelabel.tzinfo
    yesterday = whitelabel.local_date(now) - datetime.timedelta(days=1)
    noon = datetime.datetime.combine(yesterday, datetime.time(12), tzinfo=tz)
    customers = [CustomerFactory(whitelabel=whitelabel) for _ in range(5)]
    top_ups = [
        add_credit(customers[n % 5], "10.00", method="card" if n % 2 else "bank_transfer",
                   received_at=noon + datetime.timedelta(seconds=n))
        for n in range(200)
    ]
    outbox_settled(whitelabel)
    assert not [t for t in book(xero, whitelabel).bank_transactions()], "no receipt goes on its own"
    skipped = SyncRecord.objects.filter(kind=Kind.RECEIPT, status=SyncRecord.Status.SKIPPED).count()
    assert skipped == 200

    assert daily_summaries_make(now=now) == 2
    assert daily_summaries_make(now=now) == 0, "a day is summarised once"
    summaries = list(DailySummary.objects.filter(whitelabel=whitelabel).order_by("method"))
    all_sent(*[(s, Kind.DAILY_SUMMARY) for s in summaries])
    received = sorted(
        (t["Type"], t["BankAccount"]["Code"], Decimal(str(t["Total"])), t["Reference"])
        for t in book(xero, whitelabel).bank_transactions()
    )
    day = f"{yesterday:%Y%m%d}"
    assert received == [
        ("RECEIVE", "090", Decimal("1000.00"), f"SUM-{day}-bank_transfer"),
        ("RECEIVE", "092", Decimal("1000.00"), f"SUM-{day}-card"),
    ]
    assert len(xero_calls(xero, method="PUT", path_end="/BankTransactions")) == 1, "both in one call"
    card = next(s for s in summaries if s.method == "card")
    assert (card.receipts, card.first_receipt, card.last_receipt) == (
        100, top_ups[1].receipt.number, top_ups[199].receipt.number
    )

    reverse_payment(payment=top_ups[1], reason="Chargeback 7731")  # after its day was sent
    outbox_settled(whitelabel)
    assert daily_summaries_make(now=now + datetime.timedelta(days=1)) == 1
    (reversal,) = DailySummary.objects.filter(whitelabel=whitelabel, day=yesterday + datetime.timedelta(days=1))
    all_sent((reversal, Kind.DAILY_SUMMARY))
    org = book(xero, whitelabel)
    spends = [t for t in org.bank_transactions() if t["Type"] == "SPEND"]
    assert [(t["BankAccount"]["Code"], Decimal(str(t["Total"]))) for t in spends] == [("092", Decimal("10.00"))]
    assert all(t["Status"] == "AUTHORISED" for t in org.bank_transactions()), "the sent summary is never edited"


@pytest.mark.django_db(transaction=True)
def test_the_settings_page_turns_the_daily_summary_on_and_off(xero):
    from accounting.mapping_models import MappingOptions
    from tests.books import admin_client_for
    from tests.xero import settings_url

    whitelabel = connected(xero, payment_type="prepaid")
    client = admin_client_for(whitelabel)
    page = client.get(settings_url(whitelabel)).content.decode()
    assert "Daily summary of pre-paid receipts: <strong>off</strong>" in page
    client.post(settings_url(whitelabel) + "xero/mapping/", {"kind": "summary", "key": "on"})
    options = MappingOptions.objects.get(whitelabel=whitelabel)
    assert options.daily_summary and options.summary_since is not None
    assert "<strong>on</strong>" in client.get(settings_url(whitelabel)).content.decode()
    client.post(settings_url(whitelabel) + "xero/mapping/", {"kind": "summary", "key": "off"})
    assert not MappingOptions.objects.get(whitelabel=whitelabel).daily_summary


@pytest.mark.django_db(transaction=True)
def test_turning_the_daily_summary_off_sends_the_open_days_receipts_on_their_own(xero):
    from accounting.summaries import summary_mode_set
    from tests.accounting.drift import drain

    whitelabel = connected(xero, payment_type="prepaid")
    summary_mode_set(whitelabel=whitelabel, on=True)
    customer = CustomerFactory(whitelabel=whitelabel)
    top_ups = [add_credit(customer, "20.00") for _ in range(3)]
    drain(whitelabel)
    assert book(xero, whitelabel).bank_transactions() == [], "held for the day's summary"
    summary_mode_set(whitelabel=whitelabel, on=False)
    drain(whitelabel)
    sent = sorted(t["Reference"] for t in book(xero, whitelabel).bank_transactions() if t["Type"] == "RECEIVE")
    assert sent == sorted(t.receipt.number for t in top_ups), "each once, none left out"
