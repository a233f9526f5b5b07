"""The sync loop for one whitelabel (one Xero organisation): claim due outbox rows, send them in
batches in dependency order (contacts, invoices, payments, credit, voids, receipts), and record each
element's result on its own.

Exactly once: every write carries an Idempotency-Key derived from its body; Xero ids are stored on the
rows; a row whose last call got no answer is looked up in Xero (invoice number, reference, or contact,
amount and date for overpayments) before it is sent again. Contacts are upserted by ContactNumber.
"""

import datetime
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import F, Min
from django.utils import timezone

from payments.models import Allocation, Customer, Invoice, Payment, Receipt

from .. import services
from ..models import AccountingSettings, SyncRecord, XeroConnection
from ..xero import client
from ..xero.errors import (
    XeroAuthExpired,
    XeroConnectionRevoked,
    XeroError,
    XeroRateLimited,
    XeroUnavailable,
    XeroValidationError,
)
from . import outbox, payloads

logger = logging.getLogger(__name__)
Kind = SyncRecord.Kind
Status = SyncRecord.Status
WAIT_FOR_DEPENDENCY_SECONDS = 2.0


class Paused(Exception):
    """Stop this run: the organisation is rate limited or its connection needs attention."""

    def __init__(self, reason: str, retry_in: float = 0.0):
        self.reason, self.retry_in = reason, retry_in
        super().__init__(reason)


@dataclass
class Run:
    connection: XeroConnection
    accounting: AccountingSettings
    tax_type: str = ""
    contact_ids: dict[int, str] = field(default_factory=dict)

    def call(self, fn: Callable[[client.Credentials], object]):
        return self.guarded(lambda: services.xero_call(self.connection, fn))

    def guarded(self, thunk: Callable[[], object]):
        """Run Xero work; a rate limit or a lost connection pauses the whole run."""
        try:
            return thunk()
        except XeroRateLimited as exc:
            raise Paused(str(exc), exc.retry_after) from None
        except (XeroConnectionRevoked, services.NotConnected) as exc:
            raise Paused(f"Sync paused: {exc}") from None


def idempotency_key(operation: str, body) -> str:
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, cls=DjangoJSONEncoder).encode()).hexdigest()
    return f"arena-{operation}-{digest[:64]}"


def _jsonable(data):
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def _send(
    run: Run,
    records: list[SyncRecord],
    bodies: dict[int, dict],
    operation: str,
    call: Callable[..., list[client.Element]],
    id_field: str,
) -> None:
    """Send one batch; each element's answer lands on its own record."""
    if not records:
        return
    ordered = [bodies[r.pk] for r in records]
    outbox.record_mark_sending(records, {pk: _jsonable(b) for pk, b in bodies.items()})
    key = idempotency_key(operation, ordered)
    try:
        elements = run.call(lambda creds: call(creds, ordered, idempotency_key=key))
    except Paused:
        # Refused before anything was done (429, revoked): not an attempt, and nothing to look up.
        SyncRecord.objects.filter(pk__in=[r.pk for r in records]).update(
            outcome_unknown=False, attempts=F("attempts") - 1
        )
        raise
    except (XeroUnavailable, XeroAuthExpired) as exc:
        for record in records:
            outbox.record_mark_failed(record, reason=str(exc), unclear=True)
        return
    except XeroValidationError as exc:
        for record in records:
            outbox.record_mark_failed(record, reason=str(exc), retry_in=settings.XERO_SYNC_VALIDATION_RETRY_SECONDS)
        return
    if len(elements) != len(records):
        for record in records:
            outbox.record_mark_failed(
                record, reason="Xero's answer did not list every record; it will be checked.", unclear=True
            )
        return
    for record, element in zip(records, elements, strict=True):
        if element.ok:
            outbox.record_mark_sent(
                record,
                xero_id=str(element.data.get(id_field) or ""),
                response=_jsonable(element.data),
                tenant_id=run.connection.tenant_id,
            )
        else:
            outbox.record_mark_failed(
                record,
                reason="Xero refused it: " + "; ".join(element.errors),
                response=_jsonable(element.data),
                retry_in=settings.XERO_SYNC_VALIDATION_RETRY_SECONDS,
            )


