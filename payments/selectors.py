"""Reads of billing state."""

from decimal import Decimal

from django.db.models import QuerySet, Sum

from .models import Allocation, Customer, Invoice, Membership, Payment, Whitelabel


def customer_credit(customer: Customer, *, currency: str | None = None) -> Decimal:
    """Money received from the customer that no invoice has used yet."""
    currency = currency or customer.whitelabel.default_currency
    received = Payment.objects.filter(customer=customer, currency=currency).aggregate(t=Sum("amount"))["t"]
    allocated = Allocation.objects.filter(payment__customer=customer, payment__currency=currency).aggregate(
        t=Sum("amount")
    )["t"]
    return (received or Decimal("0")) - (allocated or Decimal("0"))


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
