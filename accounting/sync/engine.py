"""A sync run for one whitelabel (one Xero organisation): drain the outbox in dependency order
(contacts, invoices, payments, credit, credit allocations, voids, receipts), in batches of up to
`XERO_SYNC_BATCH_SIZE`, each element's answer landing on its own record.

- **One run per organisation** (runner.py's lease). A run works for `XERO_SYNC_RUN_SECONDS` at most,
  then gives its worker back and queues the next run, so no organisation waits for another's backlog.
- **Coalescing.** Full batches go at once; a part batch waits while billing changes keep arriving, until
  `XERO_SYNC_COALESCE_SECONDS` pass without one (or its oldest record has waited `XERO_SYNC_MAX_HOLD_SECONDS`).
- **No polling.** A record that needs another one in Xero first (a payment its invoice) is parked
  (status waiting) and woken when that one is sent; nothing runs meanwhile. If the other one isn't on
  its way (skipped, or sent to an organisation no longer connected) it is sent first.
- **Exactly once.** Every write carries an Idempotency-Key naming the action (operation, target,
  records and their versions, body); Xero ids are stored with their organisation; a record whose last
  call got no answer is looked up in Xero before it is sent again (invoices by number, payments and
  receipts by reference, overpayments by their line, allocations on their overpayment, voids by status).
- **One retry policy**: outbox.record_mark_failed. Rate limits hold the run back without counting an
  attempt; Xero's 400s wait for a fix; anything unexpected fails the record with its message.
"""

import datetime
import hashlib
import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial

from billiard.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError
from django.db.models import Q
from django.db.models.functions import Lower, Trim
from django.utils import timezone

from payments.models import (
    Allocation,
    CreditNote,
    CreditNoteAllocation,
    Customer,
    Invoice,
    Payment,
    Receipt,
    Refund,
    RefundPart,
    Whitelabel,
)

from .. import services
from ..errors import ConnectionChanged, MappingError, NotConnected
from ..models import AccountingSettings, SyncAttempt, SyncRecord, SyncState, XeroConnection
from ..xero import client
from ..xero.errors import (
    XeroAuthExpired,
    XeroConnectionRevoked,
    XeroNotFound,
    XeroRateLimited,
    XeroUnavailable,
    XeroValidationError,
)
from . import mapping, outbox, payloads, runner

logger = logging.getLogger(__name__)
Kind = SyncRecord.Kind
Status = SyncRecord.Status
Outcome = SyncAttempt.Outcome
MAX_PASSES = 20


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
        return self._guarded(lambda: services.xero_call(self.connection, fn, tenant_id=self.tenant_id))

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

    def should_yield(self) -> bool:
        """After XERO_SYNC_FAIR_BATCHES batches, give the worker back if another organisation's run is queued
        and due but has no worker: runs take turns, so no organisation waits for another's whole backlog."""
        if self.batches < settings.XERO_SYNC_FAIR_BATCHES:
            return False
        now = timezone.now()
        waiting = SyncState.objects.filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now), wake_at__lte=now)
        return waiting.exclude(whitelabel_id=self.whitelabel.pk).exists()


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


def _jsonable(data):
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def _send(
    run: Run,
    items: list[Item],
    operation: str,
    call: Callable[..., list[client.Element]],
    id_field: str,
    *,
    target: str = "",
) -> None:
    """Send one batch; each element's answer lands on its own record, and every record gets an attempt."""
    if not items:
        return
    records = [i.record for i in items]
    bodies = [_jsonable(i.body) for i in items]
    unclear_before = {r.pk: r.outcome_unknown for r in records}
    outbox.records_mark_sending(records, {r.pk: b for r, b in zip(records, bodies, strict=True)})
    key = idempotency_key(operation, target, records, bodies)
    started_at, began = timezone.now(), time.monotonic()
    outcomes: list[outbox.Outcome] = []
    try:
        elements = run.call(lambda creds: call(creds, bodies, idempotency_key=key))
    except Paused as exc:
        outbox.records_unsend(records, unclear_before=unclear_before, reason=exc.reason)
        raise
    except DatabaseError:
        raise
    except (XeroValidationError, XeroNotFound) as exc:
        for record, body in zip(records, bodies, strict=True):
            _mark_refused(record, f"Xero refused it: {exc}", body=body, outcomes=outcomes)
    except XeroAuthExpired as exc:  # Xero did nothing
        for record, body in zip(records, bodies, strict=True):
            outbox.record_mark_failed(record, reason=str(exc))
            outcomes.append(outbox.Outcome(record, Outcome.FAILED, str(exc), body))
    except (XeroUnavailable, SoftTimeLimitExceeded, Exception) as exc:  # noqa: BLE001 - never hold the run
        reason = str(exc) if isinstance(exc, XeroUnavailable) else f"Unexpected error: {type(exc).__name__}: {exc}"
        if not isinstance(exc, XeroUnavailable):
            logger.exception("Xero %s for whitelabel %s failed unexpectedly", operation, run.whitelabel.pk)
        for record, body in zip(records, bodies, strict=True):
            outbox.record_mark_failed(record, reason=f"{reason} It will be looked up in Xero first.", unclear=True)
            outcomes.append(outbox.Outcome(record, Outcome.UNCLEAR, reason, body))
        if isinstance(exc, SoftTimeLimitExceeded):
            raise
    else:
        if len(elements) != len(records):
            for record, body in zip(records, bodies, strict=True):
                reason = "Xero's answer did not list every record; it will be looked up."
                outbox.record_mark_failed(record, reason=reason, unclear=True)
                outcomes.append(outbox.Outcome(record, Outcome.UNCLEAR, reason, body))
        else:
            accepted = []
            for record, body, element in zip(records, bodies, elements, strict=True):
                answer = _jsonable(element.data)
                if element.ok:
                    accepted.append((record, str(element.data.get(id_field) or ""), answer))
                    outcomes.append(outbox.Outcome(record, Outcome.SENT, "", body, answer))
                else:
                    reason = "Xero refused it: " + "; ".join(element.errors)
                    _mark_refused(record, reason, body=body, response=answer, outcomes=outcomes)
            run.sent += outbox.records_mark_sent(accepted, tenant_id=run.tenant_id)
    finally:
        if outcomes:
            outbox.attempts_record(
                operation=operation,
                tenant_id=run.tenant_id,
                started_at=started_at,
                duration_ms=int((time.monotonic() - began) * 1000),
                outcomes=outcomes,
            )