def _found(run: Run, record: SyncRecord, data: dict, id_field: str) -> None:
    logger.info("Found %s %s already in Xero; not sending it again", record.kind, record.label)
    outbox.record_mark_sent(
        record, xero_id=str(data.get(id_field) or ""), response=_jsonable(data), tenant_id=run.connection.tenant_id
    )


def _look_up_unclear(
    run: Run, records: list[SyncRecord], keys: dict[int, str], find, key_field: str, id_field: str
) -> list[SyncRecord]:
    """Rows whose last call got no answer: mark those Xero already has as sent; return the rest."""
    unclear = [r for r in records if r.outcome_unknown]
    if not unclear:
        return records
    existing = run.call(lambda creds: find(creds, [keys[r.pk] for r in unclear]))
    by_key = {str(item.get(key_field)): item for item in existing if item.get("Status") not in ("DELETED", "VOIDED")}
    remaining = []
    for record in records:
        match = by_key.get(keys[record.pk]) if record.outcome_unknown else None
        if match:
            _found(run, record, match, id_field)
        else:
            remaining.append(record)
    return remaining


def _xero_id(kind: str, object_id: int) -> str:
    return (
        SyncRecord.objects.filter(kind=kind, object_id=object_id, status=Status.SENT)
        .values_list("xero_id", flat=True)
        .first()
        or ""
    )


def _wait(record: SyncRecord, reason: str) -> None:
    outbox.record_release(record, reason=reason, retry_in=WAIT_FOR_DEPENDENCY_SECONDS)


# Contacts ---------------------------------------------------------------------------------------


def sync_contacts(run: Run, records: list[SyncRecord]) -> None:
    customers = Customer.objects.in_bulk([r.object_id for r in records])
    records = [r for r in records if _drop_if_gone(r, customers)]
    bodies = {r.pk: payloads.contact(customers[r.object_id], xero_id=r.xero_id) for r in records}
    # POST Contacts matches by ContactID, then ContactNumber: sending again updates, never duplicates.
    _send(run, records, bodies, "contacts", client.contacts_upsert, "ContactID")


def _contact_id(run: Run, customer: Customer) -> str:
    """The customer's ContactID, sending the contact first if Xero doesn't have it yet."""
    if customer.pk not in run.contact_ids:
        record = SyncRecord.objects.filter(kind=Kind.CONTACT, object_id=customer.pk).first()
        if record is not None and not record.xero_id and record.claimed_until and record.claimed_until > timezone.now():
            return ""  # another worker is sending it right now: wait for it rather than send it twice
        if record is None or not record.xero_id:
            record, _ = SyncRecord.objects.get_or_create(
                kind=Kind.CONTACT,
                object_id=customer.pk,
                defaults={"whitelabel_id": customer.whitelabel_id, "label": customer.account_number},
            )
            sync_contacts(run, [record])
            record.refresh_from_db()
        # A ContactID stays valid while a changed name or email is on its way.
        run.contact_ids[customer.pk] = record.xero_id
    return run.contact_ids[customer.pk]


def _contact_or_wait(run: Run, record: SyncRecord, customer: Customer) -> str:
    """The customer's ContactID; without one the record waits for it."""
    contact_id = _contact_id(run, customer)
    if not contact_id:
        _wait(record, f"Waiting for contact {customer.account_number} to reach Xero.")
    return contact_id


def _drop_if_gone(record: SyncRecord, objects: dict) -> bool:
    if record.object_id not in objects:
        outbox.record_skip(record, reason="The Arena record no longer exists.")
        return False
    return True


def _require(record: SyncRecord, value: str, missing: str) -> bool:
    """A setting the record needs; without it the record fails visibly until the page is saved."""
    if not value:
        outbox.record_mark_failed(record, reason=missing, retry_in=settings.XERO_SYNC_VALIDATION_RETRY_SECONDS)
    return bool(value)


