"""`manage.py resync_xero`, as ops use it: which records it picks (whitelabel, kind, status, dates), a dry run
that changes nothing, queueing for the worker, and --wait, which sends in this process against the sandbox
over HTTP: a backfill, a re-check of sent records that re-sends only what Xero lacks, second runs that
create nothing new, exit codes, and its output on a terminal and off one."""

import datetime
import io
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command, execute_from_command_line
from django.utils import timezone

from accounting.management.commands.resync_xero import Command
from accounting.models import SyncRecord, SyncState, XeroConnection
from accounting.sync import engine, runner
from payments.models import Allocation
from payments.services import LineInput, issue_invoice, record_payment
from tests.books import compare_books, xero_calls
from tests.factories import AccountingSettingsFactory, CustomerFactory, WhitelabelFactory
from tests.xero import book, connect, save_settings

pytestmark = pytest.mark.django_db
Kind, Status = SyncRecord.Kind, SyncRecord.Status
PLAN = LineInput("Plan", Decimal("1"), Decimal("100.00"), Decimal("10"))


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def resync(*args, stderr=None) -> str:
    out = io.StringIO()
    call_command("resync_xero", *args, stdout=out, stderr=stderr or io.StringIO())
    return out.getvalue()


def resync_fails(*args) -> tuple[CommandError, str]:
    out = io.StringIO()
    with pytest.raises(CommandError) as error:
        call_command("resync_xero", *args, stdout=out, stderr=io.StringIO())
    return error.value, out.getvalue()


def connect_row(whitelabel, status=XeroConnection.Status.ACTIVE, reason=""):
    return XeroConnection.objects.create(
        whitelabel=whitelabel,
        tenant_id=f"tenant-{whitelabel.pk}",
        tenant_name="Org",
        connection_id="c",
        status=status,
        status_reason=reason,
        connected_at=timezone.now(),
    )


def statuses(whitelabel) -> dict[str, str]:
    return dict(SyncRecord.objects.filter(whitelabel=whitelabel).values_list("label", "status"))


@pytest.fixture
def billed_before_connecting(whitelabel):
    """Xero chosen, not connected yet: a customer, an invoice and its payment, all skipped."""
    AccountingSettingsFactory(whitelabel=whitelabel)
    customer = CustomerFactory(whitelabel=whitelabel, account_number="C-1001")
    invoice = issue_invoice(customer, [PLAN])
    record_payment(customer, invoice.total, invoice=invoice)
    assert set(statuses(whitelabel).values()) == {Status.SKIPPED}
    return invoice


# Arguments and errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--whitelabel", "nope"], "No whitelabel with slug 'nope'."),
        (["--since", "2026-13-01"], "--since '2026-13-01' is not a date: use YYYY-MM-DD"),
        (["--until", "yesterday"], "--until 'yesterday' is not a date"),
        (["--since", "2026-05-02", "--until", "2026-05-01"], "--since 2026-05-02 is after --until 2026-05-01."),
        *[
            (["--wait", "--timeout", value], f"--timeout must be a number of seconds above 0 and at most 604800 (a "
             f"week), e.g. 900; not '{value}'.")
            for value in ("0", "-1", "nan", "NaN", "inf", "1e400", "604801", "ten", "")
        ],
        (["--timeout", "60"], "--timeout is how long --wait waits: give --wait too"),
        (["--dry-run", "--wait"], "--dry-run changes nothing and --wait sends: choose one."),
        (["--since", "2999-01-01"], "--since 2999-01-01 is after today"),
    ],
)
def test_bad_arguments_exit_2_with_a_clear_message(whitelabel, args, message):
    error, _ = resync_fails(*args)
    assert error.returncode == 2 and message in str(error)


@pytest.mark.parametrize(
    "argv",
    [
        ["resync_xero", "--wait", "--timeout", "nan"],
        ["resync_xero", "--kind", "bills"],
        ["resync_xero", "--since", "2026-02-30"],
        ["xero_reconcile", "--since", "2999-01-01"],
        ["xero_reconcile", "--format", "xml"],
    ],
)
def test_from_the_command_line_a_bad_argument_exits_2_with_a_message_and_no_traceback(db, capsys, argv):
    with pytest.raises(SystemExit) as exit_:
        execute_from_command_line(["manage.py", *argv])
    err = capsys.readouterr().err
    assert exit_.value.code == 2, err
    assert "Traceback" not in err and err.strip(), "a message, not a traceback"


def test_dates_far_in_the_past_or_future_are_read_as_everything_or_up_to_now(billed_before_connecting, whitelabel):
    connect_row(whitelabel)
    out = resync("--whitelabel", "acme", "--since", "0001-01-01", "--until", "9999-12-31", "--dry-run")
    assert "acme: would queue 3 record(s)." in out, "the contact, the invoice and its payment"