def _mark_refused(record, reason, *, body, outcomes, response=None) -> None:
    """Xero said no: the same body would be refused again, so it waits for a fix (or a slow retry)."""
    outbox.record_mark_failed(
        record, reason=reason, response=response, retry_in=settings.XERO_SYNC_VALIDATION_RETRY_SECONDS
    )
    outcomes.append(outbox.Outcome(record, Outcome.REFUSED, reason, body, response))


def _fail_without_call(record: SyncRecord, reason: str) -> None:
    """Arena can tell it would be refused (a missing setting, tax rate or currency): no call is made."""
    outbox.record_mark_failed(record, reason=reason, retry_in=settings.XERO_SYNC_VALIDATION_RETRY_SECONDS)


def _mark_found(run: Run, item: Item, data: dict, id_field: str) -> None:
    logger.info("Found %s %s already in Xero; not sending it again", item.record.kind, item.record.label)
    answer = _jsonable(data)
    run.sent += outbox.record_mark_sent(
        item.record, xero_id=str(data.get(id_field) or ""), response=answer, tenant_id=run.tenant_id
    )
    outbox.attempts_record(
        operation="look-up",
        tenant_id=run.tenant_id,
        started_at=timezone.now(),
        duration_ms=0,
        outcomes=[outbox.Outcome(item.record, Outcome.FOUND, "Already in Xero.", item.body, answer)],
    )


def _look_up_unclear(
    run: Run, items: list[Item], find: Callable[..., list[dict]], key_field: str, id_field: str, accept=None
) -> list[Item]:
    """Items whose last call got no answer: those Xero already has are marked sent; returns the rest."""
    unclear = [i for i in items if i.record.outcome_unknown]
    if not unclear:
        return items
    existing = run.call(lambda creds: find(creds, [i.key for i in unclear]))
    accept = accept or (lambda data: data.get("Status") not in ("DELETED", "VOIDED"))
    by_key = {str(data.get(key_field)): data for data in existing if accept(data)}
    return _mark_found_or_keep(run, items, by_key, lambda item: item.key, id_field)


def _mark_found_or_keep(run: Run, items: list[Item], found: dict, key: Callable[[Item], object], id_field: str):
    """Mark sent the unclear items Xero already has (`found`, by `key(item)`); returns the others."""
    remaining = []
    for item in items:
        match = found.get(key(item)) if item.record.outcome_unknown else None
        if match:
            _mark_found(run, item, match, id_field)
        else:
            remaining.append(item)
    return remaining


def _skip_reversed(items: list[Item], reversed_ids: set[int]) -> list[Item]:
    """Money reversed in Arena before it reached Xero (and not found there) is not sent at all."""
    for item in items:
        if item.record.object_id in reversed_ids:
            outbox.record_skip(item.record, reason="Reversed in Arena before it reached Xero.")
    return [i for i in items if i.record.object_id not in reversed_ids]


def _skip_gone(records: list[SyncRecord], objects: dict) -> list[SyncRecord]:
    """The records whose Arena record still exists; the others are skipped."""
    for record in records:
        if record.object_id not in objects:
            outbox.record_skip(record, reason="The Arena record no longer exists.")
    return [r for r in records if r.object_id in objects]


def _in_this_organisation(run: Run, record: SyncRecord | None) -> str:
    """The record's Xero id, if it belongs to the organisation this run sends to."""
    if record is not None and record.xero_id and record.xero_tenant_id == run.tenant_id:
        return record.xero_id
    return ""


def _records_of(kind: str, object_ids) -> dict[int, SyncRecord]:
    return {r.object_id: r for r in SyncRecord.objects.filter(kind=kind, object_id__in=set(object_ids))}


def _dependency_id_or_park(
    run: Run, record: SyncRecord, dependency: SyncRecord | None, *, kind: str, object_id: int, label: str
) -> str:
    """The Xero id of what `record` needs (its contact, invoice, credit); without it, `record` is parked
    until it is sent, and it is sent if nothing else would send it."""
    xero_id = _in_this_organisation(run, dependency)
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
        if xero_id := _in_this_organisation(run, dependency):
            return xero_id
    if dependency.status in (Status.SKIPPED, Status.SENT):
        outbox.dependency_rearm(dependency)
    if dependency.status == Status.FAILED:
        reason = f"Waiting for {what}, which failed: {dependency.reason}"
    else:
        reason = f"Waiting for {what} to reach Xero."
    outbox.record_park(record, on=dependency, reason=reason)
    return ""


def _contact_id_or_park(run: Run, record: SyncRecord, contacts: dict[int, SyncRecord], customer: Customer) -> str:
    """The ContactID of the record's customer; without it the record waits for the contact."""
    return _dependency_id_or_park(
        run, record, contacts.get(customer.pk), kind=Kind.CONTACT, object_id=customer.pk, label=customer.account_number
    )


