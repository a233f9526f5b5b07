"""`books_compare`: Xero's books against what Arena sent, record by record and customer by customer, as typed
`Difference`s. One check per kind of record, registered on the kind's row of sync/kinds.py (`@kinds.check`);
each only reads. Kinds without one (reversals, refunds) are compared through others: a reversed payment on
its payment, refunds and reversed credit in the customer's credit."""

from collections import Counter, defaultdict
from dataclasses import dataclass
from decimal import Decimal

from payments.models import Allocation, Customer, Invoice, Whitelabel

from ..models import SyncRecord, allocation_kind
from ..sync import kinds, payloads
from .books import ArenaBooks, Comparison, Difference, DriftKind, XeroBooks, XeroIndex, alive, id_key, money

RecordKind, Status = SyncRecord.Kind, SyncRecord.Status
ZERO = Decimal("0.00")


def books_compare(
    whitelabel: Whitelabel, tenant_id: str, books: XeroBooks, *, scope: set[int] | None = None, arena=None
) -> Comparison:
    """Every difference between Xero's `books` and what Arena sent to organisation `tenant_id`, for the sync
    records in `scope` (their ids; None: every record), and for the parts of Xero's books that were read."""
    arena = arena or ArenaBooks(whitelabel, tenant_id)
    xero = XeroIndex(books)
    result = Comparison()
    in_scope = [r for r in arena.records.values() if scope is None or r.pk in scope]
    result.not_sent.update(r.status for r in in_scope if r.status != Status.SENT)
    sent = defaultdict(list)
    for record in in_scope:
        if arena.sent(record):
            sent[record.kind].append(record)
    if "accounts" in books.parts:
        _check_settings(arena, xero, result)
    # Each kind the payment type sends, by its own check (registered on its row of sync/kinds.py), when what
    # it is compared in was read.
    for row in kinds.sent_by(arena.payment_type):
        if row.check is not None and row.reads <= books.parts:
            for record in sent[row.kind]:
                row.check(arena, xero, record, result)
    if arena.postpaid and {"overpayments", "credit_notes"} <= books.parts:
        for customer_id in sorted(credit_customers(arena, sent)):
            _check_credit(arena, xero, customer_id, result)
    # What Xero has for Arena's customers that Arena never sent.
    if "invoices" in books.parts:
        _extra_invoices(arena, xero, result)
    if "payments" in books.parts:
        _extra_payments(arena, xero, result)
    if "receipts" in books.parts and not arena.postpaid:
        _extra_receipts(arena, xero, result)
        _extra_refund_receipts(arena, xero, result)
    return result


def credit_customers(arena: ArenaBooks, records_by_kind: dict) -> set[int]:
    """The customers whose credit the given records change (overpayments, credit applied, credit notes,
    refunds)."""
    customers = {
        arena.payments[r.object_id].customer_id
        for r in records_by_kind[RecordKind.OVERPAYMENT]
        if r.object_id in arena.payments
    }
    customers |= {
        arena.allocations[r.object_id].payment.customer_id
        for r in records_by_kind[RecordKind.CREDIT_ALLOCATION]
        if r.object_id in arena.allocations
    }
    customers |= {
        arena.credit_notes[r.object_id].customer_id
        for r in records_by_kind[RecordKind.CREDIT_NOTE]
        if r.object_id in arena.credit_notes
    }
    customers |= {
        arena.refund_parts[r.object_id].refund.customer_id
        for r in records_by_kind[RecordKind.REFUND]
        if r.object_id in arena.refund_parts
    }
    return customers


