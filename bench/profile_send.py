"""What one 50-record write costs the sync engine, split: the HTTP request to the sandbox (the sandbox's own
handling included: not engine time), the rate limiter (Redis), the database (its queries and commits) and the rest
(Python), in wall time and in this thread's CPU time (the machine is shared: CPU time says what the engine
itself spent). Run as a pytest module, so that it sets up the connected whitelabel and the in-process Xero
sandbox the way the tests do (tests/books.py `connected`, the `xero` fixture):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/eng REDIS_URL=redis://127.0.0.1:6379/11 CI=true \
        .venv/bin/python -m pytest -q -s -p no:cacheprovider bench/profile_send.py

(tests/pytest_env.py moves a test process to REDIS_URL's database plus one: database 12 here, for the cache and
the rate limiter; don't run it beside a test run on the same database, whose limiter it would reset.)

Each round bills `PROFILE_SIZE` (50) new customers, sends their contacts, then measures one run that sends their
invoices (one call) and one that sends their payments (one call); the first round (the organisation's settings
read and cached) is not counted. `PROFILE_ROUNDS` rounds (8); `PROFILE_CPROFILE=1` profiles the measured runs
in a second pass and prints the functions that cost most (`PROFILE_TOP`, 35 lines); `PROFILE_SQL=1` lists the
queries of one payments run with their times; `PROFILE_PARTS=module:function,...` adds up the time spent in each
(e.g. accounting.xero.client:_records); `PROFILE_HOLD_PARTIAL=1` measures runs as the worker's task makes them
(hold_partial=True; the tests' runs do not hold). The "bench" figure is
bench/worker_app.py's split: everything inside accounting.xero.client._call (the SDK's encoding and decoding
as well as the HTTP request and the limiter) is left out of the engine's time.
"""

import cProfile
import io
import os
import pstats
import statistics
import time
from contextlib import contextmanager
from decimal import Decimal

import pytest
import urllib3
from django.db import connection
from django.utils import timezone

from accounting.models import SyncRecord, SyncState
from accounting.sync import engine
from accounting.xero import client, limits
from payments.services import LineInput, issue_invoice, record_payment
from tests.books import connected
from tests.factories import CustomerFactory

PLAN = LineInput("NBN 100, monthly", Decimal("1"), Decimal("89.00"), Decimal("10"))
SIZE = int(os.environ.get("PROFILE_SIZE", "50"))
ROUNDS = int(os.environ.get("PROFILE_ROUNDS", "8"))
TOP = int(os.environ.get("PROFILE_TOP", "35"))
# As the worker's task runs it (part batches may wait; a full one goes at once), or as the tests do.
HOLD_PARTIAL = os.environ.get("PROFILE_HOLD_PARTIAL", "") == "1"


class Meter:
    """Wall and thread-CPU seconds spent inside each wrapped part while `on`."""

    def __init__(self):
        self.on = False
        self.reset()

    def reset(self):
        self.parts = {name: [0.0, 0.0] for name in ("http", "limiter", "db", "call")}
        self.queries = 0
        self.calls = 0
        self.sql = []

    @contextmanager
    def part(self, name):
        if not self.on:
            yield
            return
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            yield
        finally:
            self.parts[name][0] += time.perf_counter() - wall
            self.parts[name][1] += time.thread_time() - cpu


METER = Meter()


