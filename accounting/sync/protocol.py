"""The send protocol: one Xero call for a batch of records of one kind, and everything around it.

`send` makes the call (through `Run.call`: the connection's credentials and the rate limiter) with an
Idempotency-Key that names the action, lands each element's answer on its own record (sent, refused, or
unclear when no answer came) and keeps every attempt. Before a resend, records whose last call got no answer
are looked up in Xero (`look_up_unclear`). A record that needs another one in Xero first is parked on it
(`dependency_id_or_park`). `Run` is one organisation's run as the kinds' handlers see it: its connection,
settings, time zone, and the organisation's chart, tax rates and currencies read once per run.
"""

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from billiard.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, InterfaceError, transaction
from django.utils import timezone

from payments.models import CreditNote, Customer, Invoice, Payment, Whitelabel

from ..connection import chart_for_sending, currencies, tax_rates, xero_call
from ..errors import ConnectionChanged, MappingError, NotConnected
from ..models import AccountingSettings, SyncAttempt, SyncRecord, XeroConnection
from ..xero import client
from ..xero.errors import (
    XeroAuthExpired,
    XeroConnectionRevoked,
    XeroNotFound,
    XeroRateLimited,
    XeroUnavailable,
    XeroValidationError,
)
from . import holds, mapping, outbox

logger = logging.getLogger(__name__)
Kind = SyncRecord.Kind
Status = SyncRecord.Status
Outcome = SyncAttempt.Outcome


class Paused(Exception):
    """Stop this run: Xero's limits hold it back for `retry_in` seconds, or (None) the connection needs
    an admin."""

    def __init__(self, reason: str, retry_in: float | None):
        self.reason, self.retry_in = reason, retry_in
        super().__init__(reason)


@dataclass
class Item:
    """A record ready to go: its body and, for look-ups after an unclear call, its key in Xero."""

    record: SyncRecord
    body: dict
    key: str = ""


@dataclass
class Run:
    whitelabel: Whitelabel
    connection: XeroConnection
    accounting: AccountingSettings
    deadline: float
    hold_partial: bool = True
    sent: int = 0
    batches: int = 0
    refused: bool = False  # by Xero, or by Arena for what Xero would refuse: the engine rechecks the chart
    _settings: dict = field(default_factory=dict)

    @property
    def tenant_id(self) -> str:
        return self.connection.tenant_id

    @property
    def organisation(self) -> str:
        return self.connection.tenant_name

    @property
    def tz(self):
        return self.whitelabel.tzinfo

    def call(self, fn: Callable[[client.Credentials], object]):
        """One Xero call for this organisation; limits and a lost connection pause the run."""
        return self._guarded(lambda: xero_call(self.connection, fn, tenant_id=self.tenant_id))

    def organisation_setting(self, name: str, read: Callable[[XeroConnection], object]):
        """The chart of accounts, tax rates or currencies, read once per run (and cached per organisation)."""
        if name not in self._settings:
            self._settings[name] = self._guarded(lambda: read(self.connection))
        return self._settings[name]

    @staticmethod
    def _guarded(thunk: Callable[[], object]):
        try:
            return thunk()
        except XeroRateLimited as exc:
            raise Paused(str(exc), exc.retry_after) from None
        except (XeroConnectionRevoked, NotConnected) as exc:
            raise Paused(f"Sync paused: {exc}", None) from None
        except ConnectionChanged as exc:
            raise Paused(str(exc), 0.0) from None

    def out_of_time(self) -> bool:
        return time.monotonic() > self.deadline



def idempotency_key(operation: str, target: str, records: list[SyncRecord], bodies: list[dict]) -> str:
    """Names the action: which records, at which version, become what, where. Two actions with equal
    bodies (two 10.00 credits on one invoice) differ by record; a record sent again after it changed
    back (A -> B -> A) differs by version; a retry of the very same call is the same key."""
    action = {
        "operation": operation,
        "target": target,
        "records": [[r.kind, r.pk, r.version] for r in records],
        "bodies": bodies,
    }
    digest = hashlib.sha256(json.dumps(action, sort_keys=True, cls=DjangoJSONEncoder).encode()).hexdigest()
    return f"arena-{operation}-{digest[:64]}"


