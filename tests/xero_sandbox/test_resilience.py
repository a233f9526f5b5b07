"""Idempotency keys, rate limits and injected faults: the unhappy paths a Xero client must survive."""

import threading

import pytest
import requests
import urllib3
from xero_python.accounting import Contact, Invoice, Invoices, LineItem
from xero_python.exceptions import RateLimitException

from .test_accounting import sales_invoice

INVOICES = "/api.xro/2.0/Invoices"


def invoice_count(server, tenant_id=None) -> int:
    return len(server.org_state(tenant_id or server.tenant_ids["Organisation 1"])["invoices"])


# Idempotency ---------------------------------------------------------------------------------


def test_replay_with_the_same_key_returns_the_first_response_and_creates_nothing(raw):
    body = {"Invoices": [sales_invoice()]}

    first = raw.put("Invoices", body, headers={"Idempotency-Key": "key-1"})
    second = raw.put("Invoices", body, headers={"Idempotency-Key": "key-1"})

    assert (second.status_code, second.json()) == (first.status_code, first.json())
    assert invoice_count(raw.server) == 1
    log = [e for e in raw.server.requests_log() if e["path"] == INVOICES]
    assert [e["idempotent_replay"] for e in log] == [False, True]
    assert log[0]["headers"]["Idempotency-Key"] == "key-1"
    assert log[0]["headers"]["xero-tenant-id"] == raw.tenant_id


def test_replay_of_a_failed_request_returns_the_same_error(raw):
    body = {"Invoices": [sales_invoice(DueDate=None)]}
    first = raw.put("Invoices", body, headers={"Idempotency-Key": "bad-1"})
    second = raw.put("Invoices", body, headers={"Idempotency-Key": "bad-1"})
    assert first.status_code == second.status_code == 400 and first.json() == second.json()


def test_reusing_a_key_with_a_different_body_is_an_error(raw):
    raw.put("Invoices", {"Invoices": [sales_invoice()]}, headers={"Idempotency-Key": "key-2"})

    other_body = {"Invoices": [sales_invoice(Reference="other")]}
    response = raw.put("Invoices", other_body, headers={"Idempotency-Key": "key-2"})

    assert response.status_code == 400
    assert "already been used with a different request" in response.json()["Message"]
    assert invoice_count(raw.server) == 1


def test_keys_are_scoped_per_tenant_and_expire(raw):
    org2 = raw.server.tenant_ids["Organisation 2"]
    body = {"Invoices": [sales_invoice()]}
    raw.put("Invoices", body, headers={"Idempotency-Key": "shared"})
    raw.for_tenant(org2).put("Invoices", body, headers={"Idempotency-Key": "shared"})
    raw.server.advance_clock(24 * 3600 + 1)
    raw.reconnect()

    raw.put("Invoices", body, headers={"Idempotency-Key": "shared"})

    assert invoice_count(raw.server) == 2 and invoice_count(raw.server, org2) == 1


def test_sdk_passes_idempotency_keys(sdk, org1):
    invoices = Invoices(
        invoices=[
            Invoice(
                type="ACCREC",
                contact=Contact(name="Acme"),
                line_items=[LineItem(description="x", unit_amount=5, account_code="200")],
            )
        ]
    )
    first = sdk.accounting.create_invoices(org1, invoices, idempotency_key="sdk-key")
    again = sdk.accounting.create_invoices(org1, invoices, idempotency_key="sdk-key")
    assert first.invoices[0].invoice_id == again.invoices[0].invoice_id


# Rate limits ---------------------------------------------------------------------------------


def test_minute_limit_answers_429_with_retry_after_and_counts_only_admitted_calls(raw):
    raw.server.configure(minute_limit=3)

    remaining = [raw.get("Organisation").headers["X-MinLimit-Remaining"] for _ in range(3)]
    limited = raw.get("Organisation")

    assert remaining == ["2", "1", "0"]
    assert limited.status_code == 429
    assert limited.headers["X-Rate-Limit-Problem"] == "minute"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert limited.headers["X-MinLimit-Remaining"] == "0"
    raw.server.advance_clock(60)
    assert raw.get("Organisation").headers["X-MinLimit-Remaining"] == "2"


def test_minute_limit_is_per_organisation(raw):
    raw.server.configure(minute_limit=1)
    assert raw.get("Organisation").status_code == 200
    assert raw.for_tenant(raw.server.tenant_ids["Organisation 2"]).get("Organisation").status_code == 200
    assert raw.get("Organisation").status_code == 429


def test_day_limit(raw):
    raw.server.configure(day_limit=2)
    assert [raw.get("Organisation").headers["X-DayLimit-Remaining"] for _ in range(2)] == ["1", "0"]

    limited = raw.get("Organisation")

    assert limited.headers["X-Rate-Limit-Problem"] == "day"
    assert int(limited.headers["Retry-After"]) > 3600
    raw.server.advance_clock(86400)
    raw.reconnect()
    assert raw.get("Organisation").status_code == 200