@pytest.fixture
def metered(monkeypatch):
    urlopen = urllib3.PoolManager.urlopen
    acquire, release, call = limits.acquire, limits.release, client._call

    def timed_urlopen(self, *args, **kwargs):
        with METER.part("http"):
            return urlopen(self, *args, **kwargs)

    def timed(name, fn):
        def wrapper(*args, **kwargs):
            with METER.part(name):
                return fn(*args, **kwargs)

        return wrapper

    def counted_call(*args, **kwargs):
        METER.calls += METER.on
        return timed("call", call)(*args, **kwargs)

    def query(execute, sql, params, many, context):
        METER.queries += METER.on
        began = time.perf_counter()
        try:
            with METER.part("db"):
                return execute(sql, params, many, context)
        finally:
            if METER.on:
                METER.sql.append((time.perf_counter() - began, sql))

    monkeypatch.setattr(urllib3.PoolManager, "urlopen", timed_urlopen)
    monkeypatch.setattr(limits, "acquire", timed("limiter", acquire))
    monkeypatch.setattr(limits, "release", timed("limiter", release))
    monkeypatch.setattr(client, "_call", counted_call)
    # A transaction's COMMIT does not pass through the execute wrappers: it is the database's time too.
    monkeypatch.setattr(connection, "_commit", timed("db", connection._commit))
    with connection.execute_wrapper(query):
        yield METER


def _parts(monkeypatch, names: str) -> dict:
    """Wrap each `module:function` of `names` (comma-separated) to add up its wall and CPU seconds while the meter
    is on (inclusive: a part inside another counts in both)."""
    import importlib

    spent = {}
    for name in filter(None, names.split(",")):
        module_name, path = name.split(":")
        *owners, attribute = path.split(".")
        module = importlib.import_module(module_name)
        for owner in owners:  # a method: module:Class.method
            module = getattr(module, owner)
        original = getattr(module, attribute)
        spent[name] = [0.0, 0.0]

        def wrapper(*args, _original=original, _name=name, **kwargs):
            if not METER.on:
                return _original(*args, **kwargs)
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return _original(*args, **kwargs)
            finally:
                spent[_name][0] += time.perf_counter() - wall
                spent[_name][1] += time.thread_time() - cpu

        monkeypatch.setattr(module, attribute, wrapper)
    return spent


def _ours(whitelabel):
    """Billing asks for no worker's run: this process runs it (as tests/accounting/test_engine_cost.py)."""
    SyncState.objects.filter(whitelabel=whitelabel).update(wake_at=timezone.now())


def _measured(whitelabel, profile):
    METER.reset()
    METER.on = True
    wall, cpu = time.perf_counter(), time.thread_time()
    if profile:
        profile.enable()
    try:
        engine.run_organisation(whitelabel.pk, hold_partial=HOLD_PARTIAL)
    finally:
        if profile:
            profile.disable()
        METER.on = False
    wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
    (http_w, http_c), (lim_w, lim_c), (db_w, db_c) = (METER.parts[k] for k in ("http", "limiter", "db"))
    call_w = METER.parts["call"][0]
    return {
        "wall": wall,
        "cpu": cpu,
        "http": http_w,
        "limiter": lim_w,
        "db": db_w,
        "engine": wall - http_w - lim_w,
        "engine_cpu": cpu - http_c - lim_c,
        "python": wall - http_w - lim_w - db_w,
        "python_cpu": cpu - http_c - lim_c - db_c,
        "bench_engine": wall - call_w,
        "queries": METER.queries,
        "calls": METER.calls,
    }


def _round(whitelabel, profile=None):
    _ours(whitelabel)
    customers = [CustomerFactory(whitelabel=whitelabel) for _ in range(SIZE)]
    engine.run_organisation(whitelabel.pk, hold_partial=False)  # the contacts
    _ours(whitelabel)
    invoices = [issue_invoice(customer, [PLAN]) for customer in customers]
    _ours(whitelabel)
    invoice_run = _measured(whitelabel, profile)
    for invoice in invoices:
        record_payment(invoice.customer, invoice.total, invoice=invoice)
    _ours(whitelabel)
    payment_run = _measured(whitelabel, profile)
    unsent = SyncRecord.objects.filter(whitelabel=whitelabel).exclude(status=SyncRecord.Status.SENT)
    assert not unsent.exists(), list(unsent.values_list("kind", "status", "reason")[:5])
    return invoice_run, payment_run


