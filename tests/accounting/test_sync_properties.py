"""A property of the sync engine: whatever billing happens, in whatever order, with syncs in between and
answers lost on the way, once the outbox settles Xero's books equal Arena's.

Hypothesis generates sequences of billing events for a few customers (invoices with and without GST,
usage invoices with unit prices of four decimal places, part-, exact- and over-payments, payments with no
invoice, top-ups, credit applied by later invoices and to open ones, voids, credit notes, refunds of credit,
reversed payments, customers' names, emails, phones and addresses changed, a person paying or crediting an
invoice in Xero and Arena reading it then or later), sync runs at random points, and faults (answers dropped
after Xero saved, 502s after commit).
The engine runs in this process against the sandbox, so each example is exactly reproducible.
"""

import os
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from accounting import imports
from accounting.models import SyncRecord, XeroConnection
from accounting.sync import engine
from accounting.xero import limits
from payments.models import Invoice, Membership, Payment
from payments.selectors import customer_credit
from payments.services import (
    BillingError,
    LineInput,
    add_credit,
    apply_credit_to_invoice,
    issue_credit_note,
    issue_invoice,
    record_payment,
    refund_credit,
    reverse_payment,
    update_customer,
    void_invoice,
)
from tests.books import assert_no_drift, compare_books
from tests.factories import CustomerFactory, MembershipFactory, WhitelabelFactory
from tests.xero import connect, save_settings
from xero_sandbox.testing import EditRefused

pytestmark = pytest.mark.django_db
CUSTOMERS = 3
CENT = Decimal("0.01")
API = "/api.xro/2.0"
WRITES = [
    ("POST", f"{API}/Contacts"),
    ("PUT", f"{API}/Invoices"),
    ("PUT", f"{API}/Payments"),
    ("PUT", f"{API}/BankTransactions"),
    ("PUT", f"{API}/Overpayments/*"),
    ("POST", f"{API}/Invoices"),
    ("PUT", f"{API}/CreditNotes"),
    ("PUT", f"{API}/CreditNotes/*"),
    ("POST", f"{API}/Payments/*"),
    ("POST", f"{API}/BankTransactions/*"),
]

cents = st.integers(min_value=1, max_value=50_000).map(lambda c: Decimal(c) / 100)
who = st.integers(min_value=0, max_value=CUSTOMERS - 1)
events = st.one_of(
    st.tuples(st.just("invoice"), who, cents, st.booleans(), st.booleans()),
    st.tuples(st.just("pay"), who, st.integers(0, 5), st.sampled_from(["part", "exact", "over", "none"]), cents),
    st.tuples(st.just("top_up"), who, cents),
    st.tuples(st.just("void"), who, st.integers(0, 5)),
    st.tuples(st.just("credit_note"), who, st.integers(0, 5), cents),
    st.tuples(st.just("refund"), who, cents),
    st.tuples(st.just("reverse"), who, st.integers(0, 5)),
    st.tuples(st.just("apply_credit"), who, st.integers(0, 5)),
    st.tuples(st.just("usage"), who, st.integers(100, 5000), st.integers(50, 99_999)),
    st.tuples(st.just("change"), who, st.sampled_from(["name", "email", "phone", "address"]), st.integers(0, 99)),
    st.tuples(st.just("xero_pay"), who, st.integers(0, 5), st.sampled_from(["part", "exact"]), st.booleans()),
    st.tuples(st.just("xero_credit_note"), who, st.integers(0, 5), cents, st.booleans()),
    st.tuples(st.just("sync")),
    st.tuples(st.just("fault"), st.sampled_from(WRITES), st.sampled_from(["drop_response", "status_after"])),
)


def open_invoices(customer) -> list[Invoice]:
    return list(Invoice.objects.filter(customer=customer, status=Invoice.Status.ISSUED).order_by("id"))


def _sent_invoices() -> dict[int, str]:
    """Arena's invoices in Xero: Arena's id -> Xero's."""
    records = SyncRecord.objects.filter(kind=SyncRecord.Kind.INVOICE, status=SyncRecord.Status.SENT)
    return dict(records.values_list("object_id", "xero_id"))