def test_app_minute_limit_spans_organisations(raw):
    raw.server.configure(app_minute_limit=2)
    org2 = raw.for_tenant(raw.server.tenant_ids["Organisation 2"])
    assert raw.get("Organisation").headers["X-AppMinLimit-Remaining"] == "1"
    assert org2.get("Organisation").headers["X-AppMinLimit-Remaining"] == "0"

    limited = raw.get("Organisation")

    assert (limited.status_code, limited.headers["X-Rate-Limit-Problem"]) == (429, "appminute")


def test_time_scale_shortens_the_minute(raw):
    raw.server.configure(minute_limit=1, time_scale=120)
    raw.get("Organisation")

    limited = raw.get("Organisation")

    assert limited.headers["Retry-After"] == "1"
    raw.server.wait_for(lambda: raw.get("Organisation").status_code == 200, timeout=3)


def test_concurrent_limit_counts_calls_in_flight(raw):
    server = raw.server
    server.configure(concurrent_limit=2)
    server.add_fault(method="GET", path="/api.xro/2.0/Organisation", mode="timeout", delay=20, count=2)
    errors = []

    def held_call():
        try:
            raw.for_tenant(raw.tenant_id).get("Organisation", timeout=20)
        except requests.RequestException as error:
            errors.append(error)

    threads = [threading.Thread(target=held_call) for _ in range(2)]
    for thread in threads:
        thread.start()
    server.wait_for(lambda: server.state()["in_flight"][raw.tenant_id] == 2)

    limited = raw.get("Contacts")

    assert (limited.status_code, limited.headers["X-Rate-Limit-Problem"]) == (429, "concurrent")
    assert limited.headers["Retry-After"] == "1"
    server.clear_faults()
    for thread in threads:
        thread.join(timeout=5)
    assert len(errors) == 2
    assert raw.get("Contacts").status_code == 200


def test_xero_python_raises_rate_limit_exception(sdk, sandbox_urls, org1):
    sdk.api_client.rest_client.pool_manager = urllib3.PoolManager(retries=False)
    sandbox_urls.configure(minute_limit=1)
    sdk.accounting.get_organisations(org1)

    with pytest.raises(RateLimitException) as raised:
        sdk.accounting.get_organisations(org1)

    assert raised.value.rate_limit == "minute"


# Faults --------------------------------------------------------------------------------------


def test_status_fault_fails_the_next_calls_without_doing_anything(raw):
    raw.server.add_fault(method="PUT", path=INVOICES, status=503, count=2)
    body = {"Invoices": [sales_invoice()]}

    statuses = [raw.put("Invoices", body).status_code for _ in range(3)]

    assert statuses == [503, 503, 200]
    assert invoice_count(raw.server) == 1
    assert [e["fault"] for e in raw.server.requests_log() if e["path"] == INVOICES] == ["status", "status", None]


def test_rate_limit_fault_carries_retry_after_and_problem(raw):
    raw.server.add_fault(path="/api.xro/2.0/*", status=429, retry_after=7, problem="day")

    response = raw.get("Contacts")

    assert response.status_code == 429
    assert (response.headers["Retry-After"], response.headers["X-Rate-Limit-Problem"]) == ("7", "day")


def test_fault_body_and_method_matching(raw):
    raw.server.add_fault(method="GET", path="/api.xro/2.0/Contacts", status=500, body={"Message": "boom"})

    assert raw.put("Contacts", {"Contacts": [{"Name": "A"}]}).status_code == 200
    failed = raw.get("Contacts")

    assert (failed.status_code, failed.json()) == (500, {"Message": "boom"})
    assert raw.get("Contacts").status_code == 200


def test_timeout_fault_holds_the_call_and_never_processes_it(raw):
    raw.server.add_fault(method="PUT", path=INVOICES, mode="timeout", delay=10)

    with pytest.raises(requests.Timeout):
        raw.put("Invoices", {"Invoices": [sales_invoice()]}, timeout=0.3)

    raw.server.clear_faults()
    raw.server.wait_for(lambda: raw.server.state()["in_flight"][raw.tenant_id] == 0)
    assert invoice_count(raw.server) == 0


def test_drop_response_commits_but_the_client_sees_a_connection_error(raw):
    raw.server.add_fault(method="POST", path=INVOICES, mode="drop_response")

    with pytest.raises(requests.ConnectionError):
        raw.post("Invoices", {"Invoices": [sales_invoice(InvoiceNumber="DROP-1")]})

    assert [i["InvoiceNumber"] for i in raw.server.org_state()["invoices"]] == ["DROP-1"]
    assert raw.server.requests_log()[-1]["fault"] == "drop_response"