def _check_settings(arena: ArenaBooks, xero: XeroIndex, result: Comparison) -> None:
    """The accounts the whitelabel's settings name must exist and be active, or Xero refuses what is sent next."""
    accounting = arena.accounting
    if accounting is None or not accounting.uses_xero:
        return
    needs = [("revenue account", accounting.revenue_code, "new invoices and receipts")]
    needs.append(("bank account", accounting.bank_account_code, "new payments, credit and receipts"))
    for name, code, refused in needs:
        if not code:
            continue
        result.compared["settings"] += 1
        account = xero.accounts.get(id_key(code))
        label = f"{name} {code}"
        if account is None:
            detail = f"Account {code} no longer exists in Xero: Xero will refuse {refused}."
            xero_status, xero_id = "none", ""
        elif account.get("Status") != "ACTIVE":
            detail = (
                f"Account {code} ({account.get('Name')}) is {str(account.get('Status')).lower()} in Xero: Xero will "
                f"refuse {refused} until it is restored there or another code is chosen on the settings page."
            )
            xero_status, xero_id = str(account.get("Status")), str(account.get("AccountID") or "")
        else:
            continue
        result.add(
            Difference(
                DriftKind.STATUS_DIFFERS,
                "setting",
                label,
                detail,
                arena="ACTIVE",
                xero=xero_status,
                arena_id=f"accounting settings of {arena.whitelabel.slug}",
                xero_id=xero_id,
                by_person=True,
            )
        )


@kinds.check(RecordKind.CONTACT)
def check_contact(arena: ArenaBooks, xero: XeroIndex, record: SyncRecord, result: Comparison) -> None:
    customer = arena.customers.get(record.object_id)
    if customer is None:
        return
    result.compared["contacts"] += 1
    same_number = alive(xero.contacts_by_number.get(customer.account_number, []), ("ARCHIVED",))
    contact = xero.contacts.get(id_key(record.xero_id)) or next(iter(same_number), None)
    common = {
        "customer": customer.account_number,
        "arena_id": f"customer {customer.pk}",
        "record_id": record.pk,
    }
    if contact is None:
        result.missing(
            "contact",
            customer.account_number,
            "Arena sent this customer's contact, but Xero has no such contact.",
            record=record,
            **common,
        )
        return
    common["xero_id"] = str(contact.get("ContactID") or "")
    if len(same_number) > 1:
        result.twice(
            "contact",
            customer.account_number,
            f"Xero has {len(same_number)} active contacts numbered {customer.account_number}.",
            count=len(same_number),
            **common,
        )
    if contact.get("ContactStatus") == "ARCHIVED":
        merged_into = xero.contacts.get(id_key(contact.get("MergedToContactID")))
        if contact.get("MergedToContactID"):
            name = (merged_into or {}).get("Name") or contact["MergedToContactID"]
            detail = f"Merged into contact '{name}' in Xero; the contact is archived there."
        else:
            detail = "Archived in Xero: Xero refuses new invoices for this customer until it is restored."
        result.add(
            Difference(
                DriftKind.STATUS_DIFFERS,
                "contact",
                customer.account_number,
                detail,
                arena="ACTIVE",
                xero="ARCHIVED",
                by_person=True,
                **common,
            )
        )
        return
    sent_name = (record.payload or {}).get("Name")
    if sent_name and contact.get("Name") != sent_name:
        result.add(
            Difference(
                DriftKind.CHANGED_IN_XERO,
                "contact",
                customer.account_number,
                f"Renamed in Xero from '{sent_name}' to '{contact.get('Name')}'.",
                arena=sent_name,
                xero=str(contact.get("Name")),
                by_person=True,
                **common,
            )
        )


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
    removed = _removed_payments(arena, xero, invoice, found)
    if not payments_read:
        for payment_record, allocation, payment in removed:
            result.add(_payment_deleted(payment_record, allocation, payment))
    added = _added_payments(arena, invoice, found)
    uncredited = _removed_credit(arena, xero, invoice)
    _check_amount_due(arena, invoice, found, common, removed + uncredited, added, edited or from_event, result)


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


def _payment_deleted(record: SyncRecord, allocation: Allocation, payment: dict | None) -> Difference:
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
        result.add(_payment_deleted(record, allocation, found))
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


def _check_credit(arena: ArenaBooks, xero: XeroIndex, customer_id: int, result: Comparison) -> None:
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


def _arena_contacts(arena: ArenaBooks) -> dict[str, Customer]:
    """Arena's customers by their contact's Xero id in this organisation."""
    return {
        id_key(r.xero_id): arena.customers[r.object_id]
        for r in arena.by_kind[RecordKind.CONTACT]
        if arena.sent(r) and r.object_id in arena.customers
    }


