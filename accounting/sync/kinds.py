"""One row per kind of sync record: everything the integration knows about a kind, said once.

Each `RecordKind` names its Arena model, the billing saves that put it in the outbox (`Trigger`s, read by
accounting/signals.py), which payment types send it, what it needs in Xero first, its name for
`resync_xero --kind`, how support finds it in Arena and in Xero (the admin), and what the reconcile reads
to compare it. `KINDS` is in the order a sync run sends them.

Two things attach themselves to a row from the modules that implement them, so that this table stays
below them (the engine and the reconcile read it): the handler that sends a batch
(`@sender(Kind.X)`, in sync/documents.py and sync/money.py) and the reconcile's check of one sent record
(`@check(Kind.X)`, in reconcile/compare.py). Adding a kind is adding a `SyncRecord.Kind`, a row here, and
those two functions (README, "Adding a record kind").
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import models

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
)

from ..mapping_models import DailySummary
from ..models import AccountingSettings, SyncRecord
from . import payloads

Kind = SyncRecord.Kind
POSTPAID, PREPAID = AccountingSettings.PaymentType.POSTPAID, AccountingSettings.PaymentType.PREPAID
BOTH = frozenset({POSTPAID, PREPAID})


@dataclass(frozen=True)
class Trigger:
    """A billing save that puts a record of the kind in the outbox, in the billing transaction.

    `when(instance, created, update_fields)` says whether this save does; `object_id` is the Arena record the
    sync record stands for (by default the saved one: then, on creation, its outbox row can't exist yet);
    `resend`: a later save of it sends a new version (a customer's contact)."""

    model: type[models.Model]
    when: Callable[[Any, bool, frozenset | None], bool]
    label: Callable[[Any], str]
    object_id: Callable[[Any], int] | None = None
    whitelabel_id: Callable[[Any], int] = lambda instance: instance.whitelabel_id
    resend: bool = False

    def target(self, instance) -> int:
        return instance.pk if self.object_id is None else self.object_id(instance)


@dataclass(frozen=True)
class ArenaLink:
    """Where support finds the Arena record behind a sync record: its admin model, primary key and name."""

    model: str
    pk: int
    text: str


@dataclass(frozen=True)
class RecordKind:
    kind: str
    name: str  # for `resync_xero --kind` and people: "invoices"
    model: type[models.Model]  # what SyncRecord.object_id is a primary key of
    sends: frozenset  # the payment types whose whitelabels send it
    triggers: tuple[Trigger, ...]  # the billing saves that put it in the outbox
    needs: tuple[str, ...] = ()  # kinds it waits for in Xero (parked until they are sent)
    xero_page: Callable[[SyncRecord], tuple[str, str] | None] = field(default=lambda record: None)
    arena_link: Callable[[int], ArenaLink | None] = field(default=lambda object_id: None)
    # The Xero collections its reconcile check compares it in (none: it is compared through other kinds, as
    # refunds and reversals are, in the customer's credit and on the money they reverse).
    reads: frozenset = frozenset()

    @property
    def label(self) -> str:
        return Kind(self.kind).label

    @property
    def send(self) -> Callable:
        """The handler that sends a batch of these records (`@sender`)."""
        return _SENDERS[self.kind]

    @property
    def check(self) -> Callable | None:
        """The reconcile's check of one sent record (`@check`)."""
        return _CHECKS.get(self.kind)

    def applies(self, payment_type: str | None) -> bool:
        return (payment_type or POSTPAID) in self.sends


# Registration of the functions that implement a kind ---------------------------------------------------

_SENDERS: dict[str, Callable] = {}
_CHECKS: dict[str, Callable] = {}


def sender(kind: str):
    """Mark `fn(run, records)` as the handler that sends a batch of `kind`."""

    def register(fn):
        _SENDERS[kind] = fn
        return fn

    return register


def check(kind: str):
    """Mark `fn(arena, xero, record, result)` as the reconcile's check of one sent record of `kind`."""

    def register(fn):
        _CHECKS[kind] = fn
        return fn

    return register


# How support finds a record in Xero and in Arena ------------------------------------------------------


def _own(page: str) -> Callable[[SyncRecord], tuple[str, str] | None]:
    """The record is what Xero gave it an id for, on that page."""
    return lambda record: (page, record.xero_id)


def _overpayment_page(record: SyncRecord) -> tuple[str, str] | None:
    """The bank transaction that made it (or, found by a look-up, its customer's contact, where credit shows)."""
    response, payload = record.response or {}, record.payload or {}
    if response.get("BankTransactionID"):
        return ("transaction", str(response["BankTransactionID"]))
    contact_id = (response.get("Contact") or payload.get("Contact") or {}).get("ContactID")
    return ("contact", str(contact_id)) if contact_id else None


def _invoice_it_pays(record: SyncRecord) -> tuple[str, str] | None:
    """Credit applied to an invoice shows on the invoice."""
    response, payload = record.response or {}, record.payload or {}
    invoice_id = (payload.get("Invoice") or response.get("Invoice") or {}).get("InvoiceID")
    return ("invoice", str(invoice_id)) if invoice_id else None


def _customer(object_id: int) -> ArenaLink | None:
    customer = Customer.objects.filter(pk=object_id).first()
    return customer and ArenaLink("customer", customer.pk, f"Customer {customer}")


def _invoice(object_id: int) -> ArenaLink | None:
    invoice = Invoice.objects.filter(pk=object_id).first()
    return invoice and ArenaLink("invoice", invoice.pk, f"Invoice {invoice.number}")


def _payment(payment: Payment | None) -> ArenaLink | None:
    """Money and credit are shown on the payment they come from, with its allocations."""
    if payment is None:
        return None
    receipt = getattr(payment, "receipt", None)
    return ArenaLink("payment", payment.pk, f"Payment {receipt.number if receipt else payment.pk}")


def _allocated_payment(object_id: int) -> ArenaLink | None:
    allocation = Allocation.objects.select_related("payment__receipt").filter(pk=object_id).first()
    return _payment(allocation and allocation.payment)


def _receipt(object_id: int) -> ArenaLink | None:
    receipt = Receipt.objects.filter(pk=object_id).first()
    return receipt and ArenaLink("receipt", receipt.pk, f"Receipt {receipt.number}")


# When billing saves put records in the outbox: (instance, created, update_fields) -> bool -----------------

# What a customer's Xero contact is made of (payloads.contact): a save that changes none of these sends nothing.
CONTACT_FIELDS = frozenset({"account_number", "name", "email", "phone", "address"})


def _contact_saved(customer, created, fields) -> bool:
    return created or fields is None or bool(CONTACT_FIELDS & fields)


def _status_saved(fields) -> bool:
    """A save that may change an invoice's status (payments save only its amount paid)."""
    return fields is None or "status" in fields


def _issued(invoice, created, fields) -> bool:
    return _status_saved(fields) and invoice.status == Invoice.Status.ISSUED


def _voided(invoice, created, fields) -> bool:
    return _status_saved(fields) and invoice.status == Invoice.Status.VOID


def _new(instance, created, fields) -> bool:
    return created


def _paid(allocation, created, fields) -> bool:
    return created and allocation.source == Allocation.Source.PAYMENT


def _credit_applied(allocation, created, fields) -> bool:
    return created and allocation.source == Allocation.Source.CREDIT


def _payment_reversed(allocation, created, fields) -> bool:
    return not created and allocation.reversed_at is not None and allocation.source == Allocation.Source.PAYMENT


def _money_reversed(payment, created, fields) -> bool:
    return not created and payment.reversed_at is not None and bool(fields) and "reversed_at" in fields


def _left_credit(receipt, created, fields) -> bool:
    """The receipt is the last step of recording money: what it did not pay is known then."""
    return created and payloads.overpayment_amount(receipt.payment) > 0


def _fee_kept(receipt, created, fields) -> bool:
    """A payment with a gateway fee: known complete when its receipt is issued."""
    return created and receipt.payment.fee > 0


def _number(instance) -> str:
    return instance.number


def _allocation_label(allocation: Allocation) -> str:
    return f"{allocation.amount} to {allocation.invoice.number}"


def _note_allocation_label(allocation: CreditNoteAllocation) -> str:
    return f"{allocation.amount} of {allocation.credit_note.number} to {allocation.invoice.number}"


def _invoice_whitelabel(allocation) -> int:
    return allocation.invoice.whitelabel_id


def _allocated(source) -> Trigger:
    return Trigger(Allocation, source, label=_allocation_label, whitelabel_id=_invoice_whitelabel)


# The table, in run order ----------------------------------------------------------------------------------

ONLY_POSTPAID, ONLY_PREPAID = frozenset({POSTPAID}), frozenset({PREPAID})
IN_CREDIT = frozenset({"overpayments", "credit_notes"})


def _in(*collections: str) -> frozenset:
    """What the reconcile reads to compare a kind: Xero's collections of that name (reconcile/books.py)."""
    return frozenset(collections)

KINDS: tuple[RecordKind, ...] = (
    RecordKind(Kind.CONTACT, "contacts", Customer, BOTH,
               (Trigger(Customer, _contact_saved, label=lambda c: c.account_number, resend=True),),
               xero_page=_own("contact"), arena_link=_customer, reads=_in("contacts")),
    RecordKind(Kind.INVOICE, "invoices", Invoice, ONLY_POSTPAID, (Trigger(Invoice, _issued, label=_number),),
               needs=(Kind.CONTACT,), xero_page=_own("invoice"), arena_link=_invoice, reads=_in("invoices")),
    RecordKind(Kind.PAYMENT, "payments", Allocation, ONLY_POSTPAID, (_allocated(_paid),), needs=(Kind.INVOICE,),
               xero_page=_own("transaction"), arena_link=_allocated_payment, reads=_in("payments")),
    RecordKind(Kind.OVERPAYMENT, "overpayments", Payment, ONLY_POSTPAID,
               (Trigger(Receipt, _left_credit, label=_number, object_id=lambda receipt: receipt.payment_id),),
               needs=(Kind.CONTACT,), xero_page=_overpayment_page, reads=IN_CREDIT,
               arena_link=lambda pk: _payment(Payment.objects.select_related("receipt").filter(pk=pk).first())),
    RecordKind(Kind.CREDIT_ALLOCATION, "credit", Allocation, ONLY_POSTPAID, (_allocated(_credit_applied),),
               needs=(Kind.OVERPAYMENT, Kind.INVOICE), xero_page=_invoice_it_pays, arena_link=_allocated_payment,
               reads=IN_CREDIT),
    RecordKind(Kind.CREDIT_NOTE, "credit-notes", CreditNote, ONLY_POSTPAID, (Trigger(CreditNote, _new, label=_number),),
               needs=(Kind.CONTACT,), xero_page=_own("credit_note"), reads=_in("credit_notes")),
    RecordKind(Kind.CREDIT_NOTE_ALLOCATION, "credit-note-allocations", CreditNoteAllocation, ONLY_POSTPAID,
               (Trigger(CreditNoteAllocation, _new, label=_note_allocation_label, whitelabel_id=_invoice_whitelabel),),
               needs=(Kind.CREDIT_NOTE, Kind.INVOICE), xero_page=_invoice_it_pays, reads=_in("credit_notes")),
    # Each credit a refund paid back is a refund of that overpayment or credit note.
    RecordKind(Kind.REFUND, "refunds", RefundPart, ONLY_POSTPAID,
               (Trigger(RefundPart, _new, label=lambda p: f"{p.amount} of {p.refund.number}",
                        whitelabel_id=lambda p: p.refund.whitelabel_id),),
               needs=(Kind.OVERPAYMENT, Kind.CREDIT_NOTE), xero_page=_own("transaction")),
    RecordKind(Kind.PAYMENT_REVERSAL, "reversals", Allocation, ONLY_POSTPAID, (_allocated(_payment_reversed),),
               needs=(Kind.PAYMENT,), xero_page=_own("transaction")),
    RecordKind(Kind.INVOICE_VOID, "voids", Invoice, ONLY_POSTPAID, (Trigger(Invoice, _voided, label=_number),),
               needs=(Kind.INVOICE,), xero_page=_own("invoice"), arena_link=_invoice, reads=_in("invoices")),
    RecordKind(Kind.RECEIPT, "receipts", Receipt, ONLY_PREPAID, (Trigger(Receipt, _new, label=_number),),
               needs=(Kind.CONTACT,), xero_page=_own("transaction"), arena_link=_receipt, reads=_in("receipts")),
    RecordKind(Kind.REFUND_RECEIPT, "refund-receipts", Refund, ONLY_PREPAID, (Trigger(Refund, _new, label=_number),),
               needs=(Kind.CONTACT,), xero_page=_own("transaction"), reads=_in("receipts")),
    # Reversed money: the credit it left (post-paid) or its receipt (pre-paid) comes out of Xero.
    RecordKind(Kind.DEPOSIT_REVERSAL, "deposit-reversals", Payment, BOTH,
               (Trigger(Payment, _money_reversed, label=lambda p: p.receipt.number),),
               needs=(Kind.OVERPAYMENT, Kind.RECEIPT), xero_page=_own("transaction")),
    # What the gateway kept of a payment: a Spend Money from the account the payment went into (issue 20).
    RecordKind(Kind.GATEWAY_FEE, "fees", Payment, BOTH,
               (Trigger(Receipt, _fee_kept, label=_number, object_id=lambda receipt: receipt.payment_id),),
               xero_page=_own("transaction"),
               arena_link=lambda pk: _payment(Payment.objects.select_related("receipt").filter(pk=pk).first())),
    # Pre-paid receipts of a day and payment method as one Receive Money (issue 20; accounting/summaries.py).
    RecordKind(Kind.DAILY_SUMMARY, "daily-summaries", DailySummary, ONLY_PREPAID,
               (Trigger(DailySummary, _new, label=lambda s: s.number),), xero_page=_own("transaction")),
)  # fmt: skip

BY_KIND = {row.kind: row for row in KINDS}
BY_NAME = {row.name: row for row in KINDS}


def of(kind: str) -> RecordKind:
    """The row of a kind (a SyncRecord.Kind value)."""
    return BY_KIND[kind]


def applies(payment_type: str | None, kind: str) -> bool:
    """Whether a whitelabel with this payment type sends this kind at all."""
    return of(kind).applies(payment_type)


def sent_by(payment_type: str | None) -> list[RecordKind]:
    """The kinds a whitelabel with this payment type sends, in run order."""
    return [row for row in KINDS if row.applies(payment_type)]


def triggered_by(model: type[models.Model]) -> list[tuple[RecordKind, Trigger]]:
    """The kinds a save of `model` may put in the outbox, with their triggers."""
    return [(row, trigger) for row in KINDS for trigger in row.triggers if trigger.model is model]


def trigger_models() -> list[type[models.Model]]:
    return list(dict.fromkeys(trigger.model for row in KINDS for trigger in row.triggers))