def _revenue(run: Run, record: SyncRecord) -> bool:
    if not _require(
        record, run.accounting.revenue_code, "No revenue code is set on the Accounting System Settings page."
    ):
        return False
    if not run.tax_type:
        run.tax_type = run.accounting.revenue_tax_type
    if not run.tax_type:
        chart = run.guarded(lambda: services.chart_of_accounts(run.connection))
        account = next((a for a in chart if a.code == run.accounting.revenue_code), None)
        run.tax_type = account.tax_type if account else ""
    return True


def _bank(run: Run, record: SyncRecord) -> bool:
    return _require(
        record, run.accounting.bank_account_code, "Choose the Xero bank account on the Accounting System Settings page."
    )


# Invoices -----------------------------------------------------------------------------------------


def sync_invoices(run: Run, records: list[SyncRecord]) -> None:
    invoices = (
        Invoice.objects.select_related("customer").prefetch_related("lines").in_bulk([r.object_id for r in records])
    )
    ready, bodies = [], {}
    for record in records:
        if not _drop_if_gone(record, invoices) or not _revenue(run, record):
            continue
        invoice = invoices[record.object_id]
        if invoice.status == Invoice.Status.VOID:
            outbox.record_skip(record, reason="Voided in Arena before it reached Xero.")
            continue
        contact_id = _contact_or_wait(run, record, invoice.customer)
        if not contact_id:
            continue
        bodies[record.pk] = payloads.invoice(
            invoice, contact_id=contact_id, account_code=run.accounting.revenue_code, tax_type=run.tax_type
        )
        ready.append(record)
    keys = {r.pk: invoices[r.object_id].number for r in ready}
    ready = _look_up_unclear(run, ready, keys, client.invoices_find, "InvoiceNumber", "InvoiceID")
    _send(run, ready, bodies, "invoices", client.invoices_create, "InvoiceID")


def sync_invoice_voids(run: Run, records: list[SyncRecord]) -> None:
    ready, bodies = [], {}
    for record in records:
        invoice_id = _xero_id(Kind.INVOICE, record.object_id)
        invoice_record = SyncRecord.objects.filter(kind=Kind.INVOICE, object_id=record.object_id).first()
        if invoice_id:
            bodies[record.pk] = payloads.invoice_void(invoice_id)
            ready.append(record)
        elif invoice_record is None or invoice_record.status == Status.SKIPPED:
            outbox.record_skip(record, reason="The invoice never reached Xero, so there is nothing to void.")
        else:
            _wait(record, f"Waiting for invoice {record.label} to reach Xero before voiding it.")
    _send(run, ready, bodies, "invoice-voids", client.invoices_update, "InvoiceID")


# Money on invoices (post-paid) ---------------------------------------------------------------------


def _allocations(records: list[SyncRecord]) -> dict[int, Allocation]:
    return Allocation.objects.select_related("payment__receipt", "invoice").in_bulk([r.object_id for r in records])


def sync_payments(run: Run, records: list[SyncRecord]) -> None:
    allocations = _allocations(records)
    ready, bodies = [], {}
    for record in records:
        if not _drop_if_gone(record, allocations) or not _bank(run, record):
            continue
        allocation = allocations[record.object_id]
        invoice_id = _xero_id(Kind.INVOICE, allocation.invoice_id)
        if not invoice_id:
            _wait(record, f"Waiting for invoice {allocation.invoice.number} to reach Xero.")
            continue
        bodies[record.pk] = payloads.payment(
            allocation, invoice_id=invoice_id, bank_code=run.accounting.bank_account_code
        )
        ready.append(record)
    keys = {r.pk: payloads.payment_reference(allocations[r.object_id]) for r in ready}
    ready = _look_up_unclear(run, ready, keys, client.payments_find, "Reference", "PaymentID")
    _send(run, ready, bodies, "payments", client.payments_create, "PaymentID")


