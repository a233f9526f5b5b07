"""Xero's app-wide minute shared by many organisations at once (issue 24): the limiter never grants more than
the app's minute, splits it fairly, and leaves none of it idle while organisations wait. The organisations ask
in turn, as fast as the limiter answers (one asker: the arithmetic of the share, not the machine's speed, decides
who gets what; tests/accounting/test_sync_load.py presses with threads). A Xero minute lasts one real second (the
limiter's time scale, as the sandbox's in the bench), so three minutes pass in three seconds. Counted, not timed."""

import math
import time
from collections import Counter
from decimal import Decimal

import pytest
from django.utils import timezone

from accounting.models import XeroConnection
from accounting.xero import limits
from payments.services import LineInput, issue_invoice
from tests.factories import AccountingSettingsFactory, CustomerFactory
from tests.services import require

pytestmark = pytest.mark.django_db(transaction=True)
PLAN = LineInput("Plan", Decimal("1"), Decimal("100.00"), Decimal("10"))
SCALE = 60  # a Xero minute is one real second
APP_MINUTE = 40
TENANTS = [f"fair-tenant-{n}" for n in range(10)]
MINUTES = 3


@pytest.mark.parametrize("backend", ["database", "redis"])
def test_organisations_share_the_apps_minute_fairly_and_use_all_of_it(settings, backend):
    require(backend != "redis" or bool(settings.REDIS_URL), "the Redis limiter needs REDIS_URL")
    settings.XERO_RATE_LIMIT_BACKEND = backend
    settings.XERO_LIMIT_TIME_SCALE = SCALE
    settings.XERO_APP_MINUTE_LIMIT = APP_MINUTE
    limits.backend().reset()
    usable = limits.Limits.from_settings().usable(APP_MINUTE)  # 38: the headroom keeps 5% back
    granted: list[tuple[int, str]] = []
    began = time.monotonic()
    while time.monotonic() - began < MINUTES:
        for tenant in TENANTS:
            try:
                permit = limits.acquire(tenant, max_wait=0)
            except limits.XeroRateLimited:
                continue
            granted.append((int(time.monotonic() - began), tenant))
            limits.release(permit, {})

    per_minute = Counter(minute for minute, _ in granted)
    assert max(per_minute.values()) <= usable, "never more than the app's minute (less its headroom)"
    # A minute's calls: each of ten organisations' share is 38 / 10 = 3.8, so 3 or 4 each and all 38 used;
    # shares rounded down would leave 8 of them idle (a fifth of the app's minute with 30 organisations).
    first = Counter(tenant for minute, tenant in granted if minute == 0)
    assert sum(first.values()) == usable, first
    assert {first[tenant] for tenant in TENANTS} <= {3, 4}, first


FINISH_SCALE = 20  # a Xero minute is three real seconds: each asker's turn (a database transaction on that
# backend) stays a small part of the time between the calls the app's minute allows


