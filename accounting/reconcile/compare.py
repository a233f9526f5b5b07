"""`books_compare`: Xero's books against what Arena sent, record by record and customer by customer, as typed
`Difference`s. One check per kind of record, registered on the kind's row of sync/kinds.py (`@kinds.check`);
each only reads. Kinds without one (reversals, refunds) are compared through others: a reversed payment on
its payment, refunds and reversed credit in the customer's credit."""

from collections import defaultdict
from decimal import Decimal

from payments.models import Customer, Whitelabel

from ..models import SyncRecord
from ..sync import kinds, payloads
from .books import ArenaBooks, Comparison, Difference, DriftKind, XeroBooks, XeroIndex, alive, id_key, money

# Importing the checks registers them on the kinds' rows (money imports invoices).
from .money import RECEIPT, REFUND_RECEIPT, BankTransactionKind, check_credit

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
            check_credit(arena, xero, customer_id, result)
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
        if id_key(payment.get("PaymentID")) in arena.payment_ids:
            continue  # entered in Xero by a person and recorded in Arena (accounting/imports.py)
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
