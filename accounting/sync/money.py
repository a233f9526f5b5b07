"""Sending money: payments on invoices, overpayments (credit) and credit applied, credit notes applied,
refunds, reversals, and the pre-paid receipts and refund receipts (one handler per kind, registered on its
row of sync/kinds.py)."""

import logging
from collections import defaultdict
from functools import partial

from payments.models import (
    Allocation,
    CreditNoteAllocation,
    Payment,
    Receipt,
    Refund,
    RefundPart,
)

from ..errors import MappingError
from ..models import AccountingSettings, SyncRecord
from ..xero import client
from . import coding, kinds, outbox, payloads
from .protocol import (
    Item,
    Run,
    check_currency,
    contact_id_or_park,
    credit_note_id_or_park,
    decimal_of,
    delete_one,
    dependency_id_or_park,
    fail_without_call,
    failed_without_bank_account,
    failed_without_revenue_code,
    invoice_id_or_park,
    loaded,
    look_up_unclear,
    mark_found,
    mark_found_or_keep,
    never_sent,
    overpayment_id_or_park,
    records_of,
    revenue_account_of,
    send,
    skip_reversed,
)

logger = logging.getLogger(__name__)
Kind = SyncRecord.Kind
Status = SyncRecord.Status


# Money on invoices (post-paid) ---------------------------------------------------------------------


ALLOCATIONS = Allocation.objects.select_related("payment__receipt", "invoice")


@kinds.sender(Kind.PAYMENT)
def sync_payments(run: Run, records: list[SyncRecord]) -> None:
    records, allocations = loaded(records, ALLOCATIONS)
    invoices = records_of(Kind.INVOICE, [allocations[r.object_id].invoice_id for r in records])
    items = []
    for record in records:
        allocation = allocations[record.object_id]
        bank_code = deposit_code_or_fail(run, record, allocation.payment.method)
        if not bank_code:
            continue
        invoice_id = invoice_id_or_park(run, record, invoices, allocation.invoice)
        if invoice_id:
            body = payloads.payment(allocation, invoice_id=invoice_id, bank_code=bank_code, tz=run.tz)
            items.append(Item(record, body, payloads.payment_reference(allocation)))
    items = look_up_unclear(run, items, client.payments_find, "Reference", "PaymentID")
    items = skip_reversed(items, {pk for pk, a in allocations.items() if a.reversed_at})
    send(run, items, "payments", client.payments_create, "PaymentID")


@kinds.sender(Kind.OVERPAYMENT)
def sync_overpayments(run: Run, records: list[SyncRecord]) -> None:
    payments_with_allocations = Payment.objects.select_related("receipt", "customer").prefetch_related("allocations")
    records, payments = loaded(records, payments_with_allocations)
    contacts = records_of(Kind.CONTACT, [payments[r.object_id].customer_id for r in records])
    items = []
    for record in records:
        payment = payments[record.object_id]
        if payloads.overpayment_amount(payment) <= 0:
            outbox.record_skip(record, reason="Nothing was left over as credit.")
            continue
        bank_code = deposit_code_or_fail(run, record, payment.method)
        if not bank_code:
            continue
        contact_id = contact_id_or_park(run, record, contacts, payment.customer)
        if not contact_id:
            continue
        try:
            check_currency(run, payment.currency)
        except MappingError as exc:
            fail_without_call(run, record, str(exc))
            continue
        body = payloads.overpayment(payment, contact_id=contact_id, bank_code=bank_code, tz=run.tz)
        items.append(Item(record, body, payloads.overpayment_description(payment)))
    items = _look_up_overpayments(run, items)
    items = skip_reversed(items, {pk for pk, p in payments.items() if p.reversed_at})
    send(run, items, "overpayments", client.bank_transactions_create, "OverpaymentID")


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
    return mark_found_or_keep(
        run, items, found, lambda item: (item.body["Contact"]["ContactID"], item.key), "OverpaymentID"
    )