def _document_body_or_hold(run: Run, record: SyncRecord, contacts, document, build) -> dict | None:
    """The body of an invoice or credit note: its contact, its currency checked, its lines' tax rates
    mapped. None when it holds the record instead: parked for its contact, or failed without a call."""
    if _failed_without_revenue_code(run, record):
        return None
    contact_id = _contact_id_or_park(run, record, contacts, document.customer)
    if not contact_id:
        return None
    try:
        _check_currency(run, document.currency)
        tax_types = _tax_types(run, {line.tax_rate for line in document.lines.all()})
    except MappingError as exc:
        _fail_without_call(record, str(exc))
        return None
    return build(document, contact_id=contact_id, account_code=run.accounting.revenue_code, tax_types=tax_types)


def _bank_money_body_or_hold(run: Run, record: SyncRecord, contacts, customer, currency: str, build) -> dict | None:
    """The body of a pre-paid receipt or refund receipt: money in or out of the bank account on the revenue
    account, with that account's tax type. None when it holds the record instead: parked for its contact,
    or failed without a call."""
    if _failed_without_revenue_code(run, record) or _failed_without_bank_account(run, record):
        return None
    contact_id = _contact_id_or_park(run, record, contacts, customer)
    if not contact_id:
        return None
    try:
        _check_currency(run, currency)
        account = _revenue_account(run)
        if account is None:
            raise MappingError(f"{run.organisation} has no account {run.accounting.revenue_code}.")
    except MappingError as exc:
        _fail_without_call(record, str(exc))
        return None
    return build(
        contact_id=contact_id,
        bank_code=run.accounting.bank_account_code,
        account_code=run.accounting.revenue_code,
        tax_type=account.tax_type,
        tz=run.tz,
    )


def _failed_if_refused(run: Run, record: SyncRecord, field: str) -> bool:
    """Fail the record (visibly, until the page is saved) when a setting it needs is empty or one Xero would
    refuse (mapping.setting_refusal); True if it did."""
    chart = run.organisation_setting("chart", services.chart_of_accounts)
    refusal = mapping.setting_refusal(
        field=field, code=getattr(run.accounting, field), chart=chart, organisation=run.organisation
    )
    if refusal:
        _fail_without_call(record, refusal)
    return bool(refusal)


def _revenue_account(run: Run):
    chart = run.organisation_setting("chart", services.chart_of_accounts)
    return next((a for a in chart if a.code.lower() == run.accounting.revenue_code.lower()), None)


def _failed_without_bank_account(run: Run, record: SyncRecord) -> bool:
    return _failed_if_refused(run, record, "bank_account_code")


def _failed_without_revenue_code(run: Run, record: SyncRecord) -> bool:
    return _failed_if_refused(run, record, "revenue_code")


def _check_currency(run: Run, currency: str) -> None:
    enabled = run.organisation_setting("currencies", services.currencies)
    mapping.currency_check(currency=currency, enabled=enabled, organisation=run.organisation)


def _tax_types(run: Run, rates: set[Decimal]) -> dict[Decimal, str]:
    account = _revenue_account(run)
    if account is None:
        raise MappingError(
            f"{run.organisation} has no account {run.accounting.revenue_code}: choose a revenue code on the "
            "Accounting System Settings page."
        )
    known = mapping.tax_rates_from_xero(run.organisation_setting("tax-rates", services.tax_rates))
    return {
        rate.normalize(): mapping.tax_type(
            rate=rate, account_tax_type=account.tax_type, rates=known, organisation=run.organisation
        )
        for rate in rates
    }


# Contacts ---------------------------------------------------------------------------------------


def _contact_names(run: Run, customers: list[Customer]) -> dict[int, str]:
    """Each customer's contact name, unique among the whitelabel's customers (mapping.contact_name)."""
    wanted = {mapping.normalised(c.name) for c in customers}
    same_name = list(
        Customer.objects.annotate(key=Lower(Trim("name")))
        .filter(whitelabel_id=run.whitelabel.pk, key__in=wanted)
        .values_list("pk", "name")
    )
    held = {
        r.object_id: (r.payload or {}).get("Name", "")
        for r in SyncRecord.objects.filter(kind=Kind.CONTACT, object_id__in=[pk for pk, _ in same_name])
        if r.xero_tenant_id == run.tenant_id and r.xero_id
    }
    names = {}
    for customer in customers:
        key = mapping.normalised(customer.name)
        peers = [
            mapping.NameHolder(pk, held.get(pk, ""))
            for pk, name in same_name
            if pk != customer.pk and mapping.normalised(name) == key
        ]
        names[customer.pk] = mapping.contact_name(
            customer_id=customer.pk,
            name=customer.name,
            account_number=customer.account_number,
            own_name_in_xero=held.get(customer.pk, ""),
            peers=peers,
        )
    return names


def sync_contacts(run: Run, records: list[SyncRecord]) -> None:
    customers = Customer.objects.in_bulk([r.object_id for r in records])
    records = _skip_gone(records, customers)
    names = _contact_names(run, [customers[r.object_id] for r in records])
    items = [
        Item(
            r,
            payloads.contact(customers[r.object_id], name=names[r.object_id], xero_id=_in_this_organisation(run, r)),
        )
        for r in records
    ]
    # POST Contacts matches by ContactID, then ContactNumber: sending again updates, never duplicates.
    _send(run, items, "contacts", client.contacts_upsert, "ContactID")


# Invoices -----------------------------------------------------------------------------------------


