"""The benchmark's workloads. Each one starts from a fresh database, a fresh sandbox and fresh workers,
bills through `payments.services` only, waits (on conditions) until the outbox is done, and returns
a `Result` that `report.py` prints. Runs inside Django (set up by `bench.__main__`)."""

import dataclasses
import datetime
import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests
from django.contrib.auth import get_user_model
from django.db import connections, transaction
from django.db.models import Count, Max, Min, Q
from django.utils import timezone

from accounting import services as accounting_services
from accounting.models import AccountingSettings, SyncRecord, SyncState, XeroConnection
from accounting.sync import outbox
from payments.models import Allocation, Customer, Membership, Whitelabel
from payments.services import LineInput, create_customer, issue_invoice, record_payment
from xero_sandbox.seed import tenant_id_of
from xero_sandbox.testing import consent

from . import environment, measure
from .environment import Options, wait_for

PLAN = LineInput("Mobile plan", Decimal("1"), Decimal("100.00"), Decimal("10"))
OVERPAY_BY = Decimal("5.00")
Status, Kind = SyncRecord.Status, SyncRecord.Kind
STALL_SECONDS = 240  # no record sent for this long while some are due: the run is stuck


@dataclass
class Organisation:
    """One whitelabel and its Xero organisation, with what reached Xero and when."""

    slug: str
    tenant_id: str = ""
    sent_by_kind: dict[str, int] = field(default_factory=dict)
    overpayments_allocated: int = 0
    failed: int = 0
    first_sent: float | None = None  # seconds after the start of the sync
    last_sent: float | None = None
    calls: measure.Calls = field(default_factory=measure.Calls)

    @property
    def floor(self) -> dict[str, int]:
        return measure.write_floor(self.sent_by_kind, self.overpayments_allocated)


@dataclass
class Result:
    scenario: str
    settings: dict
    organisations: list[Organisation] = field(default_factory=list)
    wall_seconds: float = 0.0  # from the start of the sync (first bill, or the resync) to the last record in Xero
    billing_seconds: float = 0.0
    memory: dict = field(default_factory=dict)
    savecost: dict = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    tasks: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)


# Set-up ---------------------------------------------------------------------------------------------


class Stack:
    """A fresh database (from the migrated template), Redis database, sandbox and workers."""

    def __init__(self, options: Options, name: str, *, organisations: int, template: str, workers: int | None = None):
        self.options = dataclasses.replace(options, workers=workers or options.workers)
        self.name, self.organisations, self.template = name, organisations, template
        self.run_dir = environment.run_dir_for(name)
        self.processes: list[environment.Process] = []
        self.workers: list[environment.Process] = []
        self.sampler: environment.MemorySampler | None = None
        self.sandbox_url = ""

    def __enter__(self) -> "Stack":
        connections.close_all()
        environment.database_recreate(self.options, template=self.template)
        environment.redis_flush(self.options)
        try:
            sandbox, self.sandbox_url = environment.sandbox_start(
                self.options, organisations=self.organisations, run_dir=self.run_dir
            )
            self.processes.append(sandbox)
            _point_settings_at(self.sandbox_url, self.options)
            self.workers = environment.workers_start(self.options, sandbox_url=self.sandbox_url, run_dir=self.run_dir)
            self.processes += self.workers
            self.sampler = environment.MemorySampler(self.workers).start()
        except BaseException:
            environment.stop_all(self.processes)
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self.sampler:
            self.sampler.stop()
        environment.stop_all(list(reversed(self.processes)))
        connections.close_all()

    def stats(self) -> dict:
        response = requests.get(f"{self.sandbox_url}/_sandbox/stats", timeout=30)
        response.raise_for_status()
        return response.json()

    def clear_stats(self) -> None:
        requests.delete(f"{self.sandbox_url}/_sandbox/stats", timeout=30).raise_for_status()

    def task_lines(self) -> list[dict]:
        """The workers' BENCH lines (bench/worker_app.py): one per task."""
        lines = []
        for worker in self.workers:
            for line in worker.log_text().splitlines():
                if " BENCH " in line:
                    lines.append(json.loads(line.split(" BENCH ", 1)[1]))
        return lines


def _point_settings_at(sandbox_url: str, options: "environment.Options") -> None:
    """This process's Django settings follow the sandbox's port and the scenario's limits (the workers get them in
    their environment). This process calls Xero too (the connect flow): with another time scale than the workers',
    its limiter would read their calls as made in the far future and pause the organisations for centuries."""
    from django.conf import settings

    settings.XERO_LIMIT_TIME_SCALE = options.time_scale
    settings.XERO_APP_MINUTE_LIMIT = options.app_minute_limit
    settings.XERO_AUTHORIZE_URL = f"{sandbox_url}/identity/connect/authorize"
    settings.XERO_TOKEN_URL = f"{sandbox_url}/connect/token"
    settings.XERO_REVOCATION_URL = f"{sandbox_url}/connect/revocation"
    settings.XERO_API_URL = sandbox_url