@kinds.sender(Kind.CREDIT_ALLOCATION)
def sync_credit_allocations(run: Run, records: list[SyncRecord]) -> None:
    records, allocations = loaded(records, ALLOCATIONS)
    credits = records_of(Kind.OVERPAYMENT, [allocations[r.object_id].payment_id for r in records], bodies=True)
    invoices = records_of(Kind.INVOICE, [allocations[r.object_id].invoice_id for r in records])
    by_overpayment: dict[str, list[Item]] = defaultdict(list)
    prepayments = set()
    for record in records:
        allocation = allocations[record.object_id]
        overpayment_id = overpayment_id_or_park(run, record, credits, allocation.payment)
        invoice_id = overpayment_id and invoice_id_or_park(run, record, invoices, allocation.invoice)
        if invoice_id:
            body = payloads.credit_allocation(allocation, invoice_id=invoice_id, tz=run.tz)
            by_overpayment[overpayment_id].append(Item(record, body))
            if is_prepayment(credits.get(allocation.payment_id)):
                prepayments.add(overpayment_id)
    for overpayment_id, items in by_overpayment.items():
        payment_ids = Allocation.objects.filter(pk__in=[i.record.object_id for i in items]).values("payment_id")
        siblings = Allocation.objects.filter(payment__in=payment_ids).values("id")
        if overpayment_id in prepayments:
            calls = {"fetch": client.prepayment_get, "allocate": client.prepayment_allocate}
        else:
            calls = {"fetch": client.overpayment_get, "allocate": client.overpayment_allocate}
        _send_allocations(run, overpayment_id, items, "allocations", siblings=siblings, **calls)


def is_prepayment(credit: SyncRecord | None) -> bool:
    """Credit a person entered in Xero as a prepayment (money received in advance), not an overpayment: Arena
    recorded it as the customer's credit (`accounting.imports`), and its allocations go to Xero's prepayment."""
    return bool(credit and credit.origin == SyncRecord.Origin.XERO and (credit.response or {}).get("PrepaymentID"))