def sync_overpayments(run: Run, records: list[SyncRecord]) -> None:
    payments = (
        Payment.objects.select_related("receipt", "customer")
        .prefetch_related("allocations")
        .in_bulk([r.object_id for r in records])
    )
    ready, bodies = [], {}
    for record in records:
        if not _drop_if_gone(record, payments) or not _bank(run, record):
            continue
        payment = payments[record.object_id]
        if payloads.overpayment_amount(payment) <= 0:
            outbox.record_skip(record, reason="Nothing was left over as credit.")
            continue
        contact_id = _contact_or_wait(run, record, payment.customer)
        if not contact_id:
            continue
        bodies[record.pk] = payloads.overpayment(
            payment, contact_id=contact_id, bank_code=run.accounting.bank_account_code
        )
        ready.append(record)
    ready = [r for r in ready if not (r.outcome_unknown and _overpayment_exists(run, r, bodies[r.pk]))]
    _send(run, ready, bodies, "overpayments", client.bank_transactions_create, "OverpaymentID")


def _overpayment_exists(run: Run, record: SyncRecord, body: dict) -> bool:
    """Xero keeps no Reference on overpayments: match the contact's unclaimed one of the same amount and date."""
    contact_id = body["Contact"]["ContactID"]
    amount, date = body["LineItems"][0]["UnitAmount"], client.parse_xero_date(body["Date"])
    claimed = set(
        SyncRecord.objects.filter(
            whitelabel_id=record.whitelabel_id, kind=Kind.OVERPAYMENT, status=Status.SENT
        ).values_list("xero_id", flat=True)
    )
    for overpayment in run.call(lambda creds: client.overpayments_find(creds, contact_id)):
        same = (
            payloads.money(_decimal(overpayment.get("Total"))) == amount
            and client.parse_xero_date(overpayment.get("Date")) == date
        )
        if same and overpayment.get("OverpaymentID") not in claimed and overpayment.get("Status") != "VOIDED":
            _found(run, record, overpayment, "OverpaymentID")
            return True
    return False


def sync_credit_allocations(run: Run, records: list[SyncRecord]) -> None:
    allocations = _allocations(records)
    for record in records:
        if not _drop_if_gone(record, allocations):
            continue
        allocation = allocations[record.object_id]
        overpayment_id = _xero_id(Kind.OVERPAYMENT, allocation.payment_id)
        invoice_id = _xero_id(Kind.INVOICE, allocation.invoice_id)
        if not overpayment_id or not invoice_id:
            _wait(
                record,
                f"Waiting for the credit (receipt {allocation.payment.receipt.number}) and invoice "
                f"{allocation.invoice.number} to reach Xero.",
            )
            continue
        if record.outcome_unknown and _allocation_exists(run, overpayment_id, invoice_id, allocation):
            continue
        body = payloads.credit_allocation(allocation, invoice_id=invoice_id)
        _send(
            run,
            [record],
            {record.pk: body},
            "allocations",
            lambda creds, items, idempotency_key, oid=overpayment_id: client.overpayment_allocate(
                creds, oid, items, idempotency_key=idempotency_key
            ),
            "AllocationID",
        )


def _allocation_exists(run: Run, overpayment_id: str, invoice_id: str, allocation: Allocation) -> bool:
    overpayment = run.call(lambda creds: client.overpayment_get(creds, overpayment_id))
    record = SyncRecord.objects.get(kind=Kind.CREDIT_ALLOCATION, object_id=allocation.pk)
    for existing in overpayment.get("Allocations") or []:
        same_invoice = (existing.get("Invoice") or {}).get("InvoiceID") == invoice_id
        if same_invoice and payloads.money(allocation.amount) == payloads.money(_decimal(existing.get("Amount"))):
            _found(run, record, existing, "AllocationID")
            return True
    return False


def _decimal(value) -> Decimal:
    return Decimal(str(value or 0))


# Receipts (pre-paid) ---------------------------------------------------------------------------


