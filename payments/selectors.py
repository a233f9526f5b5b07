"""Reads of billing state."""

from decimal import Decimal

from django.db import models
from django.db.models import F, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

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


def _held(model, amount_field: str, allocations, link: str):
    """`model` rows annotated with `held`: what they still hold after allocations and refunds."""
    zero = Value(Decimal("0"), output_field=models.DecimalField(max_digits=14, decimal_places=2))

    def total(query):
        return Coalesce(Subquery(query.values(link).annotate(t=Sum("amount")).values("t")[:1]), zero)

    used = allocations.filter(**{link: OuterRef("pk")})
    refunded = RefundPart.objects.filter(**{link: OuterRef("pk")})
    return model.objects.annotate(held=F(amount_field) - total(used) - total(refunded))


def credit_sources(customer: Customer, *, currency: str) -> list:
    """What holds the customer's credit, locked, each with `held` (what it still holds): money received
    (oldest first), then credit notes. In a few queries, however long the history. `held` is read when the
    query starts: callers hold the customer's lock first (payments.services' lock order), so no other
    transaction is spending it meanwhile."""
    payments = (
        _held(Payment, "amount", Allocation.objects.filter(reversed_at=None), "payment")
        .filter(customer=customer, currency=currency, reversed_at=None, held__gt=0)
        .order_by("received_at", "id")
    )
    notes = (
        _held(CreditNote, "total", CreditNoteAllocation.objects.all(), "credit_note")
        .filter(customer=customer, currency=currency, held__gt=0)
        .order_by("id")
    )
    lock = {"no_key": True, "of": ("self",)}
    return [*payments.select_for_update(**lock), *notes.select_for_update(**lock)]


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