def _report(name, runs):
    def med(key, scale=1000):
        return statistics.median(r[key] for r in runs) * scale

    print(
        f"\n{name} ({len(runs)} runs of {SIZE}, median ms): wall {med('wall'):.1f} = HTTP {med('http'):.1f} "
        f"+ limiter {med('limiter'):.1f} + ENGINE {med('engine'):.1f} (DB {med('db'):.1f}, Python "
        f"{med('python'):.1f}); CPU: engine {med('engine_cpu'):.1f} (DB client "
        f"{med('engine_cpu') - med('python_cpu'):.1f}, Python {med('python_cpu'):.1f}); bench-style engine "
        f"{med('bench_engine'):.1f}; "
        f"queries {med('queries', 1):.0f}, Xero calls {med('calls', 1):.0f}"
    )
    print("   engine ms each run: " + " ".join(f"{r['engine'] * 1000:.0f}" for r in runs))


AREAS = (
    ("xero-python", ("/xero_python/",)),
    ("django", ("/django/",)),
    ("psycopg2", ("psycopg2",)),
    ("urllib3/http", ("/urllib3/", "/http/", "socket")),
    ("redis", ("/redis/",)),
    ("json", ("/json/",)),
    ("accounting", ("/accounting/",)),
    ("payments", ("/payments/",)),
)


def _by_area(profile, runs):
    """Own time (cProfile's tottime, so inflated for code of many small calls) per area, per run."""
    totals = {}
    for (filename, _, name), (_, _, tottime, _, _) in pstats.Stats(profile).stats.items():
        where = f"{filename}:{name}"
        area = next((area for area, keys in AREAS if any(key in where for key in keys)), "other")
        totals[area] = totals.get(area, 0.0) + tottime
    print(
        "\nOwn time by area under cProfile, ms per run: "
        + ", ".join(
            f"{area} {seconds * 1000 / runs:.1f}" for area, seconds in sorted(totals.items(), key=lambda kv: -kv[1])
        )
    )


@pytest.mark.django_db(transaction=True)
def test_profile_send(xero, settings, metered, monkeypatch):
    # Xero's minute would bind long before the engine does: lift it on both sides (this measures the engine).
    settings.XERO_MINUTE_LIMIT = settings.XERO_DAY_LIMIT = 10**6
    xero.configure(minute_limit=10**6, day_limit=10**6, validate_openapi=False, request_log=False)
    whitelabel = connected(xero)
    _round(whitelabel)  # the organisation's chart, tax rates and currencies are read (then cached)
    spent = _parts(monkeypatch, os.environ.get("PROFILE_PARTS", ""))
    results = [_round(whitelabel) for _ in range(ROUNDS)]
    for name, (wall, cpu) in spent.items():
        print(f"part {name}: wall {wall * 1000 / (2 * ROUNDS):.1f} ms a run, CPU {cpu * 1000 / (2 * ROUNDS):.1f} ms")
    _report("invoices", [r[0] for r in results])
    _report("payments", [r[1] for r in results])
    _report("both", [run for r in results for run in r])
    if os.environ.get("PROFILE_SQL"):
        _round(whitelabel)
        print("\nThe queries of the last payments run (ms):")
        print("\n".join(f"{seconds * 1000:6.2f} {' '.join(sql.split())[:150]}" for seconds, sql in METER.sql))
    if os.environ.get("PROFILE_CPROFILE"):
        profile = cProfile.Profile()
        for _ in range(ROUNDS):
            _round(whitelabel, profile)
        _by_area(profile, runs=2 * ROUNDS)
        for order in ("tottime", "cumulative"):
            out = io.StringIO()
            pstats.Stats(profile, stream=out).sort_stats(order).print_stats(TOP)
            print(out.getvalue())
        if os.environ.get("PROFILE_CALLERS"):  # e.g. "query.py:1489" : who calls it, and how often
            out = io.StringIO()
            pstats.Stats(profile, stream=out).sort_stats("cumulative").print_callers(os.environ["PROFILE_CALLERS"])
            print(out.getvalue())