def sync_receipts(run: Run, records: list[SyncRecord]) -> None:
    receipts = Receipt.objects.select_related("payment__customer").in_bulk([r.object_id for r in records])
    ready, bodies = [], {}
    for record in records:
        if not _drop_if_gone(record, receipts) or not _revenue(run, record) or not _bank(run, record):
            continue
        receipt = receipts[record.object_id]
        contact_id = _contact_or_wait(run, record, receipt.payment.customer)
        if not contact_id:
            continue
        bodies[record.pk] = payloads.receipt(
            receipt,
            contact_id=contact_id,
            bank_code=run.accounting.bank_account_code,
            account_code=run.accounting.revenue_code,
            tax_type=run.tax_type,
        )
        ready.append(record)
    keys = {r.pk: receipts[r.object_id].number for r in ready}
    ready = _look_up_unclear(run, ready, keys, client.bank_transactions_find, "Reference", "BankTransactionID")
    _send(run, ready, bodies, "receipts", client.bank_transactions_create, "BankTransactionID")


ORDER = [
    (Kind.CONTACT, sync_contacts),
    (Kind.INVOICE, sync_invoices),
    (Kind.PAYMENT, sync_payments),
    (Kind.OVERPAYMENT, sync_overpayments),
    (Kind.CREDIT_ALLOCATION, sync_credit_allocations),
    (Kind.INVOICE_VOID, sync_invoice_voids),
    (Kind.RECEIPT, sync_receipts),
]


def sync_whitelabel(whitelabel_id: int) -> float | None:
    """Send what is due for one whitelabel. Returns seconds until the next record falls due, if any."""
    connection = XeroConnection.objects.filter(whitelabel_id=whitelabel_id, status=XeroConnection.Status.ACTIVE).first()
    accounting = AccountingSettings.objects.filter(whitelabel_id=whitelabel_id).first()
    if connection is None:
        return None  # not connected, or paused until an admin reconnects: records wait
    if accounting is None or not accounting.uses_xero:
        reason = outbox.skip_reason(whitelabel_id)
        for record in outbox.records_claim(whitelabel_id=whitelabel_id, limit=10_000):
            outbox.record_skip(record, reason=reason)
        return None
    run = Run(connection, accounting)
    batch = settings.XERO_SYNC_BATCH_SIZE
    for _ in range(settings.XERO_SYNC_MAX_ROUNDS):
        claimed = outbox.records_claim(whitelabel_id=whitelabel_id, limit=batch * len(ORDER))
        if not claimed:
            break
        try:
            for kind, handler in ORDER:
                group = [r for r in claimed if r.kind == kind]
                for start in range(0, len(group), batch):
                    handler(run, group[start : start + batch])
        except Paused as exc:
            for record in SyncRecord.objects.filter(id__in=[r.pk for r in claimed], claimed_until__isnull=False):
                outbox.record_release(record, reason=exc.reason, retry_in=exc.retry_in)
            logger.info("Xero sync for whitelabel %s paused: %s", whitelabel_id, exc.reason)
            return exc.retry_in if exc.retry_in else None
        except XeroError:
            for record in SyncRecord.objects.filter(id__in=[r.pk for r in claimed], claimed_until__isnull=False):
                outbox.record_release(record, reason="Interrupted; will be retried.", retry_in=5)
            raise
    return seconds_until_due(whitelabel_id)


def seconds_until_due(whitelabel_id: int) -> float | None:
    next_at = SyncRecord.objects.filter(
        whitelabel_id=whitelabel_id, status__in=[Status.PENDING, Status.FAILED], next_attempt_at__isnull=False
    ).aggregate(t=Min("next_attempt_at"))["t"]
    if next_at is None:
        return None
    return max((next_at - timezone.now()).total_seconds(), 0.0)


def whitelabels_due(now: datetime.datetime | None = None) -> list[int]:
    """Whitelabels with an active connection and records due now (for the sweeper)."""
    now = now or timezone.now()
    active = XeroConnection.objects.filter(status=XeroConnection.Status.ACTIVE).values("whitelabel_id")
    return list(
        SyncRecord.objects.filter(outbox.due_filter(now), whitelabel_id__in=active)
        .values_list("whitelabel_id", flat=True)
        .distinct()
    )
