"""The reconcile's checks of what Arena sent about invoices: each invoice (its total, what it owes, its
status, the payments and credit on it) and its void. Registered on the kinds' rows (`@kinds.check`)."""

from decimal import Decimal

from payments.models import Allocation, Invoice

from ..models import SyncRecord, allocation_kind
from ..sync import kinds, payloads
from .books import ArenaBooks, Comparison, Difference, DriftKind, XeroIndex, alive, id_key, money

RecordKind, Status = SyncRecord.Kind, SyncRecord.Status
ZERO = Decimal("0.00")


@kinds.check(RecordKind.INVOICE)
def _check_invoice_sent(arena: ArenaBooks, xero: XeroIndex, record: SyncRecord, result: Comparison) -> None:
    check_invoice(arena, xero, record, result, payments_read="payments" in xero.books.parts)


def _removed_payments(arena: ArenaBooks, xero: XeroIndex, invoice: Invoice, found: dict) -> list[tuple]:
    """Payments Arena sent on this invoice that Xero no longer counts: (record, allocation, xero payment or None)."""
    live_on_invoice = {id_key(p.get("PaymentID")) for p in found.get("Payments") or []}
    removed = []
    for allocation in arena.allocations_of_invoice.get(invoice.pk, []):
        record = arena.record(RecordKind.PAYMENT, allocation.pk)
        if allocation.source != Allocation.Source.PAYMENT or not arena.sent(record) or not record.xero_id:
            continue
        if allocation.reversed_at is not None:
            continue  # Arena deleted it (a reversed payment): not a person's doing
        payment = xero.payments.get(id_key(record.xero_id))
        if payment is not None and payment.get("Status") == "DELETED":
            removed.append((record, allocation, payment))
        elif "Payments" in found and id_key(record.xero_id) not in live_on_invoice and payment is None:
            removed.append((record, allocation, None))
    return removed


def check_invoice(
    arena: ArenaBooks,
    xero: XeroIndex,
    record: SyncRecord,
    result: Comparison,
    *,
    payments_read: bool,
    from_event: bool = False,
) -> None:
    """`from_event`: Xero said it changed the invoice (a webhook), so an amount due that differs with nothing of
    Arena's on its way was changed in Xero."""
    invoice = arena.invoices.get(record.object_id)
    if invoice is None:
        return
    result.compared["invoices"] += 1
    numbered = xero.invoices_by_number.get(invoice.number, [])
    live = alive(numbered, ("DELETED",))
    found = xero.invoices.get(id_key(record.xero_id)) or next(iter(live), None) or next(iter(numbered), None)
    common = {"customer": invoice.customer.account_number, "arena_id": f"invoice {invoice.pk}", "record_id": record.pk}
    if found is None:
        result.missing(
            "invoice",
            invoice.number,
            "Arena sent this invoice, but Xero has no invoice with its number.",
            arena=str(money(invoice.total)),
            record=record,
            **common,
        )
        return
    common["xero_id"] = str(found.get("InvoiceID") or "")
    if len(live) > 1:
        result.twice(
            "invoice",
            invoice.number,
            f"Xero has {len(live)} invoices numbered {invoice.number}.",
            count=len(live),
            **common,
        )
    status = found.get("Status")
    void_record = arena.record(RecordKind.INVOICE_VOID, invoice.pk)
    arena_status = "PAID" if invoice.amount_due == 0 else "AUTHORISED"
    arena_status = "VOIDED" if invoice.status == Invoice.Status.VOID else arena_status
    if status in ("VOIDED", "DELETED"):
        if not (invoice.status == Invoice.Status.VOID and (arena.sent(void_record) or arena.in_flight(void_record))):
            result.add(
                Difference(
                    DriftKind.STATUS_DIFFERS,
                    "invoice",
                    invoice.number,
                    f"{status.title()} in Xero after Arena sent it; Arena still bills it.",
                    arena=arena_status,
                    xero=status,
                    by_person=True,
                    **common,
                )
            )
        return
    if invoice.status == Invoice.Status.VOID:
        return  # the void is checked on its own record (or is on its way)
    total, sent_total = money(found.get("Total")), (record.response or {}).get("Total")
    edited = sent_total is not None and money(sent_total) != total
    if total != money(invoice.total):
        detail = (
            f"Total edited in Xero from {money(sent_total)} to {total}."
            if edited
            else f"Xero's total {total} is not Arena's {money(invoice.total)} (sent so, or changed in Arena since)."
        )
        result.add(
            Difference(
                DriftKind.AMOUNT_DIFFERS,
                "invoice",
                invoice.number,
                detail,
                arena=str(money(invoice.total)),
                xero=str(total),
                by_person=edited,
                **common,
            )
        )
    contact_id = arena.contact_id(invoice.customer_id)
    found_contact = (found.get("Contact") or {}).get("ContactID")
    if contact_id and found_contact and id_key(found_contact) != id_key(contact_id):
        name = (found.get("Contact") or {}).get("Name") or found_contact
        result.add(
            Difference(
                DriftKind.CHANGED_IN_XERO,
                "invoice",
                invoice.number,
                f"Moved to another contact in Xero ('{name}'), e.g. by merging contacts.",
                arena=contact_id,
                xero=str(found_contact),
                by_person=True,
                **common,
            )
        )
    recoded = lines_recoded((record.payload or {}).get("LineItems"), found.get("LineItems"))
    if recoded:
        result.add(
            Difference(
                DriftKind.CHANGED_IN_XERO,
                "invoice",
                invoice.number,
                f"Lines recoded in Xero after Arena sent them: {'; '.join(recoded)}.",
                by_person=True,
                **common,
            )
        )
    removed = _removed_payments(arena, xero, invoice, found)
    if not payments_read:
        for payment_record, allocation, payment in removed:
            result.add(payment_deleted(payment_record, allocation, payment))
    added = _added_payments(arena, invoice, found)
    uncredited = _removed_credit(arena, xero, invoice)
    _check_amount_due(arena, invoice, found, common, removed + uncredited, added, edited or from_event, result)