def apply(event, customers, xero) -> None:
    kind, *args = event
    if kind == "invoice":
        index, amount, taxed, use_credit = args
        rate = Decimal("10") if taxed else Decimal("0")
        issue_invoice(customers[index], [LineInput("Service", Decimal("1"), amount, rate)], apply_credit=use_credit)
    elif kind == "pay":
        index, pick, how, extra = args
        invoices = open_invoices(customers[index])
        if how == "none" or not invoices:
            record_payment(customers[index], extra)  # pays the oldest open invoices; the rest is credit
            return
        invoice = invoices[pick % len(invoices)]
        due = invoice.amount_due
        amount = {"part": max((due / 2).quantize(Decimal("0.01")), Decimal("0.01")), "exact": due}.get(how, due + extra)
        record_payment(customers[index], amount, invoice=invoice)
    elif kind == "top_up":
        index, amount = args
        add_credit(customers[index], amount)
    elif kind == "void":
        index, pick = args
        unpaid = [i for i in open_invoices(customers[index]) if not i.allocations.exists()]
        if unpaid:
            void_invoice(unpaid[pick % len(unpaid)])
    elif kind == "credit_note":
        index, pick, amount = args
        invoices = list(Invoice.objects.filter(customer=customers[index], status__in=["issued", "paid"]).order_by("id"))
        if invoices:
            invoice = invoices[pick % len(invoices)]
            room = invoice.total - sum((n.total for n in invoice.credit_notes.all()), Decimal("0"))
            if room > 0 and len({line.tax_rate for line in invoice.lines.all()}) == 1:
                issue_credit_note(invoice=invoice, amount=min(amount, room), reason="Property")
    elif kind == "refund":
        index, amount = args
        credit = customer_credit(customers[index])
        if credit > 0:
            refund_credit(customer=customers[index], amount=min(amount, credit))
    elif kind == "reverse":
        index, pick = args
        payments = list(Payment.objects.filter(customer=customers[index], reversed_at=None).order_by("id"))
        if payments:
            try:
                reverse_payment(payment=payments[pick % len(payments)], reason="Property")
            except BillingError as refused:
                assert "already used" in str(refused)  # refused, and (one transaction) nothing changed
    elif kind == "apply_credit":
        index, pick = args
        invoices = open_invoices(customers[index])
        if invoices:
            apply_credit_to_invoice(invoices[pick % len(invoices)])
    elif kind == "usage":
        index, minutes, ten_thousandths = args
        price = Decimal(ten_thousandths) / 10_000  # e.g. 0.0125 a minute
        issue_invoice(customers[index], [LineInput("Calls, per minute", Decimal(minutes), price, Decimal("10"))])
    elif kind == "change":
        index, field, n = args
        customer = customers[index]
        new = {
            "name": f"Renamed {customer.account_number} {n}",
            "email": f"{n}.{customer.account_number.lower()}@example.org",
            "phone": f"+61 400 000 {n:03d}",
            "address": f"{n} George St\nSydney NSW 2000",
        }
        update_customer(customer=customer, **{field: new[field]})
    elif kind == "xero_pay":  # a person pays an invoice Arena sent, in Xero; Arena reads it now or later
        index, pick, how, read_now = args
        sent = _sent_invoices()
        invoices = [i for i in open_invoices(customers[index]) if sent.get(i.pk)]
        if invoices:
            invoice = invoices[pick % len(invoices)]
            amount = invoice.amount_due if how == "exact" else max((invoice.amount_due / 2).quantize(CENT), CENT)
            try:
                xero.apply_payment(sent[invoice.pk], str(amount))
            except EditRefused:
                pass  # Xero is owed less than Arena thinks (a payment entered there not yet read): refused there
        if read_now:
            imports.payments_import(whitelabel=customers[0].whitelabel)
    elif kind == "xero_credit_note":  # a person credits an invoice Arena sent, in Xero; Arena reads it now or later
        index, pick, amount, read_now = args
        sent = _sent_invoices()
        invoices = [
            i
            for i in Invoice.objects.filter(customer=customers[index], status__in=["issued", "paid"]).order_by("id")
            if sent.get(i.pk)
        ]
        if invoices:
            invoice = invoices[pick % len(invoices)]
            room = invoice.total - sum((n.total for n in invoice.credit_notes.all()), Decimal("0"))
            if room > 0:
                try:
                    xero.enter_credit_note(sent[invoice.pk], str(min(amount, room)))
                except EditRefused:
                    pass  # Xero would not take it (the invoice is voided or credited in full there)
        if read_now:
            imports.payments_import(whitelabel=customers[0].whitelabel)
    elif kind == "sync":
        engine.run_organisation(customers[0].whitelabel_id, hold_partial=False)
    elif kind == "fault":
        (method, path), mode = args
        xero.add_fault(method=method, path=path, mode=mode, status=502, count=1)


