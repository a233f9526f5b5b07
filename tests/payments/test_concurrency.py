"""Money under concurrency, on PostgreSQL: every pair of money operations on one customer (and its
invoices), run at the same moment by two threads released by a barrier, each on its own database
connection, many times over. After each trial Arena's books hold together: no credit below zero, no invoice
paid or credited beyond its total, what an invoice says is paid equal to what is applied to it, reversed
money holding nothing. Each operation either does all it says or refuses with a BillingError; nothing else
(a deadlock, a constraint violation) may escape. One run does it on a whitelabel connected to the sandbox
with a real worker, and Xero's books then equal Arena's.

SQLite serialises every write, so it proves nothing here: CI (PostgreSQL) fails this suite rather than skip
it (tests/services.require). `CONCURRENCY_TRIALS` sets the trials per pair (default 6).
"""

import itertools
import os
import threading
from dataclasses import dataclass
from decimal import Decimal
from functools import partial

import pytest
from django.db import connection, connections
from django.db.models import Sum

from payments.models import (
    Allocation,
    CreditNote,
    CreditNoteAllocation,
    Customer,
    Invoice,
    Payment,
    Refund,
    RefundPart,
)
from payments.selectors import customer_credit
from payments.services import (
    BillingError,
    LineInput,
    add_credit,
    apply_credit_to_invoice,
    create_customer,
    issue_credit_note,
    issue_invoice,
    record_payment,
    refund_credit,
    reverse_payment,
    update_customer,
    void_invoice,
)
from tests.books import assert_no_drift, connected, wait_for_books, xero_calls
from tests.factories import WhitelabelFactory
from tests.services import require

pytestmark = pytest.mark.django_db(transaction=True)
TRIALS = int(os.environ.get("CONCURRENCY_TRIALS", "6"))
ZERO = Decimal("0")


def line(amount: str, rate: str = "10") -> LineInput:
    return LineInput("Service", Decimal("1"), Decimal(amount), Decimal(rate))


@dataclass
class Books:
    """One customer's money at the start of a trial: 50.00 of credit from a top-up, an older invoice with a
    payment on it, and a newer invoice nothing has been applied to."""

    customer: Customer
    top_up: Payment  # 50.00, all of it credit
    older: Invoice  # 110.00, 30.00 paid by `paid`: 80.00 due
    paid: Payment
    newer: Invoice  # 55.00 due, nothing applied: it can be voided

    @classmethod
    def open(cls, whitelabel, n: int) -> "Books":
        customer = create_customer(whitelabel=whitelabel, account_number=f"C-{n:05d}", name=f"Customer {n}")
        top_up = add_credit(customer, "50.00")
        older = issue_invoice(customer, [line("100.00")], apply_credit=False)
        paid = record_payment(customer, "30.00", invoice=older)
        newer = issue_invoice(customer, [line("50.00")], apply_credit=False)
        return cls(customer, top_up, older, paid, newer)


# Every money operation of payments.services, as support or billing would call it on these books.
OPERATIONS = {
    "pay the newer invoice": lambda b: record_payment(b.customer, "55.00", invoice=b.newer),
    "pay the oldest invoices": lambda b: record_payment(b.customer, "100.00"),
    "top up": lambda b: add_credit(b.customer, "10.00"),
    "apply credit": lambda b: apply_credit_to_invoice(b.newer),
    "invoice paid from credit": lambda b: issue_invoice(b.customer, [line("40.00", "0")]),
    "credit note": lambda b: issue_credit_note(invoice=b.newer, amount="22.00", reason="Goodwill"),
    "refund all credit": lambda b: refund_credit(customer=b.customer, amount="50.00"),
    "reverse the payment": lambda b: reverse_payment(payment=b.paid, reason="Chargeback"),
    "reverse the top-up": lambda b: reverse_payment(payment=b.top_up, reason="Bounced"),
    "void the newer invoice": lambda b: void_invoice(b.newer),
    "change the customer": lambda b: update_customer(customer=b.customer, name="Renamed", email="new@example.com"),
}
PAIRS = list(itertools.combinations_with_replacement(OPERATIONS, 2))


def race(*calls) -> list[tuple[str, str]]:
    """Run the calls at the same moment, each in its own thread with its own database connection; returns
    each one's outcome: ("done", ""), ("refused", the BillingError's message) or ("error", what escaped)."""
    barrier = threading.Barrier(len(calls))
    outcomes: list = [("error", "did not run")] * len(calls)

    def run(index: int, call) -> None:
        try:
            barrier.wait(timeout=30)
            call()
            outcomes[index] = ("done", "")
        except BillingError as refused:
            outcomes[index] = ("refused", str(refused))
        except Exception as exc:  # noqa: BLE001 - reported as the trial's failure
            outcomes[index] = ("error", f"{type(exc).__name__}: {exc}")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a thread is stuck: a lock that is never released"
    return outcomes


def _sum(query, field: str = "amount") -> Decimal:
    return query.aggregate(t=Sum(field))["t"] or ZERO


