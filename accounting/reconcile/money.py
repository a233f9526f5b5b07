"""The reconcile's checks of money Arena sent: payments and their reversals, overpayments (credit) and
credit applied, credit notes and their allocations, each customer's unallocated credit, and the pre-paid
receipts and refund receipts. Registered on the kinds' rows (`@kinds.check`)."""

from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

from payments.models import Allocation, Customer, Invoice

from ..models import SyncRecord
from ..sync import kinds, payloads
from .books import ArenaBooks, Comparison, Difference, DriftKind, XeroIndex, alive, id_key, money
from .invoices import payment_deleted

RecordKind, Status = SyncRecord.Kind, SyncRecord.Status
ZERO = Decimal("0.00")


@kinds.check(RecordKind.PAYMENT)
def _check_payment(arena: ArenaBooks, xero: XeroIndex, record: SyncRecord, result: Comparison) -> None:
    allocation = arena.allocations.get(record.object_id)
    if allocation is None:
        return
    if allocation.reversed_at is not None:
        _check_reversed_payment(arena, xero, record, allocation, result)
        return
    result.compared["payments"] += 1
    reference = payloads.payment_reference(allocation)
    live = alive(xero.payments_by_reference.get(reference, []), ("DELETED",))
    found = xero.payments.get(id_key(record.xero_id))
    common = {
        "customer": allocation.invoice.customer.account_number,
        "arena_id": f"allocation {allocation.pk}",
        "record_id": record.pk,
    }
    if found is not None and found.get("Status") == "DELETED" and not live:
        result.add(payment_deleted(record, allocation, found))
        return
    found = found if found is not None and found.get("Status") != "DELETED" else next(iter(live), None)
    if found is None:
        result.missing(
            "payment",
            reference,
            f"Arena sent this payment of {money(allocation.amount)}, but Xero has no payment with its reference.",
            arena=str(money(allocation.amount)),
            record=record,
            **common,
        )
        return
    common["xero_id"] = str(found.get("PaymentID") or "")
    if len(live) > 1:
        result.twice(
            "payment",
            reference,
            f"Xero has {len(live)} payments with reference {reference}.",
            count=len(live),
            **common,
        )
    if money(found.get("Amount")) != money(allocation.amount):
        result.add(
            Difference(
                DriftKind.AMOUNT_DIFFERS,
                "payment",
                reference,
                f"Xero has {money(found.get('Amount'))}, Arena {money(allocation.amount)}.",
                arena=str(money(allocation.amount)),
                xero=str(money(found.get("Amount"))),
                **common,
            )
        )


def _check_reversed_payment(arena, xero, record: SyncRecord, allocation: Allocation, result: Comparison) -> None:
    """A payment Arena reversed: once the reversal was sent, Xero must have deleted it."""
    if not arena.reversed_in_xero(RecordKind.PAYMENT_REVERSAL, allocation.pk):
        return  # the reversal is on its way
    result.compared["reversed payments"] += 1
    found = xero.payments.get(id_key(record.xero_id))
    if found is not None and found.get("Status") != "DELETED":
        reference = payloads.payment_reference(allocation)
        result.add(
            Difference(
                DriftKind.STATUS_DIFFERS,
                "payment",
                reference,
                f"Reversed in Arena ({allocation.payment.reversal_reason}) and the reversal was sent, but Xero "
                "still has the payment.",
                customer=allocation.invoice.customer.account_number,
                arena="DELETED",
                xero=str(found.get("Status")),
                arena_id=f"allocation {allocation.pk}",
                xero_id=record.xero_id,
                record_id=record.pk,
                by_person=True,
            )
        )