def test_status_after_commits_then_answers_the_gateway_error_and_a_retry_replays_the_success(raw):
    raw.server.add_fault(method="PUT", path=INVOICES, mode="status_after", status=502)
    body = {"Invoices": [sales_invoice(InvoiceNumber="GW-1")]}

    first = raw.put("Invoices", body, headers={"Idempotency-Key": "gw-1"})
    again = raw.put("Invoices", body, headers={"Idempotency-Key": "gw-1"})

    assert first.status_code == 502 and again.status_code == 200
    assert [i["InvoiceNumber"] for i in raw.server.org_state()["invoices"]] == ["GW-1"]
    assert [e["idempotent_replay"] for e in raw.server.requests_log() if e["path"] == INVOICES] == [False, True]


def test_slow_fault_carries_out_the_call_after_the_client_gave_up(raw):
    raw.server.add_fault(method="PUT", path=INVOICES, mode="slow", delay=10)

    with pytest.raises(requests.Timeout):
        raw.put("Invoices", {"Invoices": [sales_invoice(InvoiceNumber="SLOW-1")]}, timeout=0.3)
    assert invoice_count(raw.server) == 0, "held, not yet done"

    raw.server.clear_faults()
    raw.server.wait_for(lambda: invoice_count(raw.server) == 1)
    assert raw.server.org_state()["invoices"][0]["InvoiceNumber"] == "SLOW-1"


def _sdk_invoice():
    return Invoices(
        invoices=[
            Invoice(
                type="ACCREC",
                contact=Contact(name="Acme"),
                status="DRAFT",
                line_items=[LineItem(description="x", unit_amount=5, account_code="200")],
            )
        ]
    )


def test_xero_python_retries_a_dropped_put_and_duplicates_the_invoice(sdk, sandbox_urls, org1):
    sandbox_urls.add_fault(method="PUT", path=INVOICES, mode="drop_response")

    sdk.accounting.create_invoices(org1, _sdk_invoice())

    assert invoice_count(sandbox_urls) == 2


def test_an_idempotency_key_makes_the_retried_put_safe(sdk, sandbox_urls, org1):
    sandbox_urls.add_fault(method="PUT", path=INVOICES, mode="drop_response")

    sdk.accounting.create_invoices(org1, _sdk_invoice(), idempotency_key="retry-safe")

    assert invoice_count(sandbox_urls) == 1


def test_token_endpoint_faults(xero_sandbox):
    token = xero_sandbox.connect()
    xero_sandbox.add_fault(method="POST", path="/connect/token", status=500)
    data = {"grant_type": "refresh_token", "refresh_token": token["refresh_token"]}
    auth = (xero_sandbox.client_id, xero_sandbox.client_secret)

    failed = requests.post(f"{xero_sandbox.url}/connect/token", data=data, auth=auth, timeout=5)
    recovered = requests.post(f"{xero_sandbox.url}/connect/token", data=data, auth=auth, timeout=5)

    assert failed.status_code == 500 and recovered.status_code == 200
    xero_sandbox.add_fault(method="POST", path="/connect/token", mode="timeout", delay=10)
    with pytest.raises(requests.Timeout):
        requests.post(f"{xero_sandbox.url}/connect/token", data=data, auth=auth, timeout=0.3)


def test_faults_can_be_listed_and_cleared(xero_sandbox):
    xero_sandbox.add_fault(path="/connections", status=401, count=None)
    assert [f["status"] for f in xero_sandbox.state()["faults"]] == [401]
    xero_sandbox.clear_faults()
    assert xero_sandbox.state()["faults"] == []


def test_a_request_answered_after_a_reset_stays_out_of_the_new_log(xero_sandbox):
    """A call held by a fault (a client that gave up on it, in the test before) is answered after the next
    test's reset: it belongs to the log and stats the reset cleared (test_connect's one code exchange and one
    refresh once counted three token requests, the third the previous test's timeout)."""
    token = xero_sandbox.connect()
    data = {"grant_type": "refresh_token", "refresh_token": token["refresh_token"]}
    auth = (xero_sandbox.client_id, xero_sandbox.client_secret)
    xero_sandbox.add_fault(method="POST", path="/connect/token", mode="slow", delay=30, count=None)
    answers: list = []
    held = threading.Thread(
        target=lambda: answers.append(requests.post(f"{xero_sandbox.url}/connect/token", data=data, auth=auth))
    )
    held.start()
    xero_sandbox.wait_for(lambda: [f["hits"] for f in xero_sandbox.state()["faults"]] == [1], timeout=10)
    xero_sandbox.reset()  # clears the fault: the held call goes on and is answered
    held.join(timeout=10)

    assert len(answers) == 1, "answered once the reset let it go"
    assert [r for r in xero_sandbox.requests_log() if r["path"] == "/connect/token"] == []
