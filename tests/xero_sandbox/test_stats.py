"""Statistics for benchmarks and rate-limiter tests, and switching the request log off."""
import threading

import requests

from xero_sandbox.seed import ORG2_TENANT_ID

from .test_accounting import sales_invoice


def test_calls_are_counted_by_endpoint_and_status(raw):
    server = raw.server
    raw.get("Invoices")
    raw.put("Invoices", {"Invoices": [sales_invoice()]})
    raw.put("Invoices", {"Invoices": [sales_invoice(DueDate=None)]})
    raw.get("Invoices/INV-0001")
    raw.get("Nonsense")
    raw.for_tenant(ORG2_TENANT_ID).get("Contacts")

    stats = server.stats()

    org1 = stats["tenants"][raw.tenant_id]
    assert org1["name"] == "Organisation 1" and org1["calls"] == 5
    assert org1["by_endpoint"] == {
        "GET Invoices": {"200": 1}, "PUT Invoices": {"200": 1, "400": 1},
        "GET Invoices/{identifier}": {"200": 1}, "GET Nonsense": {"404": 1},
    }
    assert org1["by_status"] == {"200": 3, "400": 1, "404": 1}
    assert stats["tenants"][ORG2_TENANT_ID]["by_endpoint"] == {"GET Contacts": {"200": 1}}
    assert stats["apps"][server.client_id]["calls"] == 6
    server.clear_violations()  # GET /Nonsense is not in Xero's spec, on purpose


def test_rate_limited_calls_are_counted_by_problem_with_the_busiest_minute(raw):
    server = raw.server
    server.configure(minute_limit=3)
    statuses = [raw.get("Organisation").status_code for _ in range(5)]
    server.advance_clock(61)
    raw.get("Organisation")

    org1 = server.tenant_stats(raw.tenant_id)

    assert statuses == [200, 200, 200, 429, 429]
    assert org1["rate_limited"] == {"minute": 2, "day": 0, "concurrent": 0, "appminute": 0}
    assert (org1["admitted"], org1["peak_calls_per_minute"]) == (4, 3)
    assert org1["by_endpoint"]["GET Organisation"] == {"200": 4, "429": 2}
    assert server.stats()["apps"][server.client_id]["rate_limited"]["minute"] == 2


def test_the_most_calls_in_flight_are_recorded(raw):
    server = raw.server
    server.configure(concurrent_limit=2)
    server.add_fault(method="GET", path="/api.xro/2.0/Organisation", mode="timeout", delay=20, count=2)
    threads = [threading.Thread(target=lambda: _quietly(raw.get, "Organisation", timeout=20)) for _ in range(2)]
    for thread in threads:
        thread.start()
    server.wait_for(lambda: server.state()["in_flight"][raw.tenant_id] == 2)
    limited = raw.get("Contacts")
    server.clear_faults()
    for thread in threads:
        thread.join(timeout=5)

    # A call is counted when the sandbox has answered it, a moment after its client has the answer.
    server.wait_for(lambda: server.tenant_stats(raw.tenant_id)["faults"] == 2)
    org1 = server.tenant_stats(raw.tenant_id)

    assert limited.status_code == 429
    assert (org1["peak_in_flight"], org1["rate_limited"]["concurrent"], org1["faults"]) == (2, 1, 2)


def _quietly(call, *args, **kwargs):
    try:
        call(*args, **kwargs)
    except requests.RequestException:
        pass


def test_stats_are_cleared_on_demand_and_by_reset(raw):
    server = raw.server
    raw.get("Organisation")

    server.clear_stats()
    assert server.stats()["tenants"] == {}
    raw.get("Organisation")
    assert server.tenant_stats(raw.tenant_id)["peak_calls_per_minute"] == 1
    server.reset()
    assert server.stats()["tenants"] == {} and server.stats()["apps"] == {}


def test_the_request_log_can_be_switched_off(raw):
    server = raw.server
    server.configure(request_log=False)
    server.clear_requests_log()  # the connection made by the fixture

    raw.put("Invoices", {"Invoices": [sales_invoice()]})

    assert server.requests_log() == []
    assert server.tenant_stats(raw.tenant_id)["calls"] == 1
    server.configure(request_log=True)
    raw.get("Invoices")
    assert [entry["path"] for entry in server.requests_log()] == ["/api.xro/2.0/Invoices"]