def whitelabel_create(slug: str, *, xero: bool) -> tuple[Whitelabel, object]:
    """A whitelabel, its admin, and its accounting settings: Xero post-paid (revenue 200, bank 090), or none."""
    whitelabel = Whitelabel.objects.create(name=slug.title(), slug=slug, default_currency="AUD")
    user = get_user_model().objects.create_user(username=f"{slug}-admin", password="bench-not-a-secret")
    Membership.objects.create(user=user, whitelabel=whitelabel, role=Membership.Role.ADMIN)
    AccountingSettings.objects.create(
        whitelabel=whitelabel,
        accounting_system=AccountingSettings.System.XERO if xero else AccountingSettings.System.NONE,
        payment_type=AccountingSettings.PaymentType.POSTPAID,
        revenue_code="200" if xero else "",
        bank_account_code="090" if xero else "",
    )
    return whitelabel, user


def connect(whitelabel: Whitelabel, user, tenant_id: str) -> XeroConnection:
    """The app's own connect flow over real OAuth: the consent URL (state and PKCE in a session), the
    sandbox's consent page with one organisation ticked, then the callback's service."""
    session: dict = {}
    url = accounting_services.xero_authorisation_start(session=session, whitelabel=whitelabel)
    location = consent(url, tenant_ids=[tenant_id])
    params = {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}
    outcome = accounting_services.xero_authorisation_complete(session=session, user=user, params=params)
    if outcome.connection is None:
        raise RuntimeError(f"Connecting {whitelabel.slug} to {tenant_id} did not finish: {outcome}")
    return outcome.connection


def customers_create(whitelabel: Whitelabel, count: int) -> list[Customer]:
    return [
        create_customer(
            whitelabel=whitelabel,
            account_number=f"C-{n:06d}",
            name=f"{whitelabel.name} Customer {n}",
            email=f"customer{n}@{whitelabel.slug}.example.com",
        )
        for n in range(1, count + 1)
    ]


def progress(total: int, what: str):
    """A progress bar on stderr while the scenario bills (tqdm on a terminal, a line every few seconds
    otherwise), so minutes of billing don't look like a hang. Call `.update(n)`, then `.close()`."""
    import sys

    from tqdm import tqdm

    return tqdm(total=total, desc=what, unit="", file=sys.stderr, mininterval=0 if sys.stderr.isatty() else 10)


def bill(customer: Customer, *, pay: bool = True, overpay: bool = False) -> float:
    """Issue one invoice (credit applied first) and pay what is due; returns issue_invoice's seconds."""
    began = time.perf_counter()
    invoice = issue_invoice(customer, [PLAN])
    elapsed = time.perf_counter() - began
    if pay and invoice.amount_due > 0:
        record_payment(customer, invoice.amount_due + (OVERPAY_BY if overpay else 0), invoice=invoice)
    return elapsed


def bill_month(people: list[list[Customer]], invoices: int, bar, processes: int) -> None:
    """`invoices` invoices for each organisation's customers (`people`, one list per organisation), every
    other one paid, round robin so that every organisation's month spans the same time. With `processes` > 1,
    forked processes bill an equal part of the organisations each (no two share a customer or its locks);
    this process counts their progress on `bar`."""

    def part(organisations: list[list[Customer]], done=None) -> None:
        for n in range(invoices):
            for customers in organisations:
                bill(customers[n % len(customers)], pay=n % 2 == 0)
            if done is None:
                bar.update(len(organisations))
            else:
                with done.get_lock():
                    done.value += len(organisations)

    if processes <= 1:
        part(people)
        return
    import multiprocessing
    import multiprocessing.connection

    context = multiprocessing.get_context("fork")
    done = context.Value("q", 0)

    def child(organisations: list[list[Customer]]) -> None:
        try:
            part(organisations, done)
        finally:
            connections.close_all()

    connections.close_all()  # each process opens its own
    children = [context.Process(target=child, args=(people[i::processes],)) for i in range(processes)]
    for each in children:
        each.start()
    counted, alive = 0, children
    while alive:
        multiprocessing.connection.wait([each.sentinel for each in alive], timeout=5)
        alive = [each for each in alive if each.is_alive()]
        bar.update(done.value - counted)
        counted = done.value
    for each in children:
        each.join()
    failed = [each.exitcode for each in children if each.exitcode]
    if failed:
        raise RuntimeError(f"billing processes failed (exit codes {failed}): see their tracebacks above")


# Waiting and collecting -----------------------------------------------------------------------------


