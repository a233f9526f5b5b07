"""The benchmark's arithmetic (bench/measure.py, bench/report.py): the call floor, the sandbox's statistics
sorted by what the calls did, the rate-limit floor and the fairness figures. The benchmark itself is too
long for the suite: `make bench` runs it (README, "Benchmark")."""

import math

import pytest

from bench import measure, report
from bench.scenarios import Organisation
from xero_sandbox.resources.handlers import ROUTES

from .xero_sandbox.conftest import RawApi
from .xero_sandbox.test_accounting import sales_invoice


def test_the_floor_is_one_call_per_50_records_of_a_kind_and_one_per_overpayment_for_allocations():
    sent = {"contact": 2000, "invoice": 10000, "payment": 10001, "overpayment": 40, "credit_allocation": 120}

    floor = measure.write_floor(sent, overpayments_allocated=40)

    assert floor == {"contacts": 40, "invoices": 200, "payments": 201, "bank transactions": 1, "allocations": 40}
    assert measure.write_floor({"overpayment": 30, "receipt": 30}) == {"bank transactions": 2}, "counted apart"
    assert measure.write_floor({"invoice": 0}) == {}


def test_every_write_the_engine_makes_is_a_route_of_the_sandbox():
    templates = {f"{method} {template}" for method, _, _, template in ROUTES}
    assert set(measure.WRITES) <= templates
    assert measure.SETTINGS_READS <= templates


def test_the_sandboxs_statistics_are_sorted_into_writes_look_ups_settings_and_429s(xero_sandbox):
    raw = RawApi(xero_sandbox, xero_sandbox.connect(), xero_sandbox.tenant_ids["Organisation 1"])
    xero_sandbox.configure(minute_limit=4)
    raw.put("Invoices", {"Invoices": [sales_invoice(InvoiceNumber=f"INV-{n}") for n in range(3)]})
    raw.get("Accounts")
    raw.get("Invoices", params={"InvoiceNumbers": "INV-1"})
    raw.put("Invoices", {"Invoices": [sales_invoice(InvoiceNumber="INV-9")]})
    raw.get("TaxRates")  # the fifth call in a Xero minute of 4: 429

    calls = measure.calls_from_stats(xero_sandbox.tenant_stats(raw.tenant_id))

    assert calls.writes == {"invoices": 2}
    assert (calls.lookups, calls.settings_reads) == (1, 2)
    assert calls.settings_read == {"GET Accounts", "GET TaxRates"}, "the settings read (a read each is the floor)"
    assert calls.status_429 == 1 and calls.rate_limited["minute"] == 1
    assert calls.total == 5 and calls.admitted == 4
    assert calls.peak_per_minute == 4


def test_the_rate_limit_floor_is_calls_over_60_per_xero_minute_in_real_seconds():
    assert measure.rate_limit_floor_seconds(440, time_scale=1) == pytest.approx(440)
    assert measure.rate_limit_floor_seconds(440, time_scale=2) == pytest.approx(220)
    assert measure.rate_limit_floor_seconds(60, time_scale=60) == pytest.approx(1)


def test_organisations_share_the_clock_so_the_runs_floor_is_the_slowest_organisations():
    small = Organisation("a", sent_by_kind={"invoice": 100})
    large = Organisation("b", sent_by_kind={"invoice": 600, "contact": 50})

    class Run:
        settings = {"time_scale": 2}
        organisations = [small, large]

    assert report.rate_limit_floor(Run) == pytest.approx(13 / 2)


def test_fairness_counts_organisations_that_waited_for_another_whole_backlog():
    organisations = [
        Organisation("a", first_sent=1.0, last_sent=10.0),
        Organisation("b", first_sent=2.0, last_sent=12.0),
        Organisation("c", first_sent=11.0, last_sent=20.0),
    ]

    figures = report.fairness(organisations)

    assert figures["waited_for_a_whole_backlog"] == 1
    assert (figures["latest_first"], figures["earliest_last"]) == (11.0, 10.0)


def test_summary_and_table():
    figures = measure.summary([3.0, 1.0, 2.0, 10.0])
    assert figures["median"] == 2.5 and figures["max"] == 10.0 and figures["n"] == 4
    assert math.isclose(figures["mean"], 4.0)
    assert measure.table([("a", 1)], ("name", "n")).splitlines() == ["| name | n |", "|------|---|", "| a    | 1 |"]


def test_each_scenario_says_which_target_it_met_and_why_some_floors_mislead():
    from bench import targets
    from bench.measure import Calls
    from bench.scenarios import Organisation, Result

    organisation = Organisation(slug="a", sent_by_kind={"invoice": 100}, calls=Calls(writes={"invoices": 3}))
    burst = Result("burst", {"time_scale": 2}, organisations=[organisation])
    (calls, too_many) = targets.check(burst)
    assert (calls.what, calls.measured, calls.met) == ("write calls", "3 / 2 = 1.50x", False)
    assert too_many.met, "no 429s"
    rendered = "\n".join(targets.render(burst))
    assert "**not met**" in rendered and "**met**" in rendered
    single = Result("single", {"time_scale": 1}, latencies=[2.1, 2.3])
    (latency,) = targets.check(single)
    assert latency.met and latency.measured == "2.30 s (worst)"
    assert "Its floors are not its targets" in "\n".join(targets.render(single))


def test_the_imports_scenario_reports_reads_against_ceil_n_over_100_and_writes_against_none():
    from bench.scenarios import Result

    imported = Result("imports", {"time_scale": 20, "invoices": 1000})
    imported.extra["imports"] = {
        "payments": 1000,
        "reads": 10,
        "read_floor": 10,
        "other_reads": 3,
        "recorded": 1000,
        "arena_payments": 1000,
        "calls": 13,
        "writes": 0,
    }
    imported.organisations = []

    rendered = report.render(imported)

    assert "Payments entered in Xero: 1000 read in 10 call(s) of payments (floor 10: met) and 3 of" in rendered
    assert "1000 recorded (1000 Arena payments from Xero); 13 calls in all" in rendered
    assert "0 writes (floor 0: met)" in rendered
