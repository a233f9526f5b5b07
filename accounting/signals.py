"""Receivers for billing changes: each writes an outbox row in the same transaction and asks for a sync
after commit. They never call Xero."""

from django.db.models.signals import post_save

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

from .models import SyncRecord, allocation_kind
from .sync import payloads
from .sync.outbox import record_enqueue

Kind = SyncRecord.Kind


def customer_saved(sender, instance: Customer, created: bool, **kwargs) -> None:
    record_enqueue(
        whitelabel_id=instance.whitelabel_id,
        kind=Kind.CONTACT,
        object_id=instance.pk,
        label=instance.account_number,
        resend=not created,
        created=created,
    )


def invoice_saved(sender, instance: Invoice, **kwargs) -> None:
    """Issued or voided: only saves that change the status matter (payments save the amount paid)."""
    update_fields = kwargs.get("update_fields")
    if update_fields is not None and "status" not in update_fields:
        return
    if instance.status == Invoice.Status.ISSUED:
        record_enqueue(
            whitelabel_id=instance.whitelabel_id, kind=Kind.INVOICE, object_id=instance.pk, label=instance.number
        )
    elif instance.status == Invoice.Status.VOID:
        record_enqueue(
            whitelabel_id=instance.whitelabel_id, kind=Kind.INVOICE_VOID, object_id=instance.pk, label=instance.number
        )


def allocation_saved(sender, instance: Allocation, created: bool, **kwargs) -> None:
    if not created:
        if instance.reversed_at is not None and instance.source == Allocation.Source.PAYMENT:
            record_enqueue(
                whitelabel_id=instance.invoice.whitelabel_id,
                kind=Kind.PAYMENT_REVERSAL,
                object_id=instance.pk,
                label=f"{instance.amount} to {instance.invoice.number}",
            )
        return
    record_enqueue(
        whitelabel_id=instance.invoice.whitelabel_id,
        kind=allocation_kind(instance),
        object_id=instance.pk,
        label=f"{instance.amount} to {instance.invoice.number}",
        created=True,
    )


def receipt_saved(sender, instance: Receipt, created: bool, **kwargs) -> None:
    """The receipt is the last step of recording money: what it did not pay is now known."""
    if not created:
        return
    payment = instance.payment
    record_enqueue(
        whitelabel_id=instance.whitelabel_id,
        kind=Kind.RECEIPT,
        object_id=instance.pk,
        label=instance.number,
        created=True,
    )
    if payloads.overpayment_amount(payment) > 0:
        record_enqueue(
            whitelabel_id=instance.whitelabel_id, kind=Kind.OVERPAYMENT, object_id=payment.pk, label=instance.number
        )


def payment_saved(sender, instance: Payment, created: bool, update_fields=None, **kwargs) -> None:
    """Reversed: the credit it left (post-paid) or its receipt (pre-paid) comes out of Xero too."""
    if not created and instance.reversed_at is not None and update_fields and "reversed_at" in update_fields:
        record_enqueue(
            whitelabel_id=instance.whitelabel_id,
            kind=Kind.DEPOSIT_REVERSAL,
            object_id=instance.pk,
            label=instance.receipt.number,
        )


def credit_note_saved(sender, instance: CreditNote, created: bool, **kwargs) -> None:
    if created:
        record_enqueue(
            whitelabel_id=instance.whitelabel_id,
            kind=Kind.CREDIT_NOTE,
            object_id=instance.pk,
            label=instance.number,
            created=True,
        )


def credit_note_allocation_saved(sender, instance: CreditNoteAllocation, created: bool, **kwargs) -> None:
    if created:
        record_enqueue(
            whitelabel_id=instance.invoice.whitelabel_id,
            kind=Kind.CREDIT_NOTE_ALLOCATION,
            object_id=instance.pk,
            label=f"{instance.amount} of {instance.credit_note.number} to {instance.invoice.number}",
            created=True,
        )


def refund_saved(sender, instance: Refund, created: bool, **kwargs) -> None:
    """Pre-paid: the refund receipt (its parts are what a post-paid organisation gets)."""
    if created:
        record_enqueue(
            whitelabel_id=instance.whitelabel_id,
            kind=Kind.REFUND_RECEIPT,
            object_id=instance.pk,
            label=instance.number,
            created=True,
        )


def refund_part_saved(sender, instance: RefundPart, created: bool, **kwargs) -> None:
    """Post-paid: each credit a refund paid back is a refund of that overpayment or credit note."""
    if created:
        refund = instance.refund
        record_enqueue(
            whitelabel_id=refund.whitelabel_id,
            kind=Kind.REFUND,
            object_id=instance.pk,
            label=f"{instance.amount} of {refund.number}",
            created=True,
        )


def connect_receivers() -> None:
    post_save.connect(customer_saved, sender=Customer, dispatch_uid="accounting.customer_saved")
    post_save.connect(invoice_saved, sender=Invoice, dispatch_uid="accounting.invoice_saved")
    post_save.connect(allocation_saved, sender=Allocation, dispatch_uid="accounting.allocation_saved")
    post_save.connect(receipt_saved, sender=Receipt, dispatch_uid="accounting.receipt_saved")
    post_save.connect(payment_saved, sender=Payment, dispatch_uid="accounting.payment_saved")
    post_save.connect(credit_note_saved, sender=CreditNote, dispatch_uid="accounting.credit_note_saved")
    post_save.connect(
        credit_note_allocation_saved,
        sender=CreditNoteAllocation,
        dispatch_uid="accounting.credit_note_allocation_saved",
    )
    post_save.connect(refund_saved, sender=Refund, dispatch_uid="accounting.refund_saved")
    post_save.connect(refund_part_saved, sender=RefundPart, dispatch_uid="accounting.refund_part_saved")