def _busy(whitelabel_ids) -> Counter:
    """Records still on their way (pending, parked, claimed, or failed with a retry due soon)."""
    soon = timezone.now() + datetime.timedelta(seconds=120)
    records = SyncRecord.objects.filter(whitelabel_id__in=whitelabel_ids)
    busy = records.filter(
        Q(status__in=[Status.PENDING, Status.WAITING])
        | Q(status=Status.FAILED, next_attempt_at__lte=soon)
        | Q(claimed_until__isnull=False)
    )
    return Counter(dict(busy.values_list("status").annotate(n=Count("id")).values_list("status", "n")))


def wait_until_done(whitelabel_ids, *, timeout: float) -> None:
    """Until every record of these whitelabels is sent (or given up): polls the database, fails if nothing
    is sent for STALL_SECONDS, or after `timeout`."""
    deadline = time.monotonic() + timeout
    last_sent, last_progress = -1, time.monotonic()
    records = SyncRecord.objects.filter(whitelabel_id__in=whitelabel_ids)
    bar = progress(records.count(), "sending to Xero (records sent)")
    bar.update(records.filter(status=Status.SENT).count())
    while True:
        busy = _busy(whitelabel_ids)
        if not busy:
            bar.close()
            wait_for(
                lambda: (
                    not SyncState.objects.filter(whitelabel_id__in=whitelabel_ids, lease_until__isnull=False)
                    .filter(lease_until__gt=timezone.now())
                    .exists()
                ),
                timeout=120,
                message="the runs to hand their organisations back",
            )
            return
        sent = records.filter(status=Status.SENT).count()
        if sent != last_sent:
            last_sent, last_progress = sent, time.monotonic()
            bar.total = max(bar.total, sent)
            bar.update(sent - bar.n)
        now = time.monotonic()
        if now - last_progress > STALL_SECONDS or now > deadline:
            raise TimeoutError(f"The outbox did not drain: {dict(busy)} still busy, {sent} sent")
        time.sleep(0.25)


def collect(stack: Stack, whitelabels: list[Whitelabel], *, started: datetime.datetime) -> list[Organisation]:
    """What reached Xero per organisation (from the database) and the calls it took (from the sandbox)."""
    stats = stack.stats()["tenants"]
    found = []
    for whitelabel in whitelabels:
        connection = XeroConnection.objects.filter(whitelabel=whitelabel).first()
        tenant_id = connection.tenant_id if connection else ""
        records = SyncRecord.objects.filter(whitelabel=whitelabel)
        sent = records.filter(status=Status.SENT, sent_at__gte=started)  # not what went before the run
        times = sent.aggregate(first=Min("sent_at"), last=Max("sent_at"))
        allocations = sent.filter(kind=Kind.CREDIT_ALLOCATION).values_list("object_id", flat=True)
        found.append(
            Organisation(
                slug=whitelabel.slug,
                tenant_id=tenant_id,
                sent_by_kind=dict(sent.values_list("kind").annotate(n=Count("id")).values_list("kind", "n")),
                overpayments_allocated=Allocation.objects.filter(pk__in=list(allocations))
                .values("payment_id")
                .distinct()
                .count(),
                failed=records.filter(status=Status.FAILED).count(),
                first_sent=(times["first"] - started).total_seconds() if times["first"] else None,
                last_sent=(times["last"] - started).total_seconds() if times["last"] else None,
                calls=measure.calls_from_stats(stats.get(tenant_id, {})),
            )
        )
    return found


def tasks_summary(lines: list[dict]) -> dict:
    """Totals of the workers' BENCH lines: runs, their time, queries, Xero calls, limiter waits."""
    runs = [line for line in lines if line["task"] == "sync_organisation"]
    if not runs:
        return {}
    seconds = sum(r["seconds"] for r in runs)
    calls = sum(r["xero_calls"] for r in runs)
    queries = sum(r["queries"] for r in runs)
    http = sum(r["xero_seconds"] - r["limiter_wait"] for r in runs)
    return {
        "runs": len(runs),
        "runs_without_calls": sum(1 for r in runs if not r["xero_calls"]),
        "run_seconds": round(seconds, 2),
        "xero_calls": calls,
        "queries": queries,
        "queries_per_call": round(queries / calls, 1) if calls else None,
        "db_seconds": round(sum(r["db_seconds"] for r in runs), 2),
        "http_seconds": round(http, 2),
        "limiter_wait_seconds": round(sum(r["limiter_wait"] for r in runs), 2),
        "other_seconds": round(seconds - sum(r["db_seconds"] for r in runs) - sum(r["xero_seconds"] for r in runs), 2),
        "ms_per_call": round(1000 * seconds / calls, 1) if calls else None,
        "operations": dict(sum((Counter(r["operations"]) for r in runs), Counter())),
    }