def send(
    run: Run,
    items: list[Item],
    operation: str,
    call: Callable[..., list[client.Element]],
    id_field: str,
    *,
    target: str = "",
) -> None:
    """Send one batch; each element's answer lands on its own record, and every record gets an attempt.
    Records dated in a period Xero has locked are held, or moved to the first open day, first."""
    items = holds.honour_lock_dates(run, items)
    if not items:
        return
    records = [i.record for i in items]
    sent = [outbox.Json.of(i.body) for i in items]  # what is sent, as stored on the record and its attempt
    bodies = [s.value for s in sent]
    unclear_before = {r.pk: r.outcome_unknown for r in records}
    outbox.records_mark_sending(records, sent)
    key = idempotency_key(operation, target, records, bodies)
    started_at, began = timezone.now(), time.monotonic()
    outcomes: list[outbox.CallResult] = []
    recorded = False

    def record_attempts() -> None:
        outbox.attempts_record(
            operation=operation,
            tenant_id=run.tenant_id,
            started_at=started_at,
            duration_ms=int((time.monotonic() - began) * 1000),
            results=outcomes,
        )

    try:
        elements = run.call(lambda creds: call(creds, bodies, idempotency_key=key))
    except Paused as exc:
        outbox.records_unsend(records, unclear_before=unclear_before, reason=exc.reason)
        raise
    except (DatabaseError, InterfaceError):
        raise
    except (XeroValidationError, XeroNotFound) as exc:
        for record, body, request in zip(records, bodies, sent, strict=True):
            messages = exc.messages if isinstance(exc, XeroValidationError) else []
            _mark_refused(
                run, record, f"Xero refused it: {exc}", messages, body=body, request=request, outcomes=outcomes
            )
    except XeroAuthExpired as exc:  # Xero did nothing
        for record, request in zip(records, sent, strict=True):
            outbox.record_mark_failed(record, reason=str(exc))
            outcomes.append(outbox.CallResult(record, Outcome.FAILED, str(exc), request))
    except (XeroUnavailable, SoftTimeLimitExceeded, Exception) as exc:  # noqa: BLE001 - never hold the run
        reason = str(exc) if isinstance(exc, XeroUnavailable) else f"Unexpected error: {type(exc).__name__}: {exc}"
        if not isinstance(exc, XeroUnavailable):
            logger.exception("Xero %s for whitelabel %s failed unexpectedly", operation, run.whitelabel.pk)
        for record, request in zip(records, sent, strict=True):
            outbox.record_mark_failed(record, reason=f"{reason} It will be looked up in Xero first.", unclear=True)
            outcomes.append(outbox.CallResult(record, Outcome.UNCLEAR, reason, request))
        if isinstance(exc, SoftTimeLimitExceeded):
            raise
    else:
        if len(elements) != len(records):
            for record, request in zip(records, sent, strict=True):
                reason = "Xero's answer did not list every record; it will be looked up."
                outbox.record_mark_failed(record, reason=reason, unclear=True)
                outcomes.append(outbox.CallResult(record, Outcome.UNCLEAR, reason, request))
        else:
            accepted = []
            for record, body, request, element in zip(records, bodies, sent, elements, strict=True):
                answer = outbox.Json.of(element.data)
                if element.ok:
                    accepted.append((record, str(element.data.get(id_field) or ""), answer))
                    outcomes.append(outbox.CallResult(record, Outcome.SENT, "", request, answer))
                else:
                    reason = "Xero refused it: " + "; ".join(element.errors)
                    _mark_refused(
                        run, record, reason, element.errors, body=body, request=request, response=answer,
                        outcomes=outcomes,
                    )  # fmt: skip
            # What Xero accepted, the records that waited for it, and the attempts: one commit.
            with transaction.atomic():
                sent_now = outbox.records_mark_sent(accepted, tenant_id=run.tenant_id)
                record_attempts()
                recorded = True
            run.sent += sent_now
    finally:
        if outcomes and not recorded:
            record_attempts()


def _mark_refused(run, record, reason, messages, *, body, request, outcomes, response=None) -> None:
    """Xero said no: the same body would be refused again, so it waits for a fix (or a slow retry). A refusal
    for a lock date or the plan holds the record instead (sync/holds.py). `request` and `response`: the body
    and Xero's answer as stored."""
    if holds.held_instead_of_refused(run, record, messages, body):
        outcomes.append(outbox.CallResult(record, Outcome.REFUSED, reason, request, response))
        return
    run.refused = True
    outbox.record_mark_failed(
        record,
        reason=reason,
        response=response.value if response is not None else None,
        retry_in=settings.XERO_SYNC_VALIDATION_RETRY_SECONDS,
    )
    outcomes.append(outbox.CallResult(record, Outcome.REFUSED, reason, request, response))


def fail_without_call(run: Run, record: SyncRecord, reason: str) -> None:
    """Arena can tell it would be refused (a missing setting, tax rate or currency): no call is made."""
    run.refused = True
    outbox.record_mark_failed(record, reason=reason, retry_in=settings.XERO_SYNC_VALIDATION_RETRY_SECONDS)