def test_an_unknown_kind_or_status_exits_2_from_the_command_line():
    command = Command()
    command._called_from_command_line = True
    parser = command.create_parser("manage.py", "resync_xero")
    for args in (["--kind", "bills"], ["--status", "pending"]):
        with pytest.raises(SystemExit) as exit_:
            parser.parse_args(args)
        assert exit_.value.code == 2


def test_a_named_whitelabel_that_cant_be_synced_is_an_error_saying_what_to_do(whitelabel):
    error, _ = resync_fails("--whitelabel", "acme")
    assert error.returncode == 1 and "acme has no accounting system" in str(error)
    AccountingSettingsFactory(whitelabel=whitelabel)
    assert "acme is not connected to Xero" in str(resync_fails("--whitelabel", "acme")[0])
    connect_row(whitelabel, XeroConnection.Status.NEEDS_RECONNECT, "Xero revoked the connection.")
    error, _ = resync_fails("--whitelabel", "acme")
    assert "acme needs reconnecting to Xero (Xero revoked the connection). An admin must press Reconnect" in str(error)


# Picking records, dry run, queueing ---------------------------------------------------------------------


def test_dry_run_lists_what_it_would_do_and_changes_nothing(billed_before_connecting, whitelabel):
    connect_row(whitelabel)
    before = list(SyncRecord.objects.values())
    out = resync("--whitelabel", "acme", "--dry-run")
    assert list(SyncRecord.objects.values()) == before
    assert "Dry run: nothing is changed." in out and "acme: would queue 3 record(s)." in out
    assert "  Invoice INV-000001 (skipped: The whitelabel is not connected to Xero" in out
    assert "; would send it again)" in out
    assert "Would queue" in out and "Sent (re-check)" in out


def test_without_wait_it_queues_for_the_worker_and_exits_0(billed_before_connecting, whitelabel):
    connect_row(whitelabel)
    out = resync("--whitelabel", "acme")
    assert "acme: 3 of 3 record(s) queued for Xero." in out and "run again with --wait" in out
    assert set(statuses(whitelabel).values()) == {Status.PENDING}
    assert "acme: 0 of 0 record(s) queued" in resync("--whitelabel", "acme"), "a second run finds nothing to do"


def test_kind_status_and_dates_pick_the_records(billed_before_connecting, whitelabel):
    connect_row(whitelabel)
    invoice = billed_before_connecting
    payment = SyncRecord.objects.get(kind=Kind.PAYMENT)
    SyncRecord.objects.filter(pk=payment.pk).update(created_at=timezone.now() - datetime.timedelta(days=30))
    SyncRecord.objects.filter(kind=Kind.CONTACT).update(status=Status.FAILED, reason="Xero did not answer.")
    assert "would queue 1 record(s)" in resync("--whitelabel", "acme", "--kind", "invoices", "--dry-run")
    assert "would queue 1 record(s)" in resync("--whitelabel", "acme", "--status", "failed", "--dry-run")
    month_ago = (timezone.localdate() - datetime.timedelta(days=30)).isoformat()
    out = resync("--whitelabel", "acme", "--until", month_ago, "--dry-run", "-v", "2")
    assert "would queue 1 record(s)" in out and payment.label in out
    out = resync("--whitelabel", "acme", "--since", timezone.localdate().isoformat(), "--kind", "invoices")
    assert statuses(whitelabel)[invoice.number] == Status.PENDING
    assert statuses(whitelabel)[payment.label] == Status.SKIPPED and statuses(whitelabel)["C-1001"] == Status.FAILED


def test_by_default_every_connected_whitelabel_and_those_needing_reconnect_exit_1(billed_before_connecting, whitelabel):
    connect_row(whitelabel)
    other = WhitelabelFactory(slug="other")
    AccountingSettingsFactory(whitelabel=other)
    connect_row(other, XeroConnection.Status.NEEDS_RECONNECT)
    WhitelabelFactory(slug="never-connected")
    error, out = resync_fails()
    assert error.returncode == 1 and "can't be synced" in str(error)
    assert "acme: 3 of 3 record(s) queued" in out and "other:" not in out and "never-connected" not in out


# --wait, against the sandbox ---------------------------------------------------------------------------------


@pytest.fixture
def connected(admin_client, billed_before_connecting, whitelabel, xero):
    """acme, with history billed before it connected to Organisation 1."""
    connect(admin_client, whitelabel, xero)
    assert save_settings(admin_client, whitelabel, **{"accounting-bank_account_code": "090"}).status_code == 302
    return whitelabel


def xero_writes(xero) -> int:
    return len([c for c in xero_calls(xero) if c["method"] in ("PUT", "POST")])