def _finish(result: Result, stack: Stack, whitelabels, *, started: datetime.datetime) -> Result:
    result.organisations = collect(stack, whitelabels, started=started)
    lasts = [o.last_sent for o in result.organisations if o.last_sent is not None]
    result.wall_seconds = max(lasts) if lasts else 0.0
    stack.sampler.sample()
    result.memory = {
        "peak_total_mb": stack.sampler.peak_total / 2**20,
        "start_total_mb": stack.sampler.baseline_total / 2**20,
        "peak_per_worker_mb": {k: v / 2**20 for k, v in stack.sampler.peak_per_worker.items()},
        "workers": len(stack.workers),
    }
    result.tasks = tasks_summary(stack.task_lines())
    return result


def _settings(options: Options, **extra) -> dict:
    return {"time_scale": options.time_scale, "workers": options.workers, "cpus": os.cpu_count(), **extra}


# Scenarios ------------------------------------------------------------------------------------------


def burst(options: Options, template: str, *, invoices: int = 1000, customers: int = 100, overpay_every: int = 25):
    """One organisation; customers, then invoices each paid at once (every `overpay_every`-th payment
    overpays, so credit and its allocations go too), billed as fast as one process can, while the
    workers sync. Each invoice is interleaved with one for a whitelabel without an accounting system:
    the save-cost ratio."""
    result = Result("burst", _settings(options, invoices=invoices, customers=customers, overpay_every=overpay_every))
    with Stack(options, "burst", organisations=2, template=template) as stack:
        whitelabel, user = whitelabel_create("burst", xero=True)
        connect(whitelabel, user, tenant_id_of(1))
        plain, _ = whitelabel_create("plain", xero=False)
        plain_customers = customers_create(plain, 10)
        wait_until_done([whitelabel.pk], timeout=60)
        stack.clear_stats()
        started = timezone.now()
        began = time.perf_counter()
        people = customers_create(whitelabel, customers)
        on, off = [], []
        bar = progress(invoices, "billing (invoices paid at once)")
        for n in range(invoices):
            bar.update(1)
            overpay = bool(overpay_every) and n % overpay_every == overpay_every - 1
            # Alternate which goes first, so neither always pays for a cold cache.
            if n % 2:
                on.append(bill(people[n % customers], overpay=overpay))
                off.append(bill(plain_customers[n % 10], pay=False))
            else:
                off.append(bill(plain_customers[n % 10], pay=False))
                on.append(bill(people[n % customers], overpay=overpay))
        bar.close()
        result.billing_seconds = time.perf_counter() - began
        wait_until_done([whitelabel.pk], timeout=3600)
        result.savecost = savecost_figures(on, off)
        return _finish(result, stack, [whitelabel], started=started)


# A telco's mapped books (issue 20): four categories on their own revenue accounts and tracking, card money
# into a clearing account with its fee to an expense account, direct debits into the bank.
MAPPED_LINES = [
    LineInput("NBN 100/20, monthly", Decimal("1"), Decimal("89.00"), Decimal("10"), "nbn"),
    LineInput("Mobile plan, monthly", Decimal("1"), Decimal("49.00"), Decimal("10"), "mobile"),
    LineInput("Calls, per minute", Decimal("120"), Decimal("0.0125"), Decimal("10"), "usage"),
    LineInput("Wi-Fi modem", Decimal("1"), Decimal("120.00"), Decimal("0"), "hardware"),
]
MAPPING = [
    {"category": "nbn", "account": "201", "tracking": ["Region:NSW", "Plan:Residential"]},
    {"category": "mobile", "account": "202", "tracking": ["Region:VIC"]},
    {"category": "usage", "account": "202", "tracking": ["Plan:Business"]},
    {"category": "hardware", "account": "203"},
    {"tax_rate": "0", "tax_type": "EXEMPTOUTPUT"},
    {"method": "card", "account": "092", "fee_account": "404"},
    {"method": "direct_debit", "account": "090"},
]
CARD_FEE = Decimal("1.10")


