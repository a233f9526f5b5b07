"""What the organisation itself refuses: documents dated in a locked period, and invoices on a plan without them.

Xero refuses a document dated on or before the end of year lock date, or the period lock date (a connection
with the Adviser role may post past the period lock date; the sandbox's connections never have it), with a
``ValidationException`` naming the date. Ledger and Cashbook plans (Organisation ``Class``) have no sales
invoices at all.
"""
from datetime import date

from ..errors import ValidationFailed

PLANS_WITHOUT_INVOICES = frozenset({"LEDGER", "GST_CASHBOOK", "NON_GST_CASHBOOK"})
PLAN_REFUSES_INVOICES = (
    "Your Xero subscription does not allow invoices to be created. Upgrade your plan to create invoices."
)


def xero_day(value: date) -> str:
    """31-Jul-2013, as Xero writes a lock date in its messages."""
    return value.strftime("%d-%b-%Y")


def lock_refusal(book, on_date: date | None) -> str | None:
    """Xero's message for a document dated `on_date` in a locked period, else None."""
    org = book.organisation
    if on_date is None:
        return None
    if org.end_of_year_lock_date and on_date <= org.end_of_year_lock_date:
        return (
            "The document date cannot be before the end of year lock date, currently set at "
            f"{xero_day(org.end_of_year_lock_date)}"
        )
    if org.period_lock_date and on_date <= org.period_lock_date:
        return (
            "The document date cannot be before the period lock date, currently set at "
            f"{xero_day(org.period_lock_date)}"
        )
    return None


def check_open(ctx, on_date: date | None, problems=None) -> None:
    """Refuse (or add to `problems`) a document dated in a locked period."""
    message = lock_refusal(ctx.book, on_date)
    if message is None:
        return
    if problems is None:
        raise ValidationFailed(message)
    problems.add(message)


def check_plan_allows_invoices(ctx, problems) -> None:
    if ctx.book.organisation.plan in PLANS_WITHOUT_INVOICES:
        problems.add(PLAN_REFUSES_INVOICES)