@kinds.check(RecordKind.CREDIT_NOTE)
def _check_credit_note(arena: ArenaBooks, xero: XeroIndex, record: SyncRecord, result: Comparison) -> None:
    note = arena.credit_notes.get(record.object_id)
    if note is None:
        return
    result.compared["credit notes"] += 1
    found = xero.credit_notes.get(id_key(record.xero_id))
    common = {"customer": note.customer.account_number, "arena_id": f"credit note {note.pk}", "record_id": record.pk}
    if found is None:
        result.missing(
            "credit note",
            note.number,
            f"Arena sent this credit note of {money(note.total)}, but Xero has no such credit note.",
            arena=str(money(note.total)),
            record=record,
            **common,
        )
        return
    common["xero_id"] = str(found.get("CreditNoteID") or "")
    if found.get("Status") in ("VOIDED", "DELETED"):
        result.add(
            Difference(
                DriftKind.STATUS_DIFFERS,
                "credit note",
                note.number,
                f"{str(found.get('Status')).title()} in Xero after Arena sent it.",
                arena="AUTHORISED",
                xero=str(found.get("Status")),
                by_person=True,
                **common,
            )
        )
    elif money(found.get("Total")) != money(note.total):
        result.add(
            Difference(
                DriftKind.AMOUNT_DIFFERS,
                "credit note",
                note.number,
                f"Xero's credit note is {money(found.get('Total'))}, Arena's {money(note.total)}.",
                arena=str(money(note.total)),
                xero=str(money(found.get("Total"))),
                by_person=True,
                **common,
            )
        )


@kinds.check(RecordKind.OVERPAYMENT)
def _check_overpayment(arena: ArenaBooks, xero: XeroIndex, record: SyncRecord, result: Comparison) -> None:
    payment = arena.payments.get(record.object_id)
    if payment is None:
        return
    if payment.reversed_at is not None:
        return  # the credit went with the reversed payment: counted (or not) in the customer's credit
    result.compared["overpayments"] += 1
    expected = money(payloads.overpayment_amount(payment))
    label = f"credit from {payment.receipt.number}"
    common = {"customer": payment.customer.account_number, "arena_id": f"payment {payment.pk}", "record_id": record.pk}
    found = xero.overpayments.get(id_key(record.xero_id))
    if found is None:
        description = payloads.overpayment_description(payment)
        candidates = xero.overpayments_by_contact.get(id_key(arena.contact_id(payment.customer_id)), [])
        found = next(
            (o for o in candidates if any(line.get("Description") == description for line in o.get("LineItems") or [])),
            None,
        )
    if found is None:
        result.missing(
            "overpayment",
            label,
            f"Arena sent {expected} of credit (an overpayment), but Xero has no such overpayment.",
            arena=str(expected),
            record=record,
            **common,
        )
        return
    common["xero_id"] = str(found.get("OverpaymentID") or "")
    if found.get("Status") in ("VOIDED", "DELETED"):
        result.add(
            Difference(
                DriftKind.CHANGED_IN_XERO,
                "overpayment",
                label,
                f"The credit of {expected} was deleted in Xero after Arena sent it.",
                arena=str(expected),
                xero=str(found.get("Status")),
                by_person=True,
                **common,
            )
        )
    elif money(found.get("Total")) != expected:
        result.add(
            Difference(
                DriftKind.AMOUNT_DIFFERS,
                "overpayment",
                label,
                f"Xero's overpayment is {money(found.get('Total'))}, Arena's credit {expected}.",
                arena=str(expected),
                xero=str(money(found.get("Total"))),
                **common,
            )
        )


@kinds.check(RecordKind.CREDIT_ALLOCATION)
def _check_credit_allocation(arena: ArenaBooks, xero: XeroIndex, record: SyncRecord, result: Comparison) -> None:
    """Credit (an overpayment) applied to an invoice: still among the overpayment's allocations in Xero."""
    allocation = arena.allocations.get(record.object_id)
    if allocation is None or not record.xero_id:
        return
    result.compared["credit allocations"] += 1
    credit_record = arena.record(RecordKind.OVERPAYMENT, allocation.payment_id)
    overpayment = xero.overpayments.get(id_key(credit_record.xero_id)) if arena.sent(credit_record) else None
    _check_allocated(
        overpayment,
        record,
        result,
        what="credit allocation",
        words=f"Credit of {money(allocation.amount)}",
        amount=allocation.amount,
        invoice=allocation.invoice,
        customer=allocation.payment.customer,
        arena_id=f"allocation {allocation.pk}",
    )


@kinds.check(RecordKind.CREDIT_NOTE_ALLOCATION)
def _check_credit_note_allocation(arena: ArenaBooks, xero: XeroIndex, record: SyncRecord, result: Comparison) -> None:
    """A credit note applied to an invoice: still among the credit note's allocations in Xero."""
    allocation = arena.note_allocations.get(record.object_id)
    if allocation is None or not record.xero_id:
        return
    result.compared["credit note allocations"] += 1
    note = allocation.credit_note
    note_record = arena.record(RecordKind.CREDIT_NOTE, note.pk)
    found = xero.credit_notes.get(id_key(note_record.xero_id)) if arena.sent(note_record) else None
    _check_allocated(
        found,
        record,
        result,
        what="credit note allocation",
        words=f"{money(allocation.amount)} of credit note {note.number}",
        amount=allocation.amount,
        invoice=allocation.invoice,
        customer=note.customer,
        arena_id=f"credit note allocation {allocation.pk}",
    )