def mapped(options: Options, template: str, *, invoices: int = 500, customers: int = 50) -> Result:
    """One organisation with a mapping (rows saved as the settings page would, checked there against the
    sandbox's chart): invoices of four categories, each paid at once, every other one by card with a
    gateway fee (a Spend Money each), the rest by direct debit. Billed first while not connected, then
    connected and resynced as in the backfill, so the calls measure the mapping, not billing's pace (a
    trickle of bills sends part batches every XERO_SYNC_MAX_HOLD_SECONDS, as in the burst). The fees are bank
    transactions: ceil(n/50) calls."""
    from accounting.mapping_models import CategoryMapping, MethodMapping, TaxMapping

    result = Result("mapped", _settings(options, invoices=invoices, customers=customers, categories=4))
    with Stack(options, "mapped", organisations=2, template=template) as stack:
        whitelabel, user = whitelabel_create("mapped", xero=True)
        for fields in MAPPING:
            if "category" in fields:
                pairs = [t.split(":") for t in fields.get("tracking", [])]
                CategoryMapping.objects.create(
                    whitelabel=whitelabel,
                    category=fields["category"],
                    account_code=fields["account"],
                    tracking=[{"Name": name, "Option": option} for name, option in pairs],
                )
            elif "tax_rate" in fields:
                TaxMapping.objects.create(
                    whitelabel=whitelabel, tax_rate=fields["tax_rate"], tax_type=fields["tax_type"]
                )
            else:
                MethodMapping.objects.create(
                    whitelabel=whitelabel, method=fields["method"], account_code=fields["account"],
                    fee_account_code=fields.get("fee_account", ""),
                )
        began = time.perf_counter()
        people = customers_create(whitelabel, customers)
        bar = progress(invoices, "billing (mapped, not connected yet)")
        for n in range(invoices):
            bar.update(1)
            customer = people[n % customers]
            invoice = issue_invoice(customer, MAPPED_LINES)
            card = n % 2 == 0
            record_payment(
                customer, invoice.amount_due, invoice=invoice, method="card" if card else "direct_debit",
                fee=CARD_FEE if card else None,
            )
        bar.close()
        result.billing_seconds = time.perf_counter() - began
        connect(whitelabel, user, tenant_id_of(1))
        wait_until_done([whitelabel.pk], timeout=60)
        stack.clear_stats()
        started = timezone.now()
        with transaction.atomic():
            result.extra["resynced"] = outbox.records_resync(whitelabel=whitelabel)
        wait_until_done([whitelabel.pk], timeout=3600)
        return _finish(result, stack, [whitelabel], started=started)


def savecost_figures(on: list[float], off: list[float]) -> dict:
    with_xero, without = measure.summary(on), measure.summary(off)
    return {
        "with_xero_ms": {k: (v * 1000 if k != "n" else v) for k, v in with_xero.items()},
        "without_ms": {k: (v * 1000 if k != "n" else v) for k, v in without.items()},
        "ratio_median": with_xero["median"] / without["median"],
        "ratio_mean": with_xero["mean"] / without["mean"],
    }


def backfill(
    options: Options,
    template: str,
    *,
    invoices: int = 10000,
    customers: int = 2000,
    name: str = "backfill",
    then=None,
) -> Result:
    """Bill first with the whitelabel not connected (its records are skipped), then connect and resync:
    the whole history goes at once. The wall time runs from the resync to the last record in Xero.
    `then(result)`: more to measure while the sandbox and the workers still run."""
    result = Result(name, _settings(options, invoices=invoices, payments=invoices, customers=customers))
    with Stack(options, name, organisations=2, template=template) as stack:
        whitelabel, user = whitelabel_create(name, xero=True)
        began = time.perf_counter()
        people = customers_create(whitelabel, customers)
        bar = progress(invoices, "billing (not connected yet)")
        for n in range(invoices):
            bill(people[n % customers])
            bar.update(1)
        bar.close()
        result.billing_seconds = time.perf_counter() - began
        connect(whitelabel, user, tenant_id_of(1))
        wait_until_done([whitelabel.pk], timeout=60)  # the connection's own run finds nothing due
        stack.clear_stats()
        stack.sampler.peak_total = stack.sampler.sample()
        started = timezone.now()
        with transaction.atomic():
            queued = outbox.records_resync(whitelabel=whitelabel)
        result.extra["resynced"] = queued
        wait_until_done([whitelabel.pk], timeout=7200)
        result = _finish(result, stack, [whitelabel], started=started)
        if then is not None:
            then(result)
        return result


def organisations(
    options: Options, template: str, *, count: int = 50, invoices: int = 200, customers: int = 20, first_extra: int = 0
):
    """`count` whitelabels, each with its own organisation, `invoices` invoices each (the first one
    `first_extra` more: one big backlog among small ones); billed while not connected, then every one
    connected and resynced at once. Per organisation: when its first and its last record reached Xero."""
    result = Result(
        "organisations",
        _settings(options, organisations=count, invoices=invoices, customers=customers, first_extra=first_extra),
    )
    # Organisation 2 is the sandbox's New Zealand one (15% GST): the AUD invoices with 10% GST go to
    # Organisation 1 and to the Australian copies from 3 up.
    numbers = [1, *range(3, count + 2)]
    with Stack(options, "organisations", organisations=count + 1, template=template) as stack:
        made = [whitelabel_create(f"org{n:02d}", xero=True) for n in range(1, count + 1)]
        began = time.perf_counter()
        people = {whitelabel.pk: customers_create(whitelabel, customers) for whitelabel, _ in made}
        bar = progress(invoices * count + first_extra, "billing (not connected yet)")
        for n in range(invoices):  # round robin, so every organisation's history spans the same time
            for whitelabel, _ in made:
                bill(people[whitelabel.pk][n % customers], pay=False)
            bar.update(count)
        for n in range(first_extra):
            bill(people[made[0][0].pk][n % customers], pay=False)
            bar.update(1)
        bar.close()
        result.billing_seconds = time.perf_counter() - began
        for number, (whitelabel, user) in zip(numbers, made, strict=True):
            connect(whitelabel, user, tenant_id_of(number))
        ids = [whitelabel.pk for whitelabel, _ in made]
        wait_until_done(ids, timeout=120)
        stack.clear_stats()
        started = timezone.now()
        with transaction.atomic():
            for whitelabel, _ in made:
                outbox.records_resync(whitelabel=whitelabel)
        wait_until_done(ids, timeout=7200)
        return _finish(result, stack, [w for w, _ in made], started=started)


