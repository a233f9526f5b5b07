"""What `make run` starts (bin/run-local and its Procfile), driven as a new user would over HTTP: log in,
save Xero settings, consent on the sandbox's page for Organisation 1, come back connected, and see the
demo billing reach the sandbox after asking for it. And: SIGTERM or SIGINT, to the script or to `make`,
stops every process it started within seconds, cleanly (no SIGKILL, no error from make), and nothing it
started outlives it, even when the process manager itself is killed; its logs are one line per event, in UTC."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.pytest_env import TEST_ENVIRONMENT
from tests.xero import wait_until

from .walk import answers, connect_organisation_1, free_port, log_in, sandbox_books, send_unsent

ROOT = Path(__file__).resolve().parents[2]
# The services and the tests' own values: `make run` brings its own (bin/local.env).
SERVICES = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_BROKER_FOLDER", *TEST_ENVIRONMENT)
OUTER_MAKE = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")  # `make test` runs us: `make run` must not see its flags
UTC_LINE = re.compile(r"^\w+ +\| \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00 [A-Z]+ \S+ ")
WORKER_READY = re.compile(r"INFO celery\.apps\.worker \S+ ready\.")
STOPS_WITHIN = 10  # seconds from the signal until no process is left (the worker's warm shutdown takes about 3)


def descendants(pid: int) -> set[int]:
    """Every process below `pid` (from /proc), to check none is left behind."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class RunningApp:
    def __init__(self, process, app, sandbox, out):
        self.process, self.app, self.sandbox, self.out = process, app, sandbox, out
        self.started = descendants(process.pid)

    @property
    def printed(self) -> str:
        return self.out.read_text()

    def stop(self, sig: int, *, target: int | None = None) -> float:
        """Send `sig` to `target` (default: the process we started), check every process it started stopped
        within STOPS_WITHIN seconds, and return how long that took."""
        sent = time.monotonic()
        os.kill(target or self.process.pid, sig)
        wait_until(
            lambda: not any(alive(pid) for pid in self.started), timeout=STOPS_WITHIN, message="every process to stop"
        )
        took = time.monotonic() - sent
        self.process.wait(STOPS_WITHIN)
        assert not answers(self.app + "/accounts/login/") and not answers(self.sandbox)
        return took

    def pids_of(self, command_part: str) -> list[int]:
        """The processes we started whose command line contains `command_part` (the worker's beat is a copy)."""
        pids = [pid for pid in {self.process.pid, *self.started} if command_part in _command_line(pid)]
        assert pids, f"no process runs {command_part}"
        return pids


def start(tmp_path, command: list[str]) -> RunningApp:
    port, sandbox_port = free_port(), free_port()
    env = {  # the embedded defaults: none of the tests' services, values or sandbox set-up
        k: v for k, v in os.environ.items() if k not in SERVICES + OUTER_MAKE and not k.startswith("XERO_SANDBOX_")
    }
    env.update(PORT=str(port), SANDBOX_PORT=str(sandbox_port), PY=sys.executable, ARENA_VAR_DIR=str(tmp_path))
    out = tmp_path / "run.out"
    with open(out, "w") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    app, sandbox = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{sandbox_port}"
    try:
        wait_until(
            lambda: (
                process.poll() is not None
                or (answers(app + "/accounts/login/") and answers(sandbox) and WORKER_READY.search(out.read_text()))
            ),
            timeout=90,
            message="make run's web server, worker and sandbox",
        )
        assert process.poll() is None, out.read_text()[-3000:]
    except BaseException:
        os.killpg(process.pid, signal.SIGKILL)
        raise
    return RunningApp(process, app, sandbox, out)


@pytest.fixture
def running_app(tmp_path):
    running = start(tmp_path, ["bash", "bin/run-local"])
    yield running
    if running.process.poll() is None:
        os.killpg(running.process.pid, signal.SIGKILL)


