"""Reads of billing state."""

from decimal import Decimal

from django.db.models import QuerySet, Sum

from .models import (
    Allocation,
    CreditNote,
    CreditNoteAllocation,
    Customer,
    Invoice,
    Membership,
    Payment,
    RefundPart,
    Whitelabel,
)


def _sum(query, field: str = "amount") -> Decimal:
    return query.aggregate(t=Sum(field))["t"] or Decimal("0")


def customer_credit(customer: Customer, *, currency: str | None = None) -> Decimal:
    """The customer's credit: money received and credit notes issued that no invoice has used and no
    refund has paid back (reversed payments hold none)."""
    currency = currency or customer.whitelabel.default_currency
    payments = Payment.objects.filter(customer=customer, currency=currency, reversed_at__isnull=True)
    notes = CreditNote.objects.filter(customer=customer, currency=currency)
    held = _sum(payments) + _sum(notes, "total")
    used = (
        _sum(Allocation.objects.filter(payment__in=payments, reversed_at__isnull=True))
        + _sum(CreditNoteAllocation.objects.filter(credit_note__in=notes))
        + _sum(RefundPart.objects.filter(payment__in=payments))
        + _sum(RefundPart.objects.filter(credit_note__in=notes))
    )
    return held - used


def credit_sources(customer: Customer, *, currency: str) -> list:
    """Payments (oldest money first), then credit notes, that still hold credit, locked for update."""
    payments = Payment.objects.select_for_update().filter(customer=customer, currency=currency, reversed_at=None)
    notes = CreditNote.objects.select_for_update().filter(customer=customer, currency=currency)
    return [
        source for source in [*payments.order_by("received_at", "id"), *notes.order_by("id")] if source.unallocated > 0
    ]


def customer_open_invoices(customer: Customer) -> QuerySet[Invoice]:
    """Issued invoices with money still due, oldest first."""
    return Invoice.objects.filter(customer=customer, status=Invoice.Status.ISSUED).order_by(
        "due_date", "issue_date", "id"
    )


def user_whitelabels(user, *, role: str | None = None) -> QuerySet[Whitelabel]:
    if not user.is_authenticated:
        return Whitelabel.objects.none()
    memberships = Membership.objects.filter(user=user)
    if role:
        memberships = memberships.filter(role=role)
    return Whitelabel.objects.filter(pk__in=memberships.values("whitelabel_id")).order_by("name")


def user_role(user, whitelabel: Whitelabel) -> str | None:
    if not user.is_authenticated:
        return None
    return Membership.objects.filter(user=user, whitelabel=whitelabel).values_list("role", flat=True).first()