def single(options: Options, template: str, *, repeats: int = 5) -> Result:
    """A single invoice on a quiet system: from `issue_invoice` to the record sent, `repeats` times,
    each after the previous one settled and its run handed the organisation back."""
    result = Result("single", _settings(options, repeats=repeats))
    with Stack(options, "single", organisations=2, template=template) as stack:
        whitelabel, user = whitelabel_create("single", xero=True)
        connect(whitelabel, user, tenant_id_of(1))
        customer = customers_create(whitelabel, 1)[0]
        wait_until_done([whitelabel.pk], timeout=120)
        stack.clear_stats()
        started = timezone.now()
        for _ in range(repeats):
            wait_for(
                lambda: SyncState.objects.filter(whitelabel=whitelabel, lease_until__isnull=True).exists(),
                timeout=60,
                message="a quiet system",
            )
            began = timezone.now()
            invoice = issue_invoice(customer, [PLAN])
            record = wait_for(
                lambda invoice=invoice: SyncRecord.objects.filter(
                    kind=Kind.INVOICE, object_id=invoice.pk, status=Status.SENT
                ).first(),
                timeout=120,
                interval=0.02,
                message="the invoice to reach Xero",
            )
            result.latencies.append((record.sent_at - began).total_seconds())
            wait_until_done([whitelabel.pk], timeout=60)
        return _finish(result, stack, [whitelabel], started=started)