def sync_invoices(run: Run, records: list[SyncRecord]) -> None:
    invoices = (
        Invoice.objects.select_related("customer").prefetch_related("lines").in_bulk([r.object_id for r in records])
    )
    records = _skip_gone(records, invoices)
    # Look up first: an invoice voided in Arena after an unclear send may be in Xero, and must be voided there.
    candidates = [Item(r, {}, invoices[r.object_id].number) for r in records]
    records = [i.record for i in _look_up_unclear(run, candidates, client.invoices_find, "InvoiceNumber", "InvoiceID")]
    contacts = _records_of(Kind.CONTACT, [invoices[r.object_id].customer_id for r in records])
    items = []
    for record in records:
        invoice = invoices[record.object_id]
        if invoice.status == Invoice.Status.VOID:
            outbox.record_skip(record, reason="Voided in Arena before it reached Xero.")
        elif body := _document_body_or_hold(run, record, contacts, invoice, payloads.invoice):
            items.append(Item(record, body, invoice.number))
    _send(run, items, "invoices", client.invoices_create, "InvoiceID")


def sync_invoice_voids(run: Run, records: list[SyncRecord]) -> None:
    invoices = Invoice.objects.in_bulk([r.object_id for r in records])
    records = _skip_gone(records, invoices)
    invoice_records = _records_of(Kind.INVOICE, [r.object_id for r in records])
    items = []
    for record in records:
        invoice_record = invoice_records.get(record.object_id)
        if _never_sent(invoice_record):
            outbox.record_skip(record, reason="The invoice never reached Xero, so there is nothing to void.")
            continue
        invoice_id = _dependency_id_or_park(
            run, record, invoice_record, kind=Kind.INVOICE, object_id=record.object_id, label=record.label
        )
        if invoice_id:
            items.append(Item(record, payloads.invoice_void(invoice_id), invoices[record.object_id].number))
    items = _look_up_unclear(
        run, items, client.invoices_find, "InvoiceNumber", "InvoiceID", accept=lambda d: d.get("Status") == "VOIDED"
    )
    _send(run, items, "invoice-voids", client.invoices_update, "InvoiceID")


# Money on invoices (post-paid) ---------------------------------------------------------------------


def _allocations(records: list[SyncRecord]) -> dict[int, Allocation]:
    return Allocation.objects.select_related("payment__receipt", "invoice").in_bulk([r.object_id for r in records])


def sync_payments(run: Run, records: list[SyncRecord]) -> None:
    allocations = _allocations(records)
    records = _skip_gone(records, allocations)
    invoices = _records_of(Kind.INVOICE, [allocations[r.object_id].invoice_id for r in records])
    items = []
    for record in records:
        if _failed_without_bank_account(run, record):
            continue
        allocation = allocations[record.object_id]
        invoice_id = _dependency_id_or_park(
            run,
            record,
            invoices.get(allocation.invoice_id),
            kind=Kind.INVOICE,
            object_id=allocation.invoice_id,
            label=allocation.invoice.number,
        )
        if invoice_id:
            body = payloads.payment(
                allocation, invoice_id=invoice_id, bank_code=run.accounting.bank_account_code, tz=run.tz
            )
            items.append(Item(record, body, payloads.payment_reference(allocation)))
    items = _look_up_unclear(run, items, client.payments_find, "Reference", "PaymentID")
    items = _skip_reversed(items, {pk for pk, a in allocations.items() if a.reversed_at})
    _send(run, items, "payments", client.payments_create, "PaymentID")


def sync_overpayments(run: Run, records: list[SyncRecord]) -> None:
    payments = (
        Payment.objects.select_related("receipt", "customer")
        .prefetch_related("allocations")
        .in_bulk([r.object_id for r in records])
    )
    records = _skip_gone(records, payments)
    contacts = _records_of(Kind.CONTACT, [payments[r.object_id].customer_id for r in records])
    items = []
    for record in records:
        payment = payments[record.object_id]
        if payloads.overpayment_amount(payment) <= 0:
            outbox.record_skip(record, reason="Nothing was left over as credit.")
            continue
        if _failed_without_bank_account(run, record):
            continue
        contact_id = _contact_id_or_park(run, record, contacts, payment.customer)
        if not contact_id:
            continue
        try:
            _check_currency(run, payment.currency)
        except MappingError as exc:
            _fail_without_call(record, str(exc))
            continue
        body = payloads.overpayment(
            payment, contact_id=contact_id, bank_code=run.accounting.bank_account_code, tz=run.tz
        )
        items.append(Item(record, body, payloads.overpayment_description(payment)))
    items = _look_up_overpayments(run, items)
    items = _skip_reversed(items, {pk for pk, p in payments.items() if p.reversed_at})
    _send(run, items, "overpayments", client.bank_transactions_create, "OverpaymentID")


def _look_up_overpayments(run: Run, items: list[Item]) -> list[Item]:
    """Xero keeps no Reference on overpayments: a lost one is recognised by its contact and its line,
    which names the receipt ("Credit from receipt RCT-000042")."""
    unclear = [i for i in items if i.record.outcome_unknown]
    if not unclear:
        return items
    contact_ids = sorted({i.body["Contact"]["ContactID"] for i in unclear})
    found = {}
    for overpayment in run.call(lambda creds: client.overpayments_find(creds, contact_ids)):
        if overpayment.get("Status") in ("VOIDED", "DELETED"):
            continue
        for line in overpayment.get("LineItems") or []:
            found[(overpayment["Contact"]["ContactID"], line.get("Description"))] = overpayment
    return _mark_found_or_keep(
        run, items, found, lambda item: (item.body["Contact"]["ContactID"], item.key), "OverpaymentID"
    )