def test_backfill_with_wait_sends_the_history_and_a_second_run_creates_nothing(connected, xero):
    out = resync("--whitelabel", "acme", "--wait")
    assert set(statuses(connected).values()) == {Status.SENT}
    compare_books(xero, connected).assert_same()
    assert "Already in Xero" in out and "acme: 3/3 settled (sent 3" in out, out
    writes = xero_writes(xero)
    out = resync("--whitelabel", "acme", "--wait")
    assert "acme: 0 of 0 record(s) queued" in out
    assert xero_writes(xero) == writes, "nothing new in Xero"


def test_rechecking_sent_payments_re_sends_only_the_one_deleted_in_xero(connected, xero):
    resync("--whitelabel", "acme", "--wait")
    customer = connected.customers.get()
    second = issue_invoice(customer, [PLAN])
    record_payment(customer, second.total, invoice=second)
    engine.run_organisation(connected.pk, hold_partial=False)  # as the worker would: this payment goes alone
    org = book(xero, connected)
    assert len(org.payments()) == 2
    deleted = SyncRecord.objects.get(kind=Kind.PAYMENT, object_id=Allocation.objects.get(invoice=second).pk)
    xero.delete_payment(deleted.xero_id)

    out = resync("--whitelabel", "acme", "--status", "sent", "--kind", "payments", "--wait")
    payments = [p for p in book(xero, connected).payments() if p["Status"] != "DELETED"]
    assert len(payments) == 2, "the deleted one is back, the other one was found"
    assert {p["Reference"] for p in payments} == {
        f"{a.payment.receipt.number} {a.invoice.number}" for a in Allocation.objects.all()
    }
    deleted.refresh_from_db()
    assert deleted.status == Status.SENT and deleted.xero_id not in {p["PaymentID"] for p in org.payments()}
    row = next(line for line in out.splitlines() if line.startswith("acme ") and "acme:" not in line)
    assert row.split()[1:] == ["2", "1", "1", "0", "0", "0"], out  # queued, already in Xero, sent, failed...
    compare_books(xero, connected).assert_same()

    writes = xero_writes(xero)
    out = resync("--whitelabel", "acme", "--status", "sent", "--wait")
    assert xero_writes(xero) == writes + 1, "a second re-check of everything only upserts the contact"
    assert len(book(xero, connected).payments()) == 3 and len(book(xero, connected).invoices()) == 2
    compare_books(xero, connected).assert_same()


def test_what_xero_refuses_fails_with_its_reason_and_exit_1(connected, xero):
    xero.add_fault(
        method="PUT",
        path="/api.xro/2.0/Invoices",
        mode="status",
        status=400,
        count=None,
        body={
            "ErrorNumber": 10,
            "Type": "ValidationException",
            "Message": "A validation exception occurred",
            "Elements": [
                {"ValidationErrors": [{"Message": "Account code '200' is not a valid code for this document."}]}
            ],
        },
    )
    error, out = resync_fails("--whitelabel", "acme", "--wait")
    assert error.returncode == 1 and "Not everything asked for is in Xero" in str(error)
    assert "acme: 1 failed: Xero refused it: Account code '200' is not a valid code for this document." in out
    assert "acme: 1 failed: Waiting for invoice INV-000001, which failed: Xero refused it" in out
    row = next(line for line in out.splitlines() if line.startswith("acme ") and "acme:" not in line)
    assert row.split()[1:] == ["3", "0", "1", "2", "0", "0"], out  # the contact went


def test_progress_is_a_bar_on_a_terminal(connected, xero):
    terminal = Terminal()
    resync("--whitelabel", "acme", "--wait", stderr=terminal)
    assert "Sending to Xero" in terminal.getvalue() and "3/3" in terminal.getvalue()


def test_wait_stops_when_xeros_limits_pause_the_organisation_and_exits_1(connected, xero):
    SyncState.objects.get_or_create(whitelabel=connected)
    runner.pause(connected.pk, until=timezone.now() + datetime.timedelta(hours=1), reason="Xero's daily limit.")
    error, out = resync_fails("--whitelabel", "acme", "--wait")
    assert error.returncode == 1
    assert "acme: paused by Xero's limits until" in out and "the worker sends the rest then." in out
    row = next(line for line in out.splitlines() if line.startswith("acme ") and "acme:" not in line)
    assert row.split()[1:] == ["3", "0", "0", "0", "0", "3"], out
    assert not xero_calls(xero, method="PUT"), "nothing sent while paused"


def test_several_whitelabels_are_named_with_repeated_options(billed_before_connecting, whitelabel):
    connect_row(whitelabel)
    other = WhitelabelFactory(slug="other")
    AccountingSettingsFactory(whitelabel=other)
    connect_row(other)
    issue_invoice(CustomerFactory(whitelabel=other), [PLAN])
    out = resync("--whitelabel", "acme", "--whitelabel", "other", "--kind", "contacts", "--kind", "invoices")
    assert "acme: 2 of 2 record(s) queued" in out and "other: 0 of 0 record(s) queued" in out