def _coding(line: dict) -> tuple:
    tracking = tuple(sorted((t.get("Name", ""), t.get("Option", "")) for t in line.get("Tracking") or []))
    return (str(line.get("AccountCode") or ""), str(line.get("TaxType") or ""), tracking)


def _shown_coding(coding: tuple) -> str:
    account, tax_type, tracking = coding
    shown = f"account {account or '-'}, {tax_type or 'no tax type'}"
    return shown + "".join(f", {name}: {option}" for name, option in tracking)


def lines_recoded(sent: list | None, found: list | None) -> list[str]:
    """Each line whose account, tax type or tracking in Xero is not what Arena sent (issue 20). Compared with
    the payload as sent, so records sent under an earlier mapping are not flagged when the mapping changes."""
    if not sent or not found or len(sent) != len(found):
        return []
    changes = []
    for number, (ours, theirs) in enumerate(zip(sent, found, strict=True), start=1):
        if _coding(ours) != _coding(theirs):
            changes.append(
                f"line {number} ({ours.get('Description', '')[:40]}) sent on {_shown_coding(_coding(ours))}, "
                f"now on {_shown_coding(_coding(theirs))}"
            )
    return changes


def _removed_credit(arena: ArenaBooks, xero: XeroIndex, invoice: Invoice) -> list[tuple]:
    """Credit Arena applied to this invoice that its overpayment in Xero no longer lists."""
    removed = []
    for allocation in arena.allocations_of_invoice.get(invoice.pk, []):
        record = arena.record(RecordKind.CREDIT_ALLOCATION, allocation.pk)
        credit = arena.record(RecordKind.OVERPAYMENT, allocation.payment_id)
        if not (arena.sent(record) and record.xero_id and arena.sent(credit)):
            continue
        overpayment = xero.overpayments.get(id_key(credit.xero_id))
        if overpayment is None or overpayment.get("Status") in ("VOIDED", "DELETED"):
            continue
        if id_key(record.xero_id) not in {id_key(a.get("AllocationID")) for a in overpayment.get("Allocations") or []}:
            removed.append((record, allocation, None))
    return removed


def _added_payments(arena: ArenaBooks, invoice: Invoice, found: dict) -> list[dict]:
    """Payments on the invoice in Xero that Arena did not send (entered in Xero by a person)."""
    ours = arena.payment_ids
    references = {payloads.payment_reference(a) for a in arena.allocations_of_invoice.get(invoice.pk, [])}
    return [
        p
        for p in found.get("Payments") or []
        if id_key(p.get("PaymentID")) not in ours and p.get("Reference") not in references
    ]


