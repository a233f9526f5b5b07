"""Daily summaries of pre-paid receipts (issue 20, optional per whitelabel): instead of one Receive Money per
receipt, one per day per payment method in the whitelabel's time zone, made once the day has closed.

Exactly once: each payment's money is in one summary at most (`DailySummaryEntry`, unique per payment and
direction), and the days are made in order under the whitelabel's options row lock, which records the last
day made. A top-up reversed after its day was made comes out of the summary of the day it was reversed (a
negative line), never by editing a sent one; one received and reversed before its day closed is in none.
"""

import datetime
from collections import defaultdict
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from payments.models import Payment, Receipt, Whitelabel

from .mapping_models import DailySummary, DailySummaryEntry, MappingOptions
from .models import AccountingSettings, SyncRecord
from .sync import outbox

Direction = DailySummaryEntry.Direction


@transaction.atomic
def summary_mode_set(*, whitelabel: Whitelabel, on: bool) -> MappingOptions:
    """Turn the daily summary on (receipts received from now on are summarised) or off: then the receipts that
    no summary took yet (the open day's) go to Xero one by one after all, so none is left out."""
    MappingOptions.objects.get_or_create(whitelabel=whitelabel)
    options = MappingOptions.objects.select_for_update().get(whitelabel=whitelabel)  # as the summaries take it
    if on and not options.daily_summary:
        options.daily_summary, options.summary_since = True, timezone.now()
        options.summarised_through = whitelabel.local_date() - datetime.timedelta(days=1)
    elif not on and options.daily_summary:
        options.daily_summary = False
        options.save()
        left = Receipt.objects.filter(whitelabel=whitelabel, payment__received_at__gte=options.summary_since)
        left = left.exclude(payment__xero_summary_entries__direction=Direction.IN)
        skipped = SyncRecord.objects.filter(
            whitelabel=whitelabel, kind=SyncRecord.Kind.RECEIPT, status=SyncRecord.Status.SKIPPED
        ).filter(object_id__in=left.values("pk"))
        outbox.records_rearm(whitelabel_id=whitelabel.pk, ids=skipped.values("id"))  # sends after commit
    options.save()
    return options


def summarised(payment: Payment) -> bool:
    """Whether this payment's receipt goes to Xero in a daily summary rather than on its own."""
    options = MappingOptions.objects.filter(whitelabel_id=payment.whitelabel_id).first()
    if options is None or not options.daily_summary or options.summary_since is None:
        return False
    return payment.received_at >= options.summary_since


def daily_summaries_make(*, now: datetime.datetime | None = None) -> int:
    """Make the summaries of every closed day not yet made, for every pre-paid whitelabel in summary mode.
    Returns how many summaries it made."""
    now = now or timezone.now()
    prepaid = AccountingSettings.objects.filter(payment_type=AccountingSettings.PaymentType.PREPAID).values(
        "whitelabel_id"
    )
    made = 0
    for options_id in MappingOptions.objects.filter(daily_summary=True, whitelabel_id__in=prepaid).values_list(
        "pk", flat=True
    ):
        made += _whitelabel_summaries_make(options_id, now)
    return made


def _whitelabel_summaries_make(options_id: int, now: datetime.datetime) -> int:
    made = 0
    while True:
        with transaction.atomic():
            options = MappingOptions.objects.select_for_update().select_related("whitelabel").get(pk=options_id)
            whitelabel = options.whitelabel
            yesterday = whitelabel.local_date(now) - datetime.timedelta(days=1)
            since_day = whitelabel.local_date(options.summary_since)
            day = max(
                (options.summarised_through or since_day - datetime.timedelta(days=1)) + datetime.timedelta(days=1),
                since_day,
            )
            if day > yesterday or not options.daily_summary:
                return made
            made += _day_make(whitelabel, options, day)
            options.summarised_through = day
            options.save(update_fields=["summarised_through"])


def _day_bounds(whitelabel: Whitelabel, day: datetime.date) -> tuple[datetime.datetime, datetime.datetime]:
    start = datetime.datetime.combine(day, datetime.time.min, tzinfo=whitelabel.tzinfo)
    return start, start + datetime.timedelta(days=1)


def _day_make(whitelabel: Whitelabel, options: MappingOptions, day: datetime.date) -> int:
    start, end = _day_bounds(whitelabel, day)
    start = max(start, options.summary_since)
    received = (
        Payment.objects.filter(whitelabel=whitelabel, received_at__gte=start, received_at__lt=end, reversed_at=None)
        .exclude(xero_summary_entries__direction=Direction.IN)
        .select_related("receipt")
        .order_by("received_at", "id")
    )
    reversed_ = (
        Payment.objects.filter(
            whitelabel=whitelabel, reversed_at__lt=end, xero_summary_entries__direction=Direction.IN
        )
        .exclude(xero_summary_entries__direction=Direction.REVERSED)
        .select_related("receipt")
        .order_by("reversed_at", "id")
    )
    groups: dict[tuple[str, str], dict[str, list[Payment]]] = defaultdict(lambda: {"in": [], "out": []})
    for payment in received:
        groups[(payment.method, payment.currency)]["in"].append(payment)
    for payment in reversed_:
        groups[(payment.method, payment.currency)]["out"].append(payment)
    for (method, currency), group in sorted(groups.items()):
        ins, outs = group["in"], group["out"]
        numbers = [p.receipt.number for p in ins]
        summary = DailySummary.objects.create(
            whitelabel=whitelabel,
            day=day,
            method=method,
            currency=currency,
            first_receipt=min(numbers, default=""),
            last_receipt=max(numbers, default=""),
            receipts=len(ins),
            total_in=sum((p.amount for p in ins), Decimal("0")),
            total_reversed=sum((p.amount for p in outs), Decimal("0")),
            reversed_receipts=", ".join(p.receipt.number for p in outs),
        )
        DailySummaryEntry.objects.bulk_create(
            [DailySummaryEntry(summary=summary, payment=p, direction=Direction.IN) for p in ins]
            + [DailySummaryEntry(summary=summary, payment=p, direction=Direction.REVERSED) for p in outs]
        )
    return len(groups)