def sync_credit_allocations(run: Run, records: list[SyncRecord]) -> None:
    allocations = _allocations(records)
    records = _skip_gone(records, allocations)
    credits = _records_of(Kind.OVERPAYMENT, [allocations[r.object_id].payment_id for r in records])
    invoices = _records_of(Kind.INVOICE, [allocations[r.object_id].invoice_id for r in records])
    by_overpayment: dict[str, list[Item]] = defaultdict(list)
    for record in records:
        allocation = allocations[record.object_id]
        overpayment_id = _dependency_id_or_park(
            run,
            record,
            credits.get(allocation.payment_id),
            kind=Kind.OVERPAYMENT,
            object_id=allocation.payment_id,
            label=allocation.payment.receipt.number,
        )
        invoice_id = overpayment_id and _dependency_id_or_park(
            run,
            record,
            invoices.get(allocation.invoice_id),
            kind=Kind.INVOICE,
            object_id=allocation.invoice_id,
            label=allocation.invoice.number,
        )
        if invoice_id:
            body = payloads.credit_allocation(allocation, invoice_id=invoice_id, tz=run.tz)
            by_overpayment[overpayment_id].append(Item(record, body))
    for overpayment_id, items in by_overpayment.items():
        payment_ids = Allocation.objects.filter(pk__in=[i.record.object_id for i in items]).values("payment_id")
        _send_allocations(
            run,
            overpayment_id,
            items,
            "allocations",
            fetch=client.overpayment_get,
            allocate=client.overpayment_allocate,
            siblings=Allocation.objects.filter(payment__in=payment_ids).values("id"),
        )


def _send_allocations(run: Run, credit_id: str, items: list[Item], operation: str, *, fetch, allocate, siblings):
    """One call per credit (an overpayment, a credit note) with every invoice it pays, after looking up
    those whose last call got no answer."""
    items = _look_up_allocations(
        run, items, fetch=lambda creds: fetch(creds, credit_id), kind=items[0].record.kind, siblings=siblings
    )
    _send(
        run,
        items,
        operation,
        lambda creds, bodies, idempotency_key: allocate(creds, credit_id, bodies, idempotency_key=idempotency_key),
        "AllocationID",
        target=credit_id,
    )


def _look_up_allocations(run: Run, items: list[Item], *, fetch, kind: str, siblings) -> list[Item]:
    """An unclear allocation is found on its credit (`fetch()`: the overpayment or credit note) by invoice
    and amount; each existing allocation counts once, against those already sent (`siblings`: the ids of
    the Arena allocations of the same credit)."""
    if not any(i.record.outcome_unknown for i in items):
        return items
    credit = run.call(lambda creds: fetch(creds))
    existing = defaultdict(list)
    for allocation in credit.get("Allocations") or []:
        key = ((allocation.get("Invoice") or {}).get("InvoiceID"), payloads.money(_decimal(allocation.get("Amount"))))
        existing[key].append(allocation)
    sent = SyncRecord.objects.filter(
        kind=kind, status=Status.SENT, xero_tenant_id=run.tenant_id, payload__isnull=False, object_id__in=siblings
    ).exclude(pk__in=[i.record.pk for i in items])
    for record in sent:
        key = ((record.payload.get("Invoice") or {}).get("InvoiceID"), record.payload.get("Amount"))
        if existing.get(key):
            existing[key].pop()
    remaining = []
    for item in items:
        key = (item.body["Invoice"]["InvoiceID"], item.body["Amount"])
        if item.record.outcome_unknown and existing.get(key):
            _mark_found(run, item, existing[key].pop(), "AllocationID")
        else:
            remaining.append(item)
    return remaining


def _decimal(value) -> Decimal:
    return Decimal(str(value or 0))


# Receipts (pre-paid) ---------------------------------------------------------------------------


def sync_receipts(run: Run, records: list[SyncRecord]) -> None:
    receipts = Receipt.objects.select_related("payment__customer").in_bulk([r.object_id for r in records])
    records = _skip_gone(records, receipts)
    contacts = _records_of(Kind.CONTACT, [receipts[r.object_id].payment.customer_id for r in records])
    items = []
    for record in records:
        receipt = receipts[record.object_id]
        payment = receipt.payment
        build = partial(payloads.receipt, receipt)
        if body := _bank_money_body_or_hold(run, record, contacts, payment.customer, payment.currency, build):
            items.append(Item(record, body, receipt.number))
    items = _look_up_unclear(run, items, client.bank_transactions_find, "Reference", "BankTransactionID")
    items = _skip_reversed(items, {pk for pk, r in receipts.items() if r.payment.reversed_at})
    _send(run, items, "receipts", client.bank_transactions_create, "BankTransactionID")


# Money flowing back -------------------------------------------------------------------------------


def sync_credit_notes(run: Run, records: list[SyncRecord]) -> None:
    notes = (
        CreditNote.objects.select_related("customer", "invoice")
        .prefetch_related("lines")
        .in_bulk([r.object_id for r in records])
    )
    records = _skip_gone(records, notes)
    candidates = [Item(r, {}, notes[r.object_id].number) for r in records]
    found = _look_up_unclear(run, candidates, client.credit_notes_find, "CreditNoteNumber", "CreditNoteID")
    records = [i.record for i in found]
    contacts = _records_of(Kind.CONTACT, [notes[r.object_id].customer_id for r in records])
    items = []
    for record in records:
        note = notes[record.object_id]
        if body := _document_body_or_hold(run, record, contacts, note, payloads.credit_note):
            items.append(Item(record, body, note.number))
    _send(run, items, "credit-notes", client.credit_notes_create, "CreditNoteID")