def broken_invariants(customer: Customer) -> list[str]:
    """What is wrong with the customer's books (nothing, if they hold together)."""
    wrong = []
    credit = customer_credit(customer)
    if credit < 0:
        wrong.append(f"credit is {credit}")
    for payment in Payment.objects.filter(customer=customer):
        live = payment.allocations.filter(reversed_at=None)
        if payment.unallocated < 0:
            wrong.append(f"payment {payment.pk} ({payment.amount}) has spent {payment.amount - payment.unallocated}")
        if payment.reversed_at and (live.exists() or payment.refund_parts.exists()):
            wrong.append(f"reversed payment {payment.pk} still pays invoices or was refunded")
    for note in CreditNote.objects.filter(customer=customer):
        if note.unallocated < 0:
            wrong.append(f"credit note {note.number} ({note.total}) has spent {note.total - note.unallocated}")
    for invoice in Invoice.objects.filter(customer=customer):
        applied = _sum(Allocation.objects.filter(invoice=invoice, reversed_at=None)) + _sum(
            CreditNoteAllocation.objects.filter(invoice=invoice)
        )
        credited = _sum(CreditNote.objects.filter(invoice=invoice), "total")
        if invoice.amount_paid != applied:
            wrong.append(f"{invoice.number} says {invoice.amount_paid} paid, {applied} is applied to it")
        if not ZERO <= invoice.amount_paid <= invoice.total:
            wrong.append(f"{invoice.number} is paid {invoice.amount_paid} of {invoice.total}")
        if credited > invoice.total:
            wrong.append(f"{invoice.number} is credited {credited} of {invoice.total}")
        if invoice.status == Invoice.Status.VOID and applied:
            wrong.append(f"{invoice.number} is void with {applied} applied")
        if invoice.status == Invoice.Status.PAID and invoice.amount_paid != invoice.total:
            wrong.append(f"{invoice.number} is marked paid with {invoice.amount_due} due")
        if invoice.status == Invoice.Status.ISSUED and invoice.amount_paid == invoice.total:
            wrong.append(f"{invoice.number} has nothing due but is not marked paid")
    for refund in Refund.objects.filter(customer=customer):
        parts = _sum(RefundPart.objects.filter(refund=refund))
        if parts != refund.amount:
            wrong.append(f"refund {refund.number} of {refund.amount} pays back {parts}")
    return wrong


@pytest.fixture
def postgresql():
    require(connection.vendor == "postgresql", "concurrency needs PostgreSQL's row locks (SQLite serialises writes)")


@pytest.mark.parametrize("first", OPERATIONS)
def test_two_money_operations_at_once_leave_the_books_whole(postgresql, first):
    """`first` against every operation (each pair once across the parametrisation), TRIALS times each."""
    whitelabel, wrong, n = WhitelabelFactory(), [], 0
    for second in [b for a, b in PAIRS if a == first]:
        for trial in range(TRIALS):
            n += 1
            books = Books.open(whitelabel, n)
            outcomes = race(partial(OPERATIONS[first], books), partial(OPERATIONS[second], books))
            errors = [message for outcome, message in outcomes if outcome == "error"]
            broken = broken_invariants(books.customer)
            if errors or broken:
                wrong.append(f"{first!r} and {second!r} at once, trial {trial}: {errors or broken} ({outcomes})")
    assert not wrong, "\n".join(wrong)


# The pairs that spend the same credit or touch the same invoice, for the run against Xero (each pair's
# Xero calls count against the organisation's 60 a minute).
RACED_WITH_XERO = [
    ("refund all credit", "refund all credit"),
    ("apply credit", "refund all credit"),
    ("invoice paid from credit", "refund all credit"),
    ("apply credit", "invoice paid from credit"),
    ("reverse the top-up", "refund all credit"),
    ("credit note", "refund all credit"),
    ("pay the newer invoice", "void the newer invoice"),
    ("pay the newer invoice", "pay the newer invoice"),
    ("pay the oldest invoices", "reverse the payment"),
]


@pytest.mark.integration
def test_after_racing_money_xero_books_equal_arenas(postgresql, xero, sync_worker):
    whitelabel = connected(xero)
    for n, (first, second) in enumerate(RACED_WITH_XERO):
        books = Books.open(whitelabel, n)
        outcomes = race(partial(OPERATIONS[first], books), partial(OPERATIONS[second], books))
        assert not [m for outcome, m in outcomes if outcome == "error"], (first, second, outcomes)
        assert not broken_invariants(books.customer), (first, second, outcomes)
    # Two customers of one whitelabel at once share its number counters and its outbox: no deadlock.
    one, other = Books.open(whitelabel, 100), Books.open(whitelabel, 101)
    outcomes = race(
        partial(refund_credit, customer=one.customer, amount="50.00"),
        partial(record_payment, other.customer, "80.00", invoice=other.older),
        partial(issue_invoice, one.customer, [line("10.00")], apply_credit=False),
        partial(void_invoice, other.newer),
    )
    assert [outcome for outcome, _ in outcomes] == ["done"] * 4, outcomes

    wait_for_books(xero, whitelabel, timeout=180).assert_same()
    assert_no_drift(whitelabel)
    assert not xero_calls(xero, status=400), "Xero refused nothing Arena sent"