def _extra_invoices(arena: ArenaBooks, xero: XeroIndex, result: Comparison) -> None:
    """Sales invoices to Arena's customers that Arena never billed (entered in Xero by a person)."""
    contacts = _arena_contacts(arena)
    for invoice in xero.invoices.values():
        customer = contacts.get(id_key((invoice.get("Contact") or {}).get("ContactID")))
        if customer is None or invoice.get("InvoiceNumber") in arena.invoice_numbers:
            continue
        if invoice.get("Status") in ("DELETED", "VOIDED", "DRAFT"):
            continue
        result.add(
            Difference(
                DriftKind.EXTRA_IN_XERO,
                "invoice",
                str(invoice.get("InvoiceNumber") or invoice.get("InvoiceID")),
                f"An invoice of {money(invoice.get('Total'))} to {customer.account_number} is in Xero but was not "
                "billed in Arena.",
                customer=customer.account_number,
                xero=str(money(invoice.get("Total"))),
                xero_id=str(invoice.get("InvoiceID") or ""),
            )
        )


def _extra_payments(arena: ArenaBooks, xero: XeroIndex, result: Comparison) -> None:
    """Payments on Arena's invoices that Arena did not record (entered in Xero by a person)."""
    invoices = {
        id_key(r.xero_id): arena.invoices[r.object_id]
        for r in arena.by_kind[RecordKind.INVOICE]
        if arena.sent(r) and r.object_id in arena.invoices
    }
    references = {payloads.payment_reference(a) for a in arena.allocations.values()}
    for payment in xero.payments.values():
        invoice = invoices.get(id_key((payment.get("Invoice") or {}).get("InvoiceID")))
        if invoice is None or payment.get("Status") == "DELETED" or payment.get("Reference") in references:
            continue
        result.add(
            Difference(
                DriftKind.EXTRA_IN_XERO,
                "payment",
                str(payment.get("Reference") or payment.get("PaymentID")),
                f"A payment of {money(payment.get('Amount'))} on {invoice.number} is in Xero but was not recorded in "
                "Arena.",
                customer=invoice.customer.account_number,
                xero=str(money(payment.get("Amount"))),
                arena_id=f"invoice {invoice.pk}",
                xero_id=str(payment.get("PaymentID") or ""),
            )
        )


def _extra_receipts(arena: ArenaBooks, xero: XeroIndex, result: Comparison) -> None:
    """Money received from Arena's customers in Xero that Arena did not receipt (pre-paid whitelabels)."""
    _extra_bank_transactions(RECEIPT, arena.receipt_numbers, arena, xero, result)


def _extra_refund_receipts(arena: ArenaBooks, xero: XeroIndex, result: Comparison) -> None:
    """Money paid back to Arena's customers in Xero that Arena did not refund (pre-paid whitelabels): their
    credit in Arena is more than what they really have."""
    _extra_bank_transactions(REFUND_RECEIPT, arena.refund_numbers, arena, xero, result)


def _extra_bank_transactions(
    kind: BankTransactionKind, numbers: set[str], arena: ArenaBooks, xero: XeroIndex, result: Comparison
) -> None:
    contacts = _arena_contacts(arena)
    by_id, _ = kind.of(xero)
    for row in by_id.values():
        customer = contacts.get(id_key((row.get("Contact") or {}).get("ContactID")))
        if customer is None or row.get("Reference") in numbers:
            continue
        if row.get("Status") in ("DELETED", "VOIDED"):
            continue
        total, who = money(row.get("Total")), customer.account_number
        result.add(
            Difference(
                DriftKind.EXTRA_IN_XERO,
                kind.what,
                str(row.get("Reference") or row.get("BankTransactionID")),
                f"{total} received from {who} is in Xero but has no receipt in Arena."
                if kind.received
                else f"{total} paid back to {who} is in Xero but was not refunded in Arena.",
                customer=who,
                xero=str(total),
                xero_id=str(row.get("BankTransactionID") or ""),
            )
        )