def sync_credit_note_allocations(run: Run, records: list[SyncRecord]) -> None:
    allocations = CreditNoteAllocation.objects.select_related("credit_note", "invoice").in_bulk(
        [r.object_id for r in records]
    )
    records = _skip_gone(records, allocations)
    notes = _records_of(Kind.CREDIT_NOTE, [allocations[r.object_id].credit_note_id for r in records])
    invoices = _records_of(Kind.INVOICE, [allocations[r.object_id].invoice_id for r in records])
    by_note: dict[tuple[str, int], list[Item]] = defaultdict(list)
    for record in records:
        allocation = allocations[record.object_id]
        note_id = _dependency_id_or_park(
            run,
            record,
            notes.get(allocation.credit_note_id),
            kind=Kind.CREDIT_NOTE,
            object_id=allocation.credit_note_id,
            label=allocation.credit_note.number,
        )
        invoice_id = note_id and _dependency_id_or_park(
            run,
            record,
            invoices.get(allocation.invoice_id),
            kind=Kind.INVOICE,
            object_id=allocation.invoice_id,
            label=allocation.invoice.number,
        )
        if invoice_id:
            body = payloads.allocation_to_invoice(
                allocation.amount, invoice_id=invoice_id, at=allocation.allocated_at, tz=run.tz
            )
            by_note[(note_id, allocation.credit_note_id)].append(Item(record, body))
    for (note_id, arena_note_id), items in by_note.items():
        _send_allocations(
            run,
            note_id,
            items,
            "credit-note-allocations",
            fetch=client.credit_note_get,
            allocate=client.credit_note_allocate,
            siblings=CreditNoteAllocation.objects.filter(credit_note_id=arena_note_id).values("id"),
        )


def sync_refunds(run: Run, records: list[SyncRecord]) -> None:
    """Post-paid: credit paid back is a refund of the overpayment or credit note that held it."""
    parts = RefundPart.objects.select_related("refund", "payment__receipt", "credit_note").in_bulk(
        [r.object_id for r in records]
    )
    records = _skip_gone(records, parts)
    overpayments = _records_of(Kind.OVERPAYMENT, [p.payment_id for p in parts.values() if p.payment_id])
    notes = _records_of(Kind.CREDIT_NOTE, [p.credit_note_id for p in parts.values() if p.credit_note_id])
    items = []
    for record in records:
        if _failed_without_bank_account(run, record):
            continue
        part = parts[record.object_id]
        if part.payment_id:
            credit_id = _dependency_id_or_park(
                run,
                record,
                overpayments.get(part.payment_id),
                kind=Kind.OVERPAYMENT,
                object_id=part.payment_id,
                label=part.payment.receipt.number,
            )
            credit = {"Overpayment": {"OverpaymentID": credit_id}}
        else:
            credit_id = _dependency_id_or_park(
                run,
                record,
                notes.get(part.credit_note_id),
                kind=Kind.CREDIT_NOTE,
                object_id=part.credit_note_id,
                label=part.credit_note.number,
            )
            credit = {"CreditNote": {"CreditNoteID": credit_id}}
        if credit_id:
            body = payloads.refund(part, credit=credit, bank_code=run.accounting.bank_account_code, tz=run.tz)
            items.append(Item(record, body, payloads.refund_reference(part)))
    items = _look_up_unclear(run, items, client.payments_find, "Reference", "PaymentID")
    _send(run, items, "refunds", client.payments_create, "PaymentID")


def sync_refund_receipts(run: Run, records: list[SyncRecord]) -> None:
    """Pre-paid: the refund receipt is money out of the bank account, on the revenue code."""
    refunds = Refund.objects.select_related("customer").in_bulk([r.object_id for r in records])
    records = _skip_gone(records, refunds)
    contacts = _records_of(Kind.CONTACT, [refunds[r.object_id].customer_id for r in records])
    items = []
    for record in records:
        refund = refunds[record.object_id]
        build = partial(payloads.refund_receipt, refund)
        if body := _bank_money_body_or_hold(run, record, contacts, refund.customer, refund.currency, build):
            items.append(Item(record, body, refund.number))
    items = _look_up_unclear(run, items, client.bank_transactions_find, "Reference", "BankTransactionID")
    _send(run, items, "refund-receipts", client.bank_transactions_create, "BankTransactionID")


def _delete_one(run: Run, item: Item, operation: str, call, id_field: str, *, target: str) -> None:
    """Xero deletes these one at a time (a payment, a bank transaction)."""
    _send(run, [item], operation, call, id_field, target=target)


def _never_sent(record: SyncRecord | None) -> bool:
    return record is None or (record.status == Status.SKIPPED and not record.xero_id)


def sync_payment_reversals(run: Run, records: list[SyncRecord]) -> None:
    """A reversed payment on an invoice: its Xero payment is deleted, and the invoice is owed again."""
    payments = _records_of(Kind.PAYMENT, [r.object_id for r in records])
    for record in records:
        payment = payments.get(record.object_id)
        if _never_sent(payment):
            outbox.record_skip(record, reason="The payment never reached Xero, so there is nothing to reverse.")
            continue
        payment_id = _dependency_id_or_park(
            run, record, payment, kind=Kind.PAYMENT, object_id=record.object_id, label=record.label
        )
        if not payment_id:
            continue
        item = Item(record, {"PaymentID": payment_id, "Status": "DELETED"})
        if (
            record.outcome_unknown
            and run.call(lambda creds, pid=payment_id: client.payment_get(creds, pid)).get("Status") == "DELETED"
        ):
            _mark_found(run, item, {"PaymentID": payment_id, "Status": "DELETED"}, "PaymentID")
            continue
        _delete_one(
            run,
            item,
            "payment-reversals",
            lambda creds, bodies, idempotency_key, pid=payment_id: client.payment_delete(
                creds, pid, idempotency_key=idempotency_key
            ),
            "PaymentID",
            target=payment_id,
        )


def _overpayment_transaction_id(run: Run, overpayment: SyncRecord) -> str:
    """The bank transaction behind an overpayment: in Xero's answer when Arena created it; looked up when
    Arena found the overpayment after a lost answer (an overpayment doesn't name its bank transaction)."""
    known = (overpayment.response or {}).get("BankTransactionID")
    if known:
        return known
    found = run.call(lambda creds: client.bank_transaction_of_overpayment(creds, overpayment.xero_id))
    return (found or {}).get("BankTransactionID", "")


