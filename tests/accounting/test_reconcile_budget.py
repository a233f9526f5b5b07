"""The nightly reconcile keeps to its share of the organisation's day of Xero calls (XERO_RECONCILE_DAY_SHARE
of XERO_DAY_LIMIT), leaving the rest to billing: a first comparison that needs more stops there, says what it
left, and the next night continues it; the one after reads only what changed."""

import pytest

from accounting.models import Reconciliation
from accounting.reconcile import day_share_budget, last_reconciled_since, nightly_plan
from accounting.tasks import reconcile_whitelabel
from tests.accounting.drift import bill, drain
from tests.books import connected, xero_calls

pytestmark = pytest.mark.django_db


@pytest.fixture
def books(xero, settings):
    # Xero's day of 40 calls, 10% of it the reconcile's: 4 calls a night. (Xero's is 5,000: 500 a night.)
    settings.XERO_DAY_LIMIT, settings.XERO_RECONCILE_DAY_SHARE = 40, 0.10
    whitelabel = connected(xero)
    bill(whitelabel)
    drain(whitelabel)
    xero.clear_requests_log()
    return whitelabel


def test_the_share_is_a_tenth_of_xeros_day_by_default(settings):
    settings.XERO_DAY_LIMIT, settings.XERO_RECONCILE_DAY_SHARE = 5000, 0.10
    assert day_share_budget() == 500


def test_a_first_comparison_stops_at_the_nights_share_and_the_next_night_continues_it(books, xero, settings):
    whitelabel = books
    reconcile_whitelabel.run(whitelabel.pk)
    first = Reconciliation.objects.get()
    assert len(xero_calls(xero)) == first.calls == 4, "the accounts, contacts, invoices and payments: 4 calls"
    assert first.unread == ["overpayments", "credit_notes"], "credit needs both: left whole for the next night"
    assert set(first.compared) >= {"invoices", "contacts"} and "overpayments" not in first.compared
    assert first.drift == 0
    assert last_reconciled_since(whitelabel) is None, "nothing compared completely yet"

    plan = nightly_plan(whitelabel)
    assert (plan.since, plan.only, plan.chain_from) == (None, ["overpayments", "credit_notes"], first.started_at)
    xero.clear_requests_log()
    reconcile_whitelabel.run(whitelabel.pk)
    second = Reconciliation.objects.exclude(pk=first.pk).get()
    read = {c["path"].rsplit("/", 1)[-1] for c in xero_calls(xero)}
    assert read == {"Accounts", "Overpayments", "CreditNotes"} and second.calls == 3
    assert second.unread == [] and second.drift == 0
    assert second.covers_from == first.started_at, "complete: it covers everything from the first night on"

    assert last_reconciled_since(whitelabel) == first.started_at, "the third night reads what changed since"
    settings.XERO_DAY_LIMIT = 100  # 10 calls a night: every collection's changes, and the look-ups they need
    xero.clear_requests_log()
    reconcile_whitelabel.run(whitelabel.pk)
    third = Reconciliation.objects.order_by("-started_at").first()
    assert third.since == first.started_at and third.unread == []
    assert all("If-Modified-Since" in c["headers"] or c["path"].endswith("/Accounts") for c in xero_calls(xero)
               if "pageSize" in c["query"] or c["path"].endswith(("/Contacts", "/Invoices")))  # fmt: skip


def test_xero_reconcile_run_by_ops_is_not_limited_to_the_share(books, xero):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("xero_reconcile", "--whitelabel", books.slug, stdout=out, stderr=StringIO())
    assert Reconciliation.objects.get().unread == []
    assert "Not read, so not compared" not in out.getvalue()