def test_new_user_connects_organisation_1_and_demo_billing_reaches_it(running_app):
    app, sandbox, printed = running_app.app, running_app.sandbox, running_app.printed
    assert "Log in as admin / arena-demo" in printed and f"Arena:        {app}/" in printed
    browser = requests.Session()
    settings_page = log_in(browser, app, "admin", "arena-demo")
    assert "<h1>Accounting System Settings</h1>" in settings_page.text
    consent, saved = connect_organisation_1(browser, settings_page, sandbox)
    for text in ("wants access to", "Organisation 1", "Allow access", "Cancel"):
        assert text in consent.text
    sent = send_unsent(browser, saved)
    assert re.fullmatch(r"\d+ records will be sent to Xero: the card below shows them arrive\.", sent)

    def demo_invoices_in_organisation_1():
        books = sandbox_books(sandbox)
        numbers = sorted(i["InvoiceNumber"] for i in books["Organisation 1"]["invoices"])
        return numbers == ["INV-000001", "INV-000002", "INV-000003"] and not books["Organisation 2"]["invoices"]

    wait_until(demo_invoices_in_organisation_1, timeout=60, message="the demo invoices in Organisation 1")
    assert "INV-000002" in requests.get(sandbox + "/", timeout=5).text

    # An accountant voids an unpaid invoice on the sandbox's page: its signed webhook gets the record flagged.
    books = sandbox_books(sandbox)
    unpaid = next(
        i for i in books["Organisation 1"]["invoices"] if i["AmountPaid"] == 0 and i["Status"] == "AUTHORISED"
    )
    voided = requests.post(
        sandbox + "/edits",
        data={
            "tenant_id": books["Organisation 1"]["tenant_id"],
            "action": "void_invoice",
            "invoice": unpaid["InvoiceID"],
        },
        timeout=10,
    )
    assert voided.status_code == 200
    wait_until(
        lambda: "Changed in Xero: <strong>1</strong>" in browser.get(saved.url + "xero/sync/").text,
        timeout=60,
        message="the sync card to show the invoice voided in Xero",
    )
    assert browser.get(app + "/no/such/page/").status_code == 404

    running_app.stop(signal.SIGTERM)
    lines = [line for line in running_app.printed.splitlines() if UTC_LINE.match(line)]
    assert any(" INFO django.server " in line for line in lines), "runserver's access lines in the one format"
    assert any(" WARNING django.request Not Found: /no/such/page/" in line for line in lines)
    assert sum("Not Found: /no/such/page/" in line for line in running_app.printed.splitlines()) == 1
    assert any(" INFO xero_sandbox.http GET " in line for line in lines), "the sandbox's too"
    assert any(" INFO celery.apps.worker " in line for line in lines), "and the worker's"
    assert "Traceback" not in running_app.printed
    assert "No hostname was supplied" not in running_app.printed
    assert (Path(running_app.out.parent) / "log" / "run.log").read_text().count("Not Found: /no/such/page/") == 1


@pytest.mark.parametrize(
    "command, sig",
    [(["bash", "bin/run-local"], signal.SIGINT), (["make", "--no-print-directory", "run"], signal.SIGTERM)],
    ids=["SIGINT-to-run-local", "SIGTERM-to-make"],
)
def test_a_signal_stops_every_process_make_run_started_cleanly(tmp_path, command, sig):
    running = start(tmp_path, command)
    try:
        assert len(running.started) >= 4, "the process manager, the sandbox, the worker and the web server"
        running.stop(sig)
    finally:
        if running.process.poll() is None:
            os.killpg(running.process.pid, signal.SIGKILL)
    printed = running.printed
    assert "worker stopped (rc=0)" in printed, "the worker's warm shutdown finished"
    assert "SIGKILL" not in printed and "every process stopped" in printed
    assert "make: ***" not in printed, "make's recipe ended well: no Error 143"
    # GNU make, given the signal itself, waits for its recipe and then ends by that same signal, whatever the
    # recipe's status: a shell shows no error for it. bin/run-local exits 0.
    assert running.process.returncode == (-sig if command[0] == "make" else 0)


def test_make_run_exits_0_within_seconds_when_what_it_runs_gets_sigterm(tmp_path):
    """As a supervisor or `kill` stops the app: SIGTERM to the process `make run` runs (bin/run-local, which is
    bin/run-procfile once it has started the processes): everything stops within 10 s and `make` exits 0."""
    running = start(tmp_path, ["make", "--no-print-directory", "run"])
    try:
        (manager,) = running.pids_of("bin/run-procfile")
        took = running.stop(signal.SIGTERM, target=manager)
    finally:
        if running.process.poll() is None:
            os.killpg(running.process.pid, signal.SIGKILL)
    assert running.process.returncode == 0, running.printed[-2000:]
    assert took < STOPS_WITHIN and "SIGKILL" not in running.printed


def test_nothing_outlives_the_process_manager_even_when_it_is_killed(tmp_path):
    """A terminal closing or a CI timeout can SIGKILL the process manager, even while it is stopping the others
    (issue 19: the worker with beat ran on for 27 minutes). Each process it started is told to stop when it dies."""
    running = start(tmp_path, ["bash", "bin/run-local"])
    try:
        (manager,) = running.pids_of("bin/run-procfile")
        workers = running.pids_of("celery")
        os.kill(manager, signal.SIGKILL)
        wait_until(
            lambda: not any(alive(pid) for pid in running.started),
            timeout=STOPS_WITHIN,
            message="every process the killed manager started to stop",
        )
        assert not any(alive(pid) for pid in workers)
        assert not answers(running.app + "/accounts/login/") and not answers(running.sandbox)
    finally:
        for pid in running.started:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        if running.process.poll() is None:
            os.killpg(running.process.pid, signal.SIGKILL)