def sync_deposit_reversals(run: Run, records: list[SyncRecord]) -> None:
    """A reversed payment's money in Xero beyond its invoices: post-paid, the RECEIVE-OVERPAYMENT that
    holds its credit; pre-paid, its receipt. That bank transaction is deleted."""
    prepaid = run.accounting.payment_type == AccountingSettings.PaymentType.PREPAID
    payments = Payment.objects.select_related("receipt").in_bulk([r.object_id for r in records])
    records = _skip_gone(records, payments)
    kind = Kind.RECEIPT if prepaid else Kind.OVERPAYMENT
    deposits = _records_of(kind, [payments[r.object_id].receipt.pk if prepaid else r.object_id for r in records])
    for record in records:
        payment = payments[record.object_id]
        deposit_key = payment.receipt.pk if prepaid else payment.pk
        deposit = deposits.get(deposit_key)
        if deposit is None and not prepaid:
            outbox.record_skip(record, reason="The payment left no credit, so Xero has nothing more to reverse.")
            continue
        if _never_sent(deposit):
            what = "receipt" if prepaid else "credit"
            outbox.record_skip(
                record, reason=f"The payment's {what} never reached Xero, so there is nothing to reverse."
            )
            continue
        if not _dependency_id_or_park(
            run, record, deposit, kind=kind, object_id=deposit_key, label=payment.receipt.number
        ):
            continue
        transaction_id = deposit.xero_id if prepaid else _overpayment_transaction_id(run, deposit)
        if not transaction_id:
            _fail_without_call(record, f"Xero has no bank transaction for credit {payment.receipt.number} any more.")
            continue
        body = payloads.bank_transaction_deletion(deposit.payload or {}, transaction_id)
        item = Item(record, body)
        if record.outcome_unknown:
            current = run.call(lambda creds, tid=transaction_id: client.bank_transaction_get(creds, tid))
            if current.get("Status") == "DELETED":
                _mark_found(run, item, current, "BankTransactionID")
                continue
        _delete_one(
            run,
            item,
            "deposit-reversals",
            lambda creds, bodies, idempotency_key: client.bank_transaction_delete(
                creds, bodies[0], idempotency_key=idempotency_key
            ),
            "BankTransactionID",
            target=transaction_id,
        )


ORDER = [
    (Kind.CONTACT, sync_contacts),
    (Kind.INVOICE, sync_invoices),
    (Kind.PAYMENT, sync_payments),
    (Kind.OVERPAYMENT, sync_overpayments),
    (Kind.CREDIT_ALLOCATION, sync_credit_allocations),
    (Kind.CREDIT_NOTE, sync_credit_notes),
    (Kind.CREDIT_NOTE_ALLOCATION, sync_credit_note_allocations),
    (Kind.REFUND, sync_refunds),
    (Kind.PAYMENT_REVERSAL, sync_payment_reversals),
    (Kind.DEPOSIT_REVERSAL, sync_deposit_reversals),
    (Kind.INVOICE_VOID, sync_invoice_voids),
    (Kind.RECEIPT, sync_receipts),
    (Kind.REFUND_RECEIPT, sync_refund_receipts),
]


# The run ---------------------------------------------------------------------------------------------


def _partial_batch_hold(whitelabel_id: int, oldest_due: datetime.datetime) -> datetime.datetime | None:
    """Until when a part batch waits for more of its kind (None: send it now)."""
    now = timezone.now()
    last_event = SyncState.objects.filter(whitelabel_id=whitelabel_id).values_list("last_event_at", flat=True).first()
    quiet_at = (last_event or now) + datetime.timedelta(seconds=settings.XERO_SYNC_COALESCE_SECONDS)
    give_up_at = oldest_due + datetime.timedelta(seconds=settings.XERO_SYNC_MAX_HOLD_SECONDS)
    if now >= quiet_at or now >= give_up_at:
        return None
    return min(quiet_at, give_up_at)


def _drain(run: Run) -> datetime.datetime | None:
    """Send what is due, kind by kind, until nothing is; returns when part batches held back may go."""
    batch = settings.XERO_SYNC_BATCH_SIZE
    whitelabel_id = run.whitelabel.pk
    holds: dict[str, datetime.datetime] = {}
    for _ in range(MAX_PASSES):
        progress = False
        for kind, handler in ORDER:
            while True:
                if run.out_of_time():
                    return timezone.now()
                due = outbox.due(whitelabel_id, kind, limit=batch)
                hold = run.hold_partial and due and len(due) < batch and _partial_batch_hold(whitelabel_id, due[0])
                if hold:
                    holds[kind] = hold
                    break
                holds.pop(kind, None)
                records = outbox.records_claim(whitelabel_id=whitelabel_id, kind=kind, limit=batch) if due else []
                if not records:
                    break
                _handle(run, handler, records)
                progress = True
                run.batches += 1
                if run.should_yield():
                    return timezone.now()
        if not progress:
            return min(holds.values(), default=None)
    return timezone.now()


def _handle(run: Run, handler, records: list[SyncRecord]) -> None:
    """Run one kind's handler; whatever it leaves claimed is given back with the reason, never held."""
    try:
        handler(run, records)
    except Paused as exc:
        outbox.records_release(records, reason=exc.reason)
        raise
    except (DatabaseError, SoftTimeLimitExceeded):
        raise
    except Exception as exc:  # noqa: BLE001 - one kind's bug must not hold the organisation's run
        logger.exception("Xero sync of %s records for whitelabel %s failed", records[0].kind, run.whitelabel.pk)
        outbox.records_fail_unexpectedly(records, reason=f"Unexpected error: {type(exc).__name__}: {exc}")


