"""The table of record kinds (accounting/sync/kinds.py) is the one declaration of a kind: it covers every
kind once, in an order that respects what each waits for, and everything that reads it (signals, the
engine, the outbox, resync, the admin, the reconcile) finds each kind's parts there."""

import pytest
from django.db.models.signals import post_save

from accounting import selectors
from accounting.admin import KindFilter, SyncRecordAdmin
from accounting.models import AccountingSettings, SyncRecord
from accounting.reconcile import books, compare  # noqa: F401 - compare registers the checks
from accounting.signals import billing_saved
from accounting.sync import engine, kinds  # noqa: F401 - the engine imports the senders

PaymentType = AccountingSettings.PaymentType


def test_every_kind_has_one_row_and_one_name():
    assert sorted(row.kind for row in kinds.KINDS) == sorted(SyncRecord.Kind.values)
    assert len({row.name for row in kinds.KINDS}) == len(kinds.KINDS)


def test_the_run_order_sends_what_a_kind_waits_for_before_it():
    order = [row.kind for row in kinds.KINDS]
    for row in kinds.KINDS:
        for needed in row.needs:
            assert order.index(needed) < order.index(row.kind), f"{row.name} waits for {needed}, sent after it"
            assert kinds.of(needed).sends & row.sends, f"{row.name} waits for {needed}, which isn't sent with it"


def test_every_kind_has_a_sender_and_the_compared_ones_a_check():
    for row in kinds.KINDS:
        assert callable(row.send), row.name
        assert (row.check is not None) == bool(row.reads), f"{row.name}: a check compares it in what it reads"
    checked = {row.kind for row in kinds.KINDS if row.check}
    assert checked == set(SyncRecord.Kind) - {
        SyncRecord.Kind.REFUND,  # in the customer's credit
        SyncRecord.Kind.PAYMENT_REVERSAL,  # on the payment it reverses
        SyncRecord.Kind.DEPOSIT_REVERSAL,  # on the overpayment or receipt it deletes
        SyncRecord.Kind.GATEWAY_FEE,  # a Spend Money to the gateway's contact, not a customer's
        SyncRecord.Kind.DAILY_SUMMARY,  # a Receive Money of many customers' receipts
    }


def test_each_payment_type_sends_its_own_kinds_and_the_reconcile_reads_what_they_are_compared_in():
    postpaid = {row.name for row in kinds.sent_by(PaymentType.POSTPAID)}
    prepaid = {row.name for row in kinds.sent_by(PaymentType.PREPAID)}
    assert prepaid == {"contacts", "receipts", "refund-receipts", "deposit-reversals", "fees", "daily-summaries"}
    assert postpaid & prepaid == {"contacts", "deposit-reversals", "fees"}
    assert books.parts_to_read(postpaid=True) == {"contacts", "invoices", "payments", "overpayments", "credit_notes"}
    assert books.parts_to_read(postpaid=False) == {"contacts", "invoices", "payments", "receipts"}


def test_the_signals_listen_to_every_model_a_trigger_names():
    for model in kinds.trigger_models():
        sync_receivers, _ = post_save._live_receivers(model)
        assert billing_saved in sync_receivers, f"no receiver for {model.__name__}"


@pytest.mark.parametrize("row", kinds.KINDS, ids=lambda row: row.name)
def test_resync_and_the_admin_offer_every_kind(row):
    assert selectors.RESYNC_KINDS[row.name] == row.kind
    assert KindFilter in SyncRecordAdmin.list_filter
    assert row.kind in [value for value, _ in KindFilter(None, {}, SyncRecord, SyncRecordAdmin).lookup_choices]
