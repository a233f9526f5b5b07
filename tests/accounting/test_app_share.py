"""Xero's app-wide minute shared by many organisations at once (issue 24): the limiter never grants more than
the app's minute, splits it fairly, and leaves none of it idle while organisations wait. The organisations ask
in turn, as fast as the limiter answers (one asker: the arithmetic of the share, not the machine's speed, decides
who gets what; tests/accounting/test_sync_load.py presses with threads). A Xero minute lasts one real second (the
limiter's time scale, as the sandbox's in the bench), so three minutes pass in three seconds. Counted, not timed."""

import time
from collections import Counter

import pytest

from accounting.xero import limits
from tests.services import require

pytestmark = pytest.mark.django_db(transaction=True)
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