def mark_found(run: Run, item: Item, data: dict, id_field: str) -> None:
    logger.info("Found %s %s already in Xero; not sending it again", item.record.kind, item.record.label)
    answer = outbox.Json.of(data)
    run.sent += outbox.record_mark_sent(
        item.record, xero_id=str(data.get(id_field) or ""), response=answer, tenant_id=run.tenant_id
    )
    outbox.attempts_record(
        operation="look-up",
        tenant_id=run.tenant_id,
        started_at=timezone.now(),
        duration_ms=0,
        results=[outbox.CallResult(item.record, Outcome.FOUND, "Already in Xero.", item.body, answer)],
    )


def look_up_unclear(
    run: Run, items: list[Item], find: Callable[..., list[dict]], key_field: str, id_field: str, accept=None
) -> list[Item]:
    """Items whose last call got no answer: those Xero already has are marked sent; returns the rest."""
    items = holds.honour_lock_dates(run, items)
    unclear = [i for i in items if i.record.outcome_unknown]
    if not unclear:
        return items
    existing = run.call(lambda creds: find(creds, [i.key for i in unclear]))
    accept = accept or (lambda data: data.get("Status") not in ("DELETED", "VOIDED"))
    by_key = {str(data.get(key_field)): data for data in existing if accept(data)}
    return mark_found_or_keep(run, items, by_key, lambda item: item.key, id_field)


def mark_found_or_keep(run: Run, items: list[Item], found: dict, key: Callable[[Item], object], id_field: str):
    """Mark sent the unclear items Xero already has (`found`, by `key(item)`); returns the others."""
    remaining = []
    for item in items:
        match = found.get(key(item)) if item.record.outcome_unknown else None
        if match:
            mark_found(run, item, match, id_field)
        else:
            remaining.append(item)
    return remaining


def skip_reversed(items: list[Item], reversed_ids: set[int]) -> list[Item]:
    """Money reversed in Arena before it reached Xero (and not found there) is not sent at all."""
    for item in items:
        if item.record.object_id in reversed_ids:
            outbox.record_skip(item.record, reason="Reversed in Arena before it reached Xero.")
    return [i for i in items if i.record.object_id not in reversed_ids]


def loaded(records: list[SyncRecord], queryset) -> tuple[list[SyncRecord], dict]:
    """The Arena records behind `records`, from `queryset`, by primary key; the records whose Arena record is
    gone are skipped (and left out of the list returned)."""
    objects = queryset.in_bulk([r.object_id for r in records])
    return skip_gone(records, objects), objects


def skip_gone(records: list[SyncRecord], objects: dict) -> list[SyncRecord]:
    """The records whose Arena record still exists; the others are skipped."""
    for record in records:
        if record.object_id not in objects:
            outbox.record_skip(record, reason="The Arena record no longer exists.")
    return [r for r in records if r.object_id in objects]


def in_this_organisation(run: Run, record: SyncRecord | None) -> str:
    """The record's Xero id, if it belongs to the organisation this run sends to."""
    if record is not None and record.xero_id and record.xero_tenant_id == run.tenant_id:
        return record.xero_id
    return ""


def records_of(kind: str, object_ids, *, bodies: bool = False) -> dict[int, SyncRecord]:
    """The sync records of these Arena records, by Arena primary key: what a record needs of another (its
    status, Xero id and organisation). With `bodies`, also what was sent and what Xero answered (left out
    otherwise: decoding them for every dependency of a batch cost more than the rest of its row)."""
    records = SyncRecord.objects.filter(kind=kind, object_id__in=set(object_ids))
    if not bodies:
        records = records.defer("payload", "response")
    return {r.object_id: r for r in records}


def dependency_id_or_park(
    run: Run, record: SyncRecord, dependency: SyncRecord | None, *, kind: str, object_id: int, label: str
) -> str:
    """The Xero id of what `record` needs (its contact, invoice, credit); without it, `record` is parked
    until it is sent, and it is sent if nothing else would send it."""
    xero_id = in_this_organisation(run, dependency)
    if xero_id:
        return xero_id
    what = f"{SyncRecord.Kind(kind).label.lower()} {label}"
    if dependency is None:
        # Another record of this batch may have made it already (two payments on one invoice never recorded).
        dependency, _ = SyncRecord.objects.get_or_create(
            kind=kind,
            object_id=object_id,
            defaults={"whitelabel_id": record.whitelabel_id, "label": label, "next_attempt_at": timezone.now()},
        )
        if xero_id := in_this_organisation(run, dependency):
            return xero_id
    if dependency.status in (Status.SKIPPED, Status.SENT):
        outbox.dependency_rearm(dependency)
    if dependency.status == Status.FAILED:
        reason = f"Waiting for {what}, which failed: {dependency.reason}"
    else:
        reason = f"Waiting for {what} to reach Xero."
    outbox.record_park(record, on=dependency, reason=reason)
    return ""