@pytest.mark.parametrize("backend", ["database", "redis"])
def test_organisations_that_finish_leave_their_share_to_those_still_asking(settings, backend):
    """Bill-run day's waves (bench/RESULTS.md): most organisations finish while a few still have work. The share
    is the app's minute over the organisations still asking, not over all that called in the last minute, so in
    the minute after seven of ten finish the three left use the whole app minute between them, not 3 × 4 of 38."""
    require(backend != "redis" or bool(settings.REDIS_URL), "the Redis limiter needs REDIS_URL")
    settings.XERO_RATE_LIMIT_BACKEND = backend
    settings.XERO_LIMIT_TIME_SCALE = FINISH_SCALE
    settings.XERO_APP_MINUTE_LIMIT = APP_MINUTE
    limits.backend().reset()
    usable = limits.Limits.from_settings().usable(APP_MINUTE)
    minute_seconds = 60 / FINISH_SCALE
    busy, still_asking = 3, TENANTS[:3]
    granted: list[tuple[int, str]] = []
    began = time.monotonic()
    while (elapsed := time.monotonic() - began) < (busy + 1) * minute_seconds:
        minute = int(elapsed // minute_seconds)
        for tenant in TENANTS if minute < busy else still_asking:
            try:
                permit = limits.acquire(tenant, max_wait=0)
            except limits.XeroRateLimited:
                continue
            granted.append((minute, tenant))
            limits.release(permit, {})

    per_minute = Counter(minute for minute, _ in granted)
    assert max(per_minute.values()) <= usable, per_minute
    after = Counter(tenant for minute, tenant in granted if minute == busy)
    assert set(after) <= set(still_asking)
    # The share of each of the three is ceil(38 / 3) = 13 once the others stop asking (a few seconds after their
    # last ask): the app minute's 38 calls go to them, bar the few that came free while the others still counted.
    assert sum(after.values()) >= usable - 3, (per_minute, after)
    assert max(after.values()) - min(after.values()) <= 2, after


@pytest.mark.parametrize("backend", ["database", "redis"])
def test_a_share_grows_as_soon_as_the_others_stop_asking(settings, backend):
    """Ten organisations use most of the app's minute (past the point where shares apply), then seven finish.
    One of the three left is refused for its share: told to ask again within FAIR_RECHECK_SECONDS (not when its
    calls leave the minute, which left the app's minute idle on bill-run day), and served once the seven have
    stopped counting, ASKING_SECONDS after their last ask, long before its own calls leave the minute."""
    require(backend != "redis" or bool(settings.REDIS_URL), "the Redis limiter needs REDIS_URL")
    settings.XERO_RATE_LIMIT_BACKEND = backend
    settings.XERO_LIMIT_TIME_SCALE = FINISH_SCALE
    settings.XERO_APP_MINUTE_LIMIT = APP_MINUTE
    limiter, config = limits.backend(), limits.Limits.from_settings()
    limiter.reset()
    for made in range(32):  # in turn: 32 calls of the 38, 4 each for the first two, 3 for the rest
        permit = limiter.try_acquire(TENANTS[made % len(TENANTS)], config)
        assert isinstance(permit, limits.Permit), permit
        limiter.release(permit, config)
    first = TENANTS[0]
    refusal = limiter.try_acquire(first, config)  # 4 calls against a share of ceil(38 / 10) = 4
    assert isinstance(refusal, limits.Refusal) and refusal.problem == "fair", refusal
    assert refusal.wait <= limits.FAIR_RECHECK_SECONDS / FINISH_SCALE, "asks again soon, not in a minute"

    # The other nine asked last when the loop above served them; seven of them never ask again.
    stop_counting = time.monotonic() + (limits.ASKING_SECONDS + 1) / FINISH_SCALE
    own_calls_leave = time.monotonic() + 55 / FINISH_SCALE
    served = None
    while served is None and time.monotonic() < own_calls_leave:
        for tenant in TENANTS[1:3]:  # the two others still asking keep asking (and are refused)
            limiter.try_acquire(tenant, config)
        decision = limiter.try_acquire(first, config)
        if isinstance(decision, limits.Permit):
            served = time.monotonic()
            limiter.release(decision, config)
        else:
            assert decision.problem == "fair", decision
            time.sleep(decision.wait)
    assert served is not None and served <= stop_counting + limits.FAIR_RECHECK_SECONDS / FINISH_SCALE, (
        "served once the seven stopped counting (share ceil(38 / 3) = 13), not when its own calls left the minute"
    )


@pytest.mark.parametrize("backend", ["database", "redis"])
def test_organisations_with_records_due_count_for_the_share_before_their_runs_call(settings, backend):
    """Bill-run day: every organisation's run is queued at once and the workers take a few at a time. Those whose
    records fell due count for the shares from then (`expect`), so the first run gets its share of a quiet app
    minute, not all it can take before the others have asked (they finished a minute before the rest, 2.02x)."""
    require(backend != "redis" or bool(settings.REDIS_URL), "the Redis limiter needs REDIS_URL")
    settings.XERO_RATE_LIMIT_BACKEND = backend
    settings.XERO_LIMIT_TIME_SCALE = 1  # a real minute: nothing leaves the window while the test runs
    settings.XERO_APP_MINUTE_LIMIT = APP_MINUTE
    limiter, config = limits.backend(), limits.Limits.from_settings()
    limiter.reset()
    for tenant in TENANTS:
        limits.expect(tenant, after=2.0)  # queued by billing's change, to run after the coalescing window
    assert limits.asking() == set(TENANTS)

    first, granted = TENANTS[0], 0
    while isinstance(decision := limiter.try_acquire(first, config), limits.Permit):
        granted += 1
        limiter.release(decision, config)
    share = math.ceil(config.usable(APP_MINUTE) / len(TENANTS))  # ceil(38 / 10) = 4 of the app's 38
    assert (granted, decision.problem) == (share, "fair"), "its share, though the app's minute is all but unused"
    assert decision.wait <= limits.FAIR_RECHECK_SECONDS


def test_a_billing_change_tells_the_limiter_its_organisation_has_calls_to_make(whitelabel, settings):
    """The runner queues the organisation's run after billing's commit and counts it as asking then."""
    settings.XERO_RATE_LIMIT_BACKEND = "database"
    AccountingSettingsFactory(whitelabel=whitelabel, payment_type="postpaid")
    XeroConnection.objects.create(
        whitelabel=whitelabel,
        tenant_id="due-tenant",
        tenant_name="Org",
        connection_id="c",
        connected_at=timezone.now(),
    )
    limits.backend().reset()
    assert limits.asking() == set()
    issue_invoice(CustomerFactory(whitelabel=whitelabel), [PLAN])  # its own transaction: queued after its commit
    assert limits.asking() == {"due-tenant"}


def test_telling_the_limiter_never_fails_billing_when_redis_is_down(settings, caplog):
    """`expect` runs after billing's commit: with Redis out of reach it logs and returns, and the run asks when it
    runs (the limiter's own calls are what must fail closed, not the announcement)."""
    settings.XERO_RATE_LIMIT_BACKEND = "redis"
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    limits.expect("unreachable-tenant", after=2.0)
    assert "Could not tell the rate limiter" in caplog.text