def memory(options: Options, template: str, *, sizes: tuple[int, ...] = (10000, 100000)) -> list[Result]:
    """Peak worker memory while a backfill of about `size` records (customers, invoices and payments)
    goes to one organisation, each size with fresh workers."""
    results = []
    for size in sizes:
        customers = max(size // 50, 1)
        invoices = (size - customers) // 2
        result = backfill(options, template, invoices=invoices, customers=customers, name=f"memory-{size}")
        result.settings["records"] = customers + 2 * invoices
        results.append(result)
    return results


def savecost(options: Options, template: str, *, pairs: int = 300) -> Result:
    """Time per `issue_invoice` for a whitelabel with Xero connected against one with no accounting
    system, interleaved in the same run (the connected one's records are synced meanwhile)."""
    result = Result("savecost", _settings(options, pairs=pairs))
    with Stack(options, "savecost", organisations=2, template=template) as stack:
        whitelabel, user = whitelabel_create("savecost", xero=True)
        connect(whitelabel, user, tenant_id_of(1))
        plain, _ = whitelabel_create("plain", xero=False)
        on_customers, off_customers = customers_create(whitelabel, 20), customers_create(plain, 20)
        wait_until_done([whitelabel.pk], timeout=120)
        stack.clear_stats()
        started = timezone.now()
        on, off = [], []
        for n in range(pairs):
            if n % 2:
                on.append(bill(on_customers[n % 20], pay=False))
                off.append(bill(off_customers[n % 20], pay=False))
            else:
                off.append(bill(off_customers[n % 20], pay=False))
                on.append(bill(on_customers[n % 20], pay=False))
        result.savecost = savecost_figures(on, off)
        wait_until_done([whitelabel.pk], timeout=600)
        return _finish(result, stack, [whitelabel], started=started)


def write_json(results: list[Result], path: Path) -> None:
    def encode(value):
        if hasattr(value, "__dataclass_fields__"):
            return {k: encode(v) for k, v in value.__dict__.items()}
        if isinstance(value, dict):
            return {k: encode(v) for k, v in value.items()}
        if isinstance(value, list):
            return [encode(v) for v in value]
        return value

    path.write_text(json.dumps([encode(r) for r in results], indent=2, default=str))


# Bill-run day ---------------------------------------------------------------------------------------


def billrun(
    options: Options,
    template: str,
    *,
    count: int = 200,
    invoices: int = 1000,
    customers: int = 100,
    name: str = "billrun",
) -> Result:
    """Bill-run day: `count` whitelabels with an organisation each, `invoices` invoices each (half of them paid),
    billed while not connected; then every one connected and resynced at once, so the whole month reaches
    Xero together through one app whose app-wide minute (`options.app_minute_limit`, lowered here) binds
    before any organisation's own. Per organisation: when its records were in Xero, against the floor of its
    fair share of the app-wide minute; and the engine's share of the machine's CPU meanwhile."""
    import psutil

    result = Result(
        name,
        _settings(
            options,
            organisations=count,
            invoices=invoices,
            paid=invoices // 2,
            customers=customers,
            app_minute_limit=options.app_minute_limit,
            nodes=options.workers,
        ),
    )
    numbers = [1, *range(3, count + 2)]  # the Australian organisations (2 is the New Zealand one)
    with Stack(options, name, organisations=count + 1, template=template) as stack:
        made = [whitelabel_create(f"bill{n:03d}", xero=True) for n in range(1, count + 1)]
        began = time.perf_counter()
        people = {whitelabel.pk: customers_create(whitelabel, customers) for whitelabel, _ in made}
        bar = progress(invoices * count, "billing the month (not connected yet)")
        bill_month([people[whitelabel.pk] for whitelabel, _ in made], invoices, bar, options.billing_processes)
        bar.close()
        result.billing_seconds = time.perf_counter() - began
        for number, (whitelabel, user) in zip(numbers, made, strict=True):
            connect(whitelabel, user, tenant_id_of(number))
        ids = [whitelabel.pk for whitelabel, _ in made]
        wait_until_done(ids, timeout=600)
        stack.clear_stats()
        cpu = _cpu_seconds(stack.workers, psutil)
        started = timezone.now()
        with transaction.atomic():
            for whitelabel, _ in made:
                outbox.records_resync(whitelabel=whitelabel)
        wait_until_done(ids, timeout=4 * 3600)
        result = _finish(result, stack, [w for w, _ in made], started=started)
        cpu_used = _cpu_seconds(stack.workers, psutil) - cpu
        apps = stack.stats().get("apps", {})
        app = apps.get(environment.SANDBOX_CLIENT_ID, {})
        # The calls an organisation cannot do without: its write floor and a read of each setting it needs (the
        # chart, tax rates, currencies: once, then cached), all of which take the same share of the app's minute.
        floor_calls = max(sum(o.floor.values()) + len(o.calls.settings_read) for o in result.organisations)
        # Each organisation's fair share of the app-wide minute, or its own limit if that is lower.
        share = min(options.app_minute_limit / count, measure.XERO_MINUTE_LIMIT)
        result.extra.update(
            busiest_app_minute=app.get("peak_calls_per_minute", 0),
            app_calls=app.get("calls", 0),
            share_per_minute=round(share, 2),
            share_floor_seconds=floor_calls / share * 60 / options.time_scale,
            engine_cpu_seconds=round(cpu_used, 1),
            engine_cpu_share=round(cpu_used / (result.wall_seconds * (os.cpu_count() or 1)), 3)
            if result.wall_seconds
            else None,
            calls_per_second=round(app.get("calls", 0) / result.wall_seconds, 2) if result.wall_seconds else None,
        )
        return result


def _cpu_seconds(workers, psutil) -> float:
    """User and system CPU the workers (and their pool children) have used so far."""
    total = 0.0
    for worker in workers:
        try:
            process = psutil.Process(worker.popen.pid)
            for each in [process, *process.children(recursive=True)]:
                times = each.cpu_times()
                total += times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return total


def nodes(options: Options, template: str, *, sizes: tuple[int, ...] = (1, 2, 4), **workload) -> list[Result]:
    """The bill-run workload with 1, 2 and 4 worker nodes (each its own process and host name, as separate
    machines would be, sharing only PostgreSQL and Redis: the limiter and the leases): calls a second until
    Xero's limits bind."""
    results = []
    for size in sizes:
        result = billrun(dataclasses.replace(options, workers=size), template, name=f"nodes-{size}", **workload)
        result.settings["nodes"] = size
        results.append(result)
    return results


# The reconcile's calls ------------------------------------------------------------------------------


def reconcile_calls(options: Options, template: str, *, invoices: int = 50000, customers: int = 1000) -> Result:
    """The nightly reconcile of one organisation holding `2 × invoices + customers` records (every invoice paid):
    the calls of its first, full comparison, and of the next night's after a person deleted 1% of the payments in
    Xero, against its share of the day (XERO_RECONCILE_DAY_SHARE)."""
    from accounting.models import Reconciliation
    from accounting.reconcile import day_share_budget, nightly_plan, whitelabel_reconcile

    records = customers + 2 * invoices

    def nights(result: Result) -> None:  # while the sandbox of the backfill still runs
        whitelabel = Whitelabel.objects.get(slug="reconcile")
        runs = []
        for night in ("first", "1% changed"):
            plan = nightly_plan(whitelabel)
            report = whitelabel_reconcile(
                whitelabel=whitelabel, since=plan.since, only=plan.only, chain_from=plan.chain_from, budget=None
            )
            runs.append({"night": night, "calls": report.calls, "differences": len(report.differences)})
            if night == "first":
                _a_day_later(whitelabel)
                _delete_payments_in_xero(whitelabel, max(1, invoices // 100))
        result.extra.update(
            reconcile=runs, day_share=day_share_budget(), reconciliations=Reconciliation.objects.count()
        )

    result = backfill(options, template, invoices=invoices, customers=customers, name="reconcile", then=nights)
    result.scenario = "reconcile"
    result.settings.update(records=records)
    return result


def _a_day_later(whitelabel: Whitelabel) -> None:
    """The next night: Xero's clock (the sandbox's) moves a day and an hour on, and the first night's record with
    it (Arena's clock can't move), so that what the next night asks for, changed since the first night began (less
    the reconcile's hour of margin), is what changed after it, not everything synced just before."""
    from django.conf import settings

    from accounting.models import Reconciliation

    day = datetime.timedelta(days=1)
    requests.post(f"{settings.XERO_API_URL}/_sandbox/clock", json={"advance_seconds": 86400 + 3600}, timeout=30)
    last = Reconciliation.objects.filter(whitelabel=whitelabel).latest("started_at")
    Reconciliation.objects.filter(pk=last.pk).update(
        started_at=last.started_at + day,
        finished_at=last.finished_at + day,
        covers_from=(last.covers_from + day) if last.covers_from else None,
    )


def _delete_payments_in_xero(whitelabel: Whitelabel, count: int) -> None:
    """A person deletes `count` of Arena's payments in Xero (the sandbox's control API): their invoices are owed
    again there, which the next night finds."""
    from django.conf import settings

    tenant = XeroConnection.objects.get(whitelabel=whitelabel).tenant_id
    sent = SyncRecord.objects.filter(whitelabel=whitelabel, kind=Kind.PAYMENT, status=Status.SENT)
    for xero_id in sent.values_list("xero_id", flat=True)[:count]:
        requests.post(
            f"{settings.XERO_API_URL}/_sandbox/organisations/{tenant}/edits",
            json={"action": "delete_payment", "payment": xero_id},
            timeout=30,
        ).raise_for_status()


# Payments entered in Xero ----------------------------------------------------------------------------------


def imports_calls(options: Options, template: str, *, invoices: int = 1000, customers: int = 100) -> Result:
    """A person pays each of `invoices` Arena invoices in Xero (the sandbox's control API); one read records them
    all in Arena. Counted: the reads of payments (the floor is ceil(n / 100): Xero's pages of 100), those of the
    other kinds a read asks for (overpayments, prepayments, credit notes: one call each when none is new), and
    every other call (the floor is none: what came from Xero is never sent back); and Arena's records (one payment
    each)."""
    import math

    from django.conf import settings

    from accounting import imports
    from payments.models import Payment

    result = Result("imports", _settings(options, invoices=invoices, customers=customers))
    with Stack(options, "imports", organisations=1, template=template) as stack:
        whitelabel, user = whitelabel_create("imports", xero=True)
        connect(whitelabel, user, tenant_id_of(1))
        people = customers_create(whitelabel, customers)
        bar = progress(invoices, "billing (unpaid)")
        for n in range(invoices):
            bill(people[n % customers], pay=False)
            bar.update(1)
        bar.close()
        wait_until_done([whitelabel.pk], timeout=3600)
        tenant = XeroConnection.objects.get(whitelabel=whitelabel).tenant_id
        sent = SyncRecord.objects.filter(whitelabel=whitelabel, kind=Kind.INVOICE, status=Status.SENT)
        bar = progress(invoices, "paying in Xero")
        for record in sent.only("xero_id"):
            requests.post(
                f"{settings.XERO_API_URL}/_sandbox/organisations/{tenant}/edits",
                json={"action": "apply_payment", "invoice": record.xero_id, "amount": "110.00"},
                timeout=30,
            ).raise_for_status()
            bar.update(1)
        bar.close()
        stack.clear_stats()
        began = time.perf_counter()
        read = imports.payments_import(whitelabel=whitelabel, max_pages=math.ceil(invoices / 100) + 5)
        result.wall_seconds = time.perf_counter() - began
        wait_until_done([whitelabel.pk], timeout=600)  # anything the import put in the outbox (nothing to send)
        calls = measure.calls_from_stats(stack.stats()["tenants"].get(tenant.lower()) or {})
        result.extra.update(
            imports={
                "payments": invoices,
                "reads": read.payment_calls,  # of GET /Payments: the floor's
                "other_reads": read.calls - read.payment_calls,  # overpayments, prepayments, credit notes: a call each
                "read_floor": math.ceil(invoices / 100),
                "recorded": read.imported,
                "arena_payments": Payment.objects.filter(whitelabel=whitelabel, source=Payment.Source.XERO).count(),
                "calls": calls.total,
                "writes": sum(calls.writes.values()),
            }
        )
    return result