def _check_allocated(
    credit: dict | None,
    record: SyncRecord,
    result: Comparison,
    *,
    what: str,
    words: str,
    amount: Decimal,
    invoice: Invoice,
    customer: Customer,
    arena_id: str,
) -> None:
    """An allocation Arena sent is still listed in its credit (an overpayment or credit note) in Xero."""
    if credit is None or credit.get("Status") in ("VOIDED", "DELETED"):
        return  # reported on the credit itself
    allocated = {id_key(a.get("AllocationID")) for a in credit.get("Allocations") or []}
    if id_key(record.xero_id) in allocated:
        return
    result.add(
        Difference(
            DriftKind.CHANGED_IN_XERO,
            what,
            f"{money(amount)} to {invoice.number}",
            f"{words} applied to {invoice.number} was removed in Xero.",
            customer=customer.account_number,
            arena=str(money(amount)),
            xero="none",
            arena_id=arena_id,
            xero_id=record.xero_id,
            record_id=record.pk,
            by_person=True,
        )
    )


def check_credit(arena: ArenaBooks, xero: XeroIndex, customer_id: int, result: Comparison) -> None:
    """A customer's credit, as Arena sent it: overpayments (less those of reversed payments) and credit notes,
    less the credit applied to invoices and refunded; against the RemainingCredit of the contact's
    overpayments and credit notes in Xero, per currency. Not compared while any of it is on its way."""
    payments = arena.overpayments_of_customer.get(customer_id, [])
    allocations = arena.credit_of_customer.get(customer_id, [])
    notes = arena.credit_notes_of_customer.get(customer_id, [])
    note_allocations = arena.note_allocations_of_customer.get(customer_id, [])
    refunds = arena.refunds_of_customer.get(customer_id, [])
    parts = [
        *[(RecordKind.OVERPAYMENT, p.pk, p.currency, payloads.overpayment_amount(p)) for p in payments],
        *[(RecordKind.CREDIT_ALLOCATION, a.pk, a.payment.currency, -a.amount) for a in allocations],
        *[(RecordKind.CREDIT_NOTE, n.pk, n.currency, n.total) for n in notes],
        *[(RecordKind.CREDIT_NOTE_ALLOCATION, a.pk, a.credit_note.currency, -a.amount) for a in note_allocations],
        *[(RecordKind.REFUND, r.pk, r.refund.currency, -r.amount) for r in refunds],
    ]
    records = [arena.record(kind, object_id) for kind, object_id, _, _ in parts]
    reversed_credit = {
        p.pk: arena.reversed_in_xero(RecordKind.DEPOSIT_REVERSAL, p.pk) for p in payments if p.reversed_at
    }
    contact_id = arena.contact_id(customer_id)
    if not contact_id or any(arena.in_flight(r) for r in records) or None in reversed_credit.values():
        return
    result.compared["customers' credit"] += 1
    expected: Counter = Counter()
    for (kind, object_id, currency, amount), record in zip(parts, records, strict=True):
        if arena.sent(record) and not (kind == RecordKind.OVERPAYMENT and reversed_credit.get(object_id)):
            expected[currency] += money(amount)
    in_xero: Counter = Counter()
    contact = id_key(contact_id)
    for credit in [*xero.overpayments_by_contact.get(contact, []), *xero.credit_notes_by_contact.get(contact, [])]:
        if credit.get("Status") in ("AUTHORISED", "PAID"):
            in_xero[credit.get("CurrencyCode") or arena.whitelabel.default_currency] += money(
                credit.get("RemainingCredit")
            )
    customer = arena.customers.get(customer_id) or Customer.objects.get(pk=customer_id)
    by_person = any(d.by_person and d.customer == customer.account_number for d in result.differences)
    for currency in sorted(set(expected) | set(in_xero)):
        ours, theirs = money(expected.get(currency, ZERO)), money(in_xero.get(currency, ZERO))
        if ours != theirs:
            result.add(
                Difference(
                    DriftKind.AMOUNT_DIFFERS,
                    "credit",
                    f"{customer.account_number} credit ({currency})",
                    f"Unallocated credit is {theirs} {currency} in Xero, {ours} as Arena sent it.",
                    customer=customer.account_number,
                    arena=str(ours),
                    xero=str(theirs),
                    arena_id=f"customer {customer_id}",
                    xero_id=contact_id,
                    by_person=by_person,
                )
            )