def settle(whitelabel) -> None:
    """Run until nothing is left to send, bringing retries forward instead of waiting for them."""
    for _ in range(12):
        engine.run_organisation(whitelabel.pk, hold_partial=False)
        retrying = SyncRecord.objects.filter(whitelabel=whitelabel, status=SyncRecord.Status.FAILED).exclude(
            next_attempt_at=None
        )
        if (
            not retrying.exists()
            and not SyncRecord.objects.filter(whitelabel=whitelabel, status=SyncRecord.Status.PENDING).exists()
        ):
            return
        retrying.update(next_attempt_at=timezone.now())
    stuck = SyncRecord.objects.filter(whitelabel=whitelabel).exclude(status=SyncRecord.Status.SENT)
    raise AssertionError(f"the outbox did not settle: {[(r.kind, r.status, r.reason) for r in stuck]}")


class Examples:
    """A fresh whitelabel, connected to a reset sandbox, for each example."""

    def __init__(self, xero):
        self.xero, self.count = xero, 0

    def connected(self):
        self.count += 1
        XeroConnection.objects.update(status=XeroConnection.Status.DISCONNECTED)
        self.xero.reset(config=False)  # and Arena's limiter, like Xero's, starts a new minute
        limits.backend().reset()
        whitelabel = WhitelabelFactory(slug=f"property-{self.count}")
        client = Client()
        client.force_login(MembershipFactory(whitelabel=whitelabel, role=Membership.Role.ADMIN).user)
        connect(client, whitelabel, self.xero)
        assert save_settings(client, whitelabel, **{"accounting-bank_account_code": "090"}).status_code == 302
        return whitelabel


@pytest.fixture
def examples(xero):
    return Examples(xero)


@settings(
    max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", "25")),
    deadline=None,
    derandomize=bool(os.environ.get("CI")),
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sequence=st.lists(events, min_size=1, max_size=16))
@example(  # found by this test: reversing a payment whose credit Arena had found in Xero after a lost answer
    sequence=[
        ("pay", 1, 0, "part", Decimal("2.59")),
        ("fault", ("PUT", f"{API}/BankTransactions"), "drop_response"),
        ("sync",),
        ("fault", ("POST", f"{API}/BankTransactions/*"), "status_after"),
        ("reverse", 1, 1),
    ]
)
@example(  # a person pays in Xero: part read at once, the rest read at the end; Arena pays what is left
    sequence=[
        ("invoice", 0, Decimal("80.00"), True, False),
        ("sync",),
        ("xero_pay", 0, 0, "part", True),
        ("sync",),
        ("xero_pay", 0, 0, "part", False),
        ("pay", 1, 0, "none", Decimal("5.00")),
    ]
)
def test_after_any_billing_xero_books_equal_arenas(examples, sequence):
    whitelabel = examples.connected()
    customers = [CustomerFactory(whitelabel=whitelabel) for _ in range(CUSTOMERS)]
    for event in sequence:
        apply(event, customers, examples.xero)
    examples.xero.clear_faults()
    imports.payments_import(whitelabel=whitelabel)  # what people entered in Xero, if no read came since
    settle(whitelabel)
    compare_books(examples.xero, whitelabel).assert_same()
    assert_no_drift(whitelabel)