def _send_allocations(run: Run, credit_id: str, items: list[Item], operation: str, *, fetch, allocate, siblings):
    """One call per credit (an overpayment, a credit note) with every invoice it pays, after looking up
    those whose last call got no answer."""
    items = _look_up_allocations(
        run, items, fetch=lambda creds: fetch(creds, credit_id), kind=items[0].record.kind, siblings=siblings
    )
    send(
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
        key = ((allocation.get("Invoice") or {}).get("InvoiceID"), payloads.money(decimal_of(allocation.get("Amount"))))
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
            mark_found(run, item, existing[key].pop(), "AllocationID")
        else:
            remaining.append(item)
    return remaining


# Receipts (pre-paid) ---------------------------------------------------------------------------


@kinds.sender(Kind.RECEIPT)
def sync_receipts(run: Run, records: list[SyncRecord]) -> None:
    records, receipts = loaded(records, Receipt.objects.select_related("payment__customer"))
    contacts = records_of(Kind.CONTACT, [receipts[r.object_id].payment.customer_id for r in records])
    items = []
    for record in records:
        receipt = receipts[record.object_id]
        payment = receipt.payment
        if coding.in_daily_summary(run, payment):
            outbox.record_skip(record, reason="Sent in the daily summary of its day and payment method.")
            continue
        build = partial(payloads.receipt, receipt)
        money = (payment.customer, payment.currency, payment.method)
        if body := _bank_money_body_or_hold(run, record, contacts, *money, build):
            items.append(Item(record, body, receipt.number))
    items = look_up_unclear(run, items, client.bank_transactions_find, "Reference", "BankTransactionID")
    items = skip_reversed(items, {pk for pk, r in receipts.items() if r.payment.reversed_at})
    send(run, items, "receipts", client.bank_transactions_create, "BankTransactionID")


@kinds.sender(Kind.CREDIT_NOTE_ALLOCATION)
def sync_credit_note_allocations(run: Run, records: list[SyncRecord]) -> None:
    records, allocations = loaded(records, CreditNoteAllocation.objects.select_related("credit_note", "invoice"))
    notes = records_of(Kind.CREDIT_NOTE, [allocations[r.object_id].credit_note_id for r in records])
    invoices = records_of(Kind.INVOICE, [allocations[r.object_id].invoice_id for r in records])
    by_note: dict[tuple[str, int], list[Item]] = defaultdict(list)
    for record in records:
        allocation = allocations[record.object_id]
        note_id = credit_note_id_or_park(run, record, notes, allocation.credit_note)
        invoice_id = note_id and invoice_id_or_park(run, record, invoices, allocation.invoice)
        if invoice_id:
            body = payloads.allocation_to_invoice(
                allocation.amount, invoice_id=invoice_id, at=allocation.allocated_at, tz=run.tz
            )
            by_note[(note_id, allocation.credit_note_id)].append(Item(record, body))
    for (note_id, arena_note_id), items in by_note.items():
        siblings = CreditNoteAllocation.objects.filter(credit_note_id=arena_note_id).values("id")
        calls = {"fetch": client.credit_note_get, "allocate": client.credit_note_allocate}
        _send_allocations(run, note_id, items, "credit-note-allocations", siblings=siblings, **calls)


@kinds.sender(Kind.REFUND)
def sync_refunds(run: Run, records: list[SyncRecord]) -> None:
    """Post-paid: credit paid back is a refund of the overpayment or credit note that held it."""
    records, parts = loaded(records, RefundPart.objects.select_related("refund", "payment__receipt", "credit_note"))
    overpayments = records_of(Kind.OVERPAYMENT, [p.payment_id for p in parts.values() if p.payment_id], bodies=True)
    notes = records_of(Kind.CREDIT_NOTE, [p.credit_note_id for p in parts.values() if p.credit_note_id])
    items = []
    for record in records:
        part = parts[record.object_id]
        # Refunded money leaves from the account it came into: the overpayment's, as sent.
        came_into = _sent_account(overpayments.get(part.payment_id)) if part.payment_id else ""
        bank_code = came_into or deposit_code_or_fail(run, record, part.refund.method)
        if not bank_code:
            continue
        if part.payment_id:
            credit_id = overpayment_id_or_park(run, record, overpayments, part.payment)
            credit = {"Overpayment": {"OverpaymentID": credit_id}}
        else:
            credit_id = credit_note_id_or_park(run, record, notes, part.credit_note)
            credit = {"CreditNote": {"CreditNoteID": credit_id}}
        if credit_id:
            body = payloads.refund(part, credit=credit, bank_code=bank_code, tz=run.tz)
            items.append(Item(record, body, payloads.refund_reference(part)))
    items = look_up_unclear(run, items, client.payments_find, "Reference", "PaymentID")
    send(run, items, "refunds", client.payments_create, "PaymentID")


@kinds.sender(Kind.REFUND_RECEIPT)
def sync_refund_receipts(run: Run, records: list[SyncRecord]) -> None:
    """Pre-paid: the refund receipt is money out of the bank account, on the revenue code."""
    records, refunds = loaded(records, Refund.objects.select_related("customer").prefetch_related("parts__payment"))
    contacts = records_of(Kind.CONTACT, [refunds[r.object_id].customer_id for r in records])
    items = []
    for record in records:
        refund = refunds[record.object_id]
        build = partial(payloads.refund_receipt, refund)
        # The money leaves from the account it came into: that of the top-up it pays back first.
        topped_up = next((p.payment for p in refund.parts.all() if p.payment_id), None)
        money = (refund.customer, refund.currency, topped_up.method if topped_up else refund.method)
        if body := _bank_money_body_or_hold(run, record, contacts, *money, build):
            items.append(Item(record, body, refund.number))
    items = look_up_unclear(run, items, client.bank_transactions_find, "Reference", "BankTransactionID")
    send(run, items, "refund-receipts", client.bank_transactions_create, "BankTransactionID")


@kinds.sender(Kind.PAYMENT_REVERSAL)
def sync_payment_reversals(run: Run, records: list[SyncRecord]) -> None:
    """A reversed payment on an invoice: its Xero payment is deleted, and the invoice is owed again."""
    payments = records_of(Kind.PAYMENT, [r.object_id for r in records])
    for record in records:
        payment = payments.get(record.object_id)
        if never_sent(payment):
            outbox.record_skip(record, reason="The payment never reached Xero, so there is nothing to reverse.")
            continue
        payment_id = dependency_id_or_park(
            run, record, payment, kind=Kind.PAYMENT, object_id=record.object_id, label=record.label
        )
        if not payment_id:
            continue
        item = Item(record, {"PaymentID": payment_id, "Status": "DELETED"})
        if (
            record.outcome_unknown
            and run.call(lambda creds, pid=payment_id: client.payment_get(creds, pid)).get("Status") == "DELETED"
        ):
            mark_found(run, item, {"PaymentID": payment_id, "Status": "DELETED"}, "PaymentID")
            continue
        delete_one(
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


@kinds.sender(Kind.DEPOSIT_REVERSAL)
def sync_deposit_reversals(run: Run, records: list[SyncRecord]) -> None:
    """A reversed payment's money in Xero beyond its invoices: post-paid, the RECEIVE-OVERPAYMENT that
    holds its credit; pre-paid, its receipt. That bank transaction is deleted."""
    prepaid = run.accounting.payment_type == AccountingSettings.PaymentType.PREPAID
    records, payments = loaded(records, Payment.objects.select_related("receipt"))
    kind = Kind.RECEIPT if prepaid else Kind.OVERPAYMENT
    deposits = records_of(
        kind, [payments[r.object_id].receipt.pk if prepaid else r.object_id for r in records], bodies=True
    )
    for record in records:
        payment = payments[record.object_id]
        deposit_key = payment.receipt.pk if prepaid else payment.pk
        deposit = deposits.get(deposit_key)
        if deposit is None and not prepaid:
            outbox.record_skip(record, reason="The payment left no credit, so Xero has nothing more to reverse.")
            continue
        if never_sent(deposit):
            what = "receipt" if prepaid else "credit"
            outbox.record_skip(
                record, reason=f"The payment's {what} never reached Xero, so there is nothing to reverse."
            )
            continue
        if not dependency_id_or_park(
            run, record, deposit, kind=kind, object_id=deposit_key, label=payment.receipt.number
        ):
            continue
        transaction_id = deposit.xero_id if prepaid else _overpayment_transaction_id(run, deposit)
        if not transaction_id:
            reason = f"Xero has no bank transaction for credit {payment.receipt.number} any more."
            fail_without_call(run, record, reason)
            continue
        body = payloads.bank_transaction_deletion(deposit.payload or {}, transaction_id)
        item = Item(record, body)
        if record.outcome_unknown:
            current = run.call(lambda creds, tid=transaction_id: client.bank_transaction_get(creds, tid))
            if current.get("Status") == "DELETED":
                mark_found(run, item, current, "BankTransactionID")
                continue
        delete_one(
            run,
            item,
            "deposit-reversals",
            lambda creds, bodies, idempotency_key: client.bank_transaction_delete(
                creds, bodies[0], idempotency_key=idempotency_key
            ),
            "BankTransactionID",
            target=transaction_id,
        )


def deposit_code_or_fail(run: Run, record: SyncRecord, method: str) -> str:
    """The account money taken by `method` goes into (its mapping, else the settings page's bank account);
    "" when the record failed without a call because Xero would refuse it."""
    problem = coding.deposit_problem(run, method)
    if problem:
        fail_without_call(run, record, problem)
        return ""
    code = coding.deposit_code(run, method)
    if code == run.accounting.bank_account_code and failed_without_bank_account(run, record):
        return ""
    return code


def _sent_account(record: SyncRecord | None) -> str:
    """The account a sent overpayment or receipt put the money into (its payload as sent)."""
    payload = (record.payload or {}) if record is not None else {}
    return (payload.get("BankAccount") or {}).get("Code", "")


def _bank_money_body_or_hold(
    run: Run, record: SyncRecord, contacts, customer, currency: str, method: str, build
) -> dict | None:
    """The body of a pre-paid receipt or refund receipt: money in or out of the method's account on the revenue
    account, with that account's tax type. None when it holds the record instead: parked for its contact,
    or failed without a call."""
    if failed_without_revenue_code(run, record):
        return None
    bank_code = deposit_code_or_fail(run, record, method)
    if not bank_code:
        return None
    contact_id = contact_id_or_park(run, record, contacts, customer)
    if not contact_id:
        return None
    try:
        check_currency(run, currency)
        account = revenue_account_of(run)
        if account is None:
            raise MappingError(f"{run.organisation} has no account {run.accounting.revenue_code}.")
    except MappingError as exc:
        fail_without_call(run, record, str(exc))
        return None
    return build(
        contact_id=contact_id,
        bank_code=bank_code,
        account_code=run.accounting.revenue_code,
        tax_type=account.tax_type,
        tz=run.tz,
    )