@dataclass(frozen=True)
class BankTransactionKind:
    """A bank transaction Arena sends for a pre-paid whitelabel: a receipt (money received, RECEIVE) or a
    refund receipt (money paid back, SPEND). Both are found by the Arena number in their Reference."""

    what: str  # as a Difference names it
    arena_name: str  # Arena's object, as in Difference.arena_id
    received: bool  # money in (RECEIVE) or out (SPEND)

    def of(self, xero: "XeroIndex") -> tuple[dict, dict]:
        if self.received:
            return xero.receipts, xero.receipts_by_reference
        return xero.refund_receipts, xero.refund_receipts_by_reference


RECEIPT = BankTransactionKind("receipt", "receipt", received=True)
REFUND_RECEIPT = BankTransactionKind("refund receipt", "refund", received=False)


@kinds.check(RecordKind.RECEIPT)
def _check_receipt(arena: ArenaBooks, xero: XeroIndex, record: SyncRecord, result: Comparison) -> None:
    receipt = arena.receipts.get(record.object_id)
    if receipt is None or receipt.payment.reversed_at is not None:
        return  # a reversed payment's receipt is deleted by its reversal
    result.compared["receipts"] += 1
    payment = receipt.payment
    _check_bank_transaction(
        RECEIPT,
        xero,
        record,
        result,
        number=receipt.number,
        amount=payment.amount,
        customer=payment.customer,
        arena_id=receipt.pk,
    )


@kinds.check(RecordKind.REFUND_RECEIPT)
def _check_refund_receipt(arena: ArenaBooks, xero: XeroIndex, record: SyncRecord, result: Comparison) -> None:
    refund = arena.refunds.get(record.object_id)
    if refund is None:
        return
    result.compared["refund receipts"] += 1
    _check_bank_transaction(
        REFUND_RECEIPT,
        xero,
        record,
        result,
        number=refund.number,
        amount=refund.amount,
        customer=refund.customer,
        arena_id=refund.pk,
    )


def _check_bank_transaction(
    kind: BankTransactionKind,
    xero: XeroIndex,
    record: SyncRecord,
    result: Comparison,
    *,
    number: str,
    amount: Decimal,
    customer: Customer,
    arena_id: int,
) -> None:
    """One receipt or refund receipt Arena sent: in Xero once, alive, for the same amount."""
    amount = money(amount)
    by_id, by_reference = kind.of(xero)
    common = {"customer": customer.account_number, "arena_id": f"{kind.arena_name} {arena_id}", "record_id": record.pk}
    live = alive(by_reference.get(number, []), ("DELETED", "VOIDED"))
    found = by_id.get(id_key(record.xero_id))
    if found is not None and found.get("Status") in ("DELETED", "VOIDED") and not live:
        result.add(
            Difference(
                DriftKind.CHANGED_IN_XERO,
                kind.what,
                number,
                f"{kind.what.capitalize()} of {amount} was deleted in Xero after Arena sent it.",
                arena=str(amount),
                xero=str(found.get("Status")),
                xero_id=record.xero_id,
                by_person=True,
                **common,
            )
        )
        return
    found = found if found is not None and found.get("Status") not in ("DELETED", "VOIDED") else next(iter(live), None)
    if found is None:
        result.missing(
            kind.what,
            number,
            f"Arena sent this {kind.what}, but Xero has no bank transaction with its reference.",
            arena=str(amount),
            record=record,
            **common,
        )
        return
    common["xero_id"] = str(found.get("BankTransactionID") or "")
    if len(live) > 1:
        result.twice(
            kind.what,
            number,
            f"Xero has {len(live)} {kind.what}s with reference {number}.",
            count=len(live),
            **common,
        )
    if money(found.get("Total")) != amount:
        result.add(
            Difference(
                DriftKind.AMOUNT_DIFFERS,
                kind.what,
                number,
                f"Xero has {money(found.get('Total'))}, Arena {amount}.",
                arena=str(amount),
                xero=str(money(found.get("Total"))),
                **common,
            )
        )