def contact_id_or_park(run: Run, record: SyncRecord, contacts: dict[int, SyncRecord], customer: Customer) -> str:
    """The ContactID of the record's customer; without it the record waits for the contact."""
    return dependency_id_or_park(
        run, record, contacts.get(customer.pk), kind=Kind.CONTACT, object_id=customer.pk, label=customer.account_number
    )


def invoice_id_or_park(run: Run, record: SyncRecord, invoices: dict[int, SyncRecord], invoice: Invoice) -> str:
    """The InvoiceID of the invoice the record pays or credits; without it the record waits for it."""
    return dependency_id_or_park(
        run, record, invoices.get(invoice.pk), kind=Kind.INVOICE, object_id=invoice.pk, label=invoice.number
    )


def overpayment_id_or_park(run: Run, record: SyncRecord, credits: dict[int, SyncRecord], payment: Payment) -> str:
    """The OverpaymentID holding the credit a payment left; without it the record waits for it."""
    return dependency_id_or_park(
        run, record, credits.get(payment.pk), kind=Kind.OVERPAYMENT, object_id=payment.pk, label=payment.receipt.number
    )


def credit_note_id_or_park(run: Run, record: SyncRecord, notes: dict[int, SyncRecord], note: CreditNote) -> str:
    """The CreditNoteID of a credit note; without it the record waits for it."""
    return dependency_id_or_park(
        run, record, notes.get(note.pk), kind=Kind.CREDIT_NOTE, object_id=note.pk, label=note.number
    )


def _failed_if_refused(run: Run, record: SyncRecord, field: str) -> bool:
    """Fail the record without a call (visibly, until the page is saved) when a setting it needs is empty or
    one Xero would refuse (mapping.setting_refusal, worked out once per run: the settings and the chart are
    the run's); True if it did."""

    def refusal_of(connection: XeroConnection) -> str:
        chart = run.organisation_setting("chart", chart_for_sending)
        return mapping.setting_refusal(
            field=field, code=getattr(run.accounting, field), chart=chart, organisation=run.organisation
        )

    refusal = run.organisation_setting(f"refusal-of-{field}", refusal_of)
    if refusal:
        fail_without_call(run, record, refusal)
    return bool(refusal)


def revenue_account_of(run: Run):
    chart = run.organisation_setting("chart", chart_for_sending)
    return next((a for a in chart if a.code.lower() == run.accounting.revenue_code.lower()), None)


def failed_without_bank_account(run: Run, record: SyncRecord) -> bool:
    return _failed_if_refused(run, record, "bank_account_code")


def failed_without_revenue_code(run: Run, record: SyncRecord) -> bool:
    return _failed_if_refused(run, record, "revenue_code")


def check_currency(run: Run, currency: str) -> None:
    enabled = run.organisation_setting("currencies", currencies)
    mapping.currency_check(currency=currency, enabled=enabled, organisation=run.organisation)


def known_tax_rates(run: Run) -> list[mapping.TaxRate]:
    """The organisation's tax rates, read once per run (and cached per organisation), as mapping reads them."""
    rows = run.organisation_setting("tax-rates", tax_rates)
    return run.organisation_setting("tax-rates-known", lambda connection: mapping.tax_rates_from_xero(rows))


def tax_types_for(run: Run, rates: set[Decimal]) -> dict[Decimal, str]:
    account = revenue_account_of(run)
    if account is None:
        raise MappingError(
            f"{run.organisation} has no account {run.accounting.revenue_code}: choose a revenue code on the "
            "Accounting System Settings page."
        )
    known = known_tax_rates(run)
    return {
        rate.normalize(): mapping.tax_type(
            rate=rate, account_tax_type=account.tax_type, rates=known, organisation=run.organisation
        )
        for rate in rates
    }


def delete_one(run: Run, item: Item, operation: str, call, id_field: str, *, target: str) -> None:
    """Xero deletes these one at a time (a payment, a bank transaction)."""
    send(run, [item], operation, call, id_field, target=target)


def never_sent(record: SyncRecord | None) -> bool:
    return record is None or (record.status == Status.SKIPPED and not record.xero_id)


def decimal_of(value) -> Decimal:
    return Decimal(str(value or 0))


