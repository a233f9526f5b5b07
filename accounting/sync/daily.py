"""Sending the daily summaries of pre-paid receipts (issue 20; made by accounting/summaries.py): one Receive
Money per day per payment method, into the method's account, on the revenue account with its tax type."""

from functools import partial

from ..errors import MappingError
from ..mapping_models import DailySummary
from ..models import SyncRecord
from ..xero import client
from . import kinds, outbox, payloads
from .money import deposit_code_or_fail
from .protocol import (
    Item,
    Run,
    check_currency,
    fail_without_call,
    failed_without_revenue_code,
    loaded,
    look_up_unclear,
    revenue_account_of,
    send,
)

Kind = SyncRecord.Kind


@kinds.sender(Kind.DAILY_SUMMARY)
def sync_daily_summaries(run: Run, records: list[SyncRecord]) -> None:
    records, summaries = loaded(records, DailySummary.objects)
    items = []
    for record in records:
        summary = summaries[record.object_id]
        if summary.total_in == summary.total_reversed:
            outbox.record_skip(record, reason="Its receipts and reversals add up to nothing.")
            continue
        if failed_without_revenue_code(run, record):
            continue
        bank_code = deposit_code_or_fail(run, record, summary.method)
        if not bank_code:
            continue
        try:
            check_currency(run, summary.currency)
            account = revenue_account_of(run)
            if account is None:
                raise MappingError(f"{run.organisation} has no account {run.accounting.revenue_code}.")
        except MappingError as exc:
            fail_without_call(run, record, str(exc))
            continue
        build = partial(payloads.daily_summary, summary)
        body = build(bank_code=bank_code, account_code=account.code, tax_type=account.tax_type, tz=run.tz)
        items.append(Item(record, body, summary.number))
    items = look_up_unclear(run, items, client.bank_transactions_find, "Reference", "BankTransactionID")
    send(run, items, "daily-summaries", client.bank_transactions_create, "BankTransactionID")