def _skip_all(whitelabel_id: int) -> None:
    reason = outbox.skip_reason(whitelabel_id)
    for kind, _ in ORDER:
        while records := outbox.records_claim(whitelabel_id=whitelabel_id, kind=kind, limit=1000):
            for record in records:
                outbox.record_skip(record, reason=reason)


def _switch_organisation(whitelabel_id: int, connection: XeroConnection) -> None:
    """The whitelabel now books to another organisation: send it everything (see the README)."""
    state = SyncState.objects.filter(whitelabel_id=whitelabel_id).first()
    if state is None or state.tenant_id == connection.tenant_id:
        return
    if state.tenant_id:
        count = outbox.records_rearm_for_tenant(
            whitelabel_id=whitelabel_id, tenant_id=connection.tenant_id, tenant_name=connection.tenant_name
        )
        logger.info("Whitelabel %s switched Xero organisation: %s records to send again", whitelabel_id, count)
    SyncState.objects.filter(pk=state.pk).update(tenant_id=connection.tenant_id)


def _run_once(whitelabel_id: int, *, deadline: float, hold_partial: bool) -> datetime.datetime | None:
    """Drain the organisation; returns when it needs the next run (None: when billing asks)."""
    connection = XeroConnection.objects.filter(whitelabel_id=whitelabel_id, status=XeroConnection.Status.ACTIVE).first()
    if connection is None:
        return None  # not connected, or waiting for an admin to reconnect: records wait
    accounting = AccountingSettings.objects.filter(whitelabel_id=whitelabel_id).first()
    if accounting is None or not accounting.uses_xero:
        _skip_all(whitelabel_id)
        return None
    paused = runner.paused_until(whitelabel_id)
    if paused is not None:
        return paused
    _switch_organisation(whitelabel_id, connection)
    run = Run(Whitelabel.objects.get(pk=whitelabel_id), connection, accounting, deadline, hold_partial)
    try:
        held = _drain(run)
    except Paused as exc:
        logger.info("Xero sync for whitelabel %s paused: %s", whitelabel_id, exc.reason)
        if exc.retry_in is None:
            return None  # the connection needs an admin; reconnecting asks for a run
        until = timezone.now() + datetime.timedelta(seconds=exc.retry_in)
        runner.pause(whitelabel_id, until=until, reason=exc.reason)
        return until
    runner.resumed(whitelabel_id, sent=run.sent > 0)
    later = outbox.next_due_at(whitelabel_id, after=timezone.now())
    return min([t for t in (held, later) if t is not None], default=None)


def run_organisation(whitelabel_id: int, *, hold_partial: bool = True) -> None:
    """One sync run for the whitelabel's organisation, if no other run holds it.

    It ends when nothing is due (and no billing change came meanwhile), or after XERO_SYNC_RUN_SECONDS;
    either way it hands the organisation back with the time of the next run, if any.
    """
    lease = runner.lease_acquire(whitelabel_id)
    if lease is None:
        return
    deadline = time.monotonic() + settings.XERO_SYNC_RUN_SECONDS
    # If the run breaks off (an error, the soft time limit), the next one comes after the first backoff.
    wake_at = timezone.now() + datetime.timedelta(seconds=settings.XERO_SYNC_RETRY_BASE_SECONDS)
    try:
        while True:
            seen = runner.event_seq(whitelabel_id)
            wake_at = _run_once(whitelabel_id, deadline=deadline, hold_partial=hold_partial)
            if time.monotonic() > deadline:
                wake_at = timezone.now()  # give the worker back; the next run carries on
                break
            soon = timezone.now() + datetime.timedelta(seconds=settings.XERO_SYNC_MAX_HOLD_SECONDS)
            if wake_at is not None and wake_at <= soon:
                break  # a run comes soon anyway and sees whatever billing added meanwhile
            # Nothing due soon: hand back only if billing added nothing while this run worked.
            if runner.lease_release(lease, wake_at=wake_at, seen_seq=seen) or not runner.lease_extend(lease):
                return  # handed back, or lost (the whitelabel was deleted, or the lease lapsed)
    except DatabaseError:
        _release_after_database_error(lease, wake_at)
        raise
    except BaseException:
        runner.lease_release(lease, wake_at=wake_at)
        raise
    runner.lease_release(lease, wake_at=wake_at)


def _release_after_database_error(lease: runner.Lease, wake_at) -> None:
    """The database connection broke mid-run: hand the organisation back on a fresh one if possible
    (else the lease lapses on its own)."""
    from django.db import connection

    try:
        connection.close()
        # Only this run could claim the organisation's records: give them back (their outcome stays
        # unknown where a call was made, so the next run looks them up first).
        SyncRecord.objects.filter(whitelabel_id=lease.whitelabel_id, claimed_until__isnull=False).update(
            claimed_until=None
        )
        runner.lease_release(lease, wake_at=wake_at)
    except DatabaseError:
        logger.warning("Could not release the sync lease of whitelabel %s; it lapses", lease.whitelabel_id)


def whitelabels_due(now: datetime.datetime | None = None) -> list[int]:
    """Whitelabels with an active connection, records due now, and no pause (for the sweeper)."""
    now = now or timezone.now()
    active = XeroConnection.objects.filter(status=XeroConnection.Status.ACTIVE).values("whitelabel_id")
    paused = SyncState.objects.filter(paused_until__gt=now).values("whitelabel_id")
    return list(
        SyncRecord.objects.filter(outbox.due_filter(now), whitelabel_id__in=active)
        .exclude(whitelabel_id__in=paused)
        .values_list("whitelabel_id", flat=True)
        .distinct()
    )