def _check_amount_due(
    arena, invoice: Invoice, found: dict, common: dict, removed, added, by_person: bool, result
) -> None:
    """What Xero should still be owed, from what Arena sent (payments and credit on their way don't count yet)."""
    allocations = arena.allocations_of_invoice.get(invoice.pk, [])
    records = [arena.record(allocation_kind(a), a.pk) for a in allocations]
    notes = arena.note_allocations_of_invoice.get(invoice.pk, [])
    note_records = [arena.record(RecordKind.CREDIT_NOTE_ALLOCATION, a.pk) for a in notes]
    reversed_now = {}
    for allocation in allocations:
        if allocation.reversed_at is not None:
            reversed_now[allocation.pk] = arena.reversed_in_xero(RecordKind.PAYMENT_REVERSAL, allocation.pk)
    if any(arena.in_flight(r) for r in records + note_records) or None in reversed_now.values():
        return
    paid = sum(
        (a.amount for a, r in zip(allocations, records, strict=True) if arena.sent(r) and not reversed_now.get(a.pk)),
        Decimal("0"),
    ) + sum((a.amount for a, r in zip(notes, note_records, strict=True) if arena.sent(r)), Decimal("0"))
    expected, due = money(invoice.total - paid), money(found.get("AmountDue"))
    if expected == due or money(found.get("Total")) - money(paid) == due:
        return  # as sent, or only the total differs (reported on its own)
    reasons = []
    if removed:
        reasons.append("payment(s) or credit removed in Xero: " + ", ".join(_money_words(r, a) for r, a, _ in removed))
    if added:
        reasons.append(
            "payment(s) entered in Xero: "
            + ", ".join(f"{money(p.get('Amount'))} ({p.get('Reference')})" for p in added)
        )
    because = "; ".join(reasons) if reasons else "money added or removed in Xero?"
    detail = f"Amount due is {due} in Xero, {expected} as Arena sent it ({because})."
    result.add(
        Difference(
            DriftKind.AMOUNT_DIFFERS,
            "invoice",
            invoice.number,
            detail,
            arena=str(expected),
            xero=str(due),
            by_person=bool(removed or added) or by_person,
            **common,
        )
    )


def _money_words(record: SyncRecord, allocation: Allocation) -> str:
    if record.kind == RecordKind.PAYMENT:
        return f"{money(allocation.amount)} ({payloads.payment_reference(allocation)})"
    return f"{money(allocation.amount)} of credit from {allocation.payment.receipt.number}"


def payment_deleted(record: SyncRecord, allocation: Allocation, payment: dict | None) -> Difference:
    return Difference(
        DriftKind.CHANGED_IN_XERO,
        "payment",
        payloads.payment_reference(allocation),
        f"Payment of {money(allocation.amount)} on {allocation.invoice.number} deleted in Xero after Arena sent it.",
        customer=allocation.invoice.customer.account_number,
        arena=str(money(allocation.amount)),
        xero="DELETED",
        arena_id=f"allocation {allocation.pk}",
        xero_id=record.xero_id,
        record_id=record.pk,
        by_person=True,
    )


@kinds.check(RecordKind.INVOICE_VOID)
def _check_void(arena: ArenaBooks, xero: XeroIndex, record: SyncRecord, result: Comparison) -> None:
    invoice = (
        arena.invoices.get(record.object_id)
        or Invoice.objects.select_related("customer").filter(pk=record.object_id).first()
    )
    if invoice is None:
        return
    numbered = xero.invoices_by_number.get(invoice.number, [])
    if not numbered or any(i.get("Status") in ("VOIDED", "DELETED") for i in numbered):
        return  # voided; or no invoice at all, which its own record reports
    found = numbered[0]
    result.add(
        Difference(
            DriftKind.MISSING_IN_XERO,
            "void",
            invoice.number,
            "Voided in Arena and the void was sent, but the invoice is not voided in Xero.",
            customer=invoice.customer.account_number,
            arena="VOIDED",
            xero=str(found.get("Status")),
            arena_id=f"invoice {invoice.pk}",
            xero_id=str(found.get("InvoiceID") or ""),
            record_id=record.pk,
            fixable=True,
        )
    )
