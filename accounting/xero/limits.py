"""Xero's rate limits, shared by every worker: per organisation 60 calls in any rolling minute, 5 in
flight and 5,000 a day; per app 10,000 a minute across all organisations.

Every accounting call takes a permit first (`acquire`). A call that would break a limit waits, if the
wait is short (`XERO_RATE_LIMIT_MAX_WAIT_SECONDS`), or raises `XeroRateLimited` with the time until
budget frees up, so a sync run gives its worker back instead of holding it. The limiter learns from
Xero's answers: `X-MinLimit-Remaining`, `X-DayLimit-Remaining` and `X-AppMinLimit-Remaining` lower what
it thinks is left (another app instance may share the budget), and a 429's `Retry-After` blocks the
organisation (or, for the app-wide limit, every organisation) until then.

Fair sharing: an organisation gets at most its share of the app-wide minute (the budget divided by the
organisations still asking, rounded up: the app-wide check still caps the total, and rounding down left up to one
call per organisation of each minute unused, a fifth of it with 30 organisations on bill-run day), so one
whitelabel's backlog cannot starve the others. It applies from the first call: with a threshold (80% of the app's
minute until 2026-12-07) the organisations whose runs came first took the first minute before the others had asked
at all, and finished a minute or more before them (bench/RESULTS.md); a share only binds when the app's minute
over the organisations asking is below an organisation's own (over 166 asking, at Xero's 10,000 and 60).
An organisation is still asking for a few seconds after a call (`ASKING_SECONDS`), and after a refusal until it
may ask again: one that has finished stops counting at once, not a minute after its last call; one whose records
fell due counts from when its run is queued (`expect`), before that run has made a call. A refusal for its share
says to ask again within `FAIR_RECHECK_SECONDS`, not when its own calls leave the minute: the share grows when
others finish (bill-run day's waves in bench/RESULTS.md were organisations asleep on a minute-long wait while the
app's minute sat idle).

Two backends with the same behaviour: Redis (production; one Lua script per decision, Redis's own
clock) and the database (the embedded default without Redis; a row per organisation under a row lock).
`XERO_LIMIT_TIME_SCALE` shortens Xero's minute and day for benchmarks against the sandbox started with
the same `--time-scale`; it is 1 in production.
"""

import logging
import math
import time
import uuid
from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.db import connection as db_connection

from .errors import XeroRateLimited, XeroUnavailable

logger = logging.getLogger(__name__)
MINUTE, DAY = 60.0, 86400.0
# Xero counts a call when it arrives; we count it from when it ended (release re-stamps it), which is never
# earlier, and keep our windows a little longer than Xero's besides, for the clocks' differences.
MARGIN_SECONDS, MARGIN_REAL_SECONDS = 1.0, 0.1
CONCURRENT_RETRY = 0.05  # seconds before asking again when all in-flight slots are taken
ASKING_SECONDS = 5.0  # (Xero) seconds an organisation counts as still asking after its last call or refusal
FAIR_RECHECK_SECONDS = 10.0  # (Xero) seconds at most before one refused for its share asks again
# Real seconds an organisation whose records fell due counts as asking before its queued run first asks (`expect`):
# on bill-run day every organisation's run is queued at once, and the workers take them a few at a time.
EXPECTED_SECONDS = 30.0
TENANTS_KEY_SECONDS = 3600  # the Redis set of those asking is trimmed by score; the key's expiry only tidies up
# Refusals after which an organisation is still asking for the app's minute (not: its day is used up, or Xero
# blocked it with a Retry-After: its share goes to the others meanwhile).
ASKING_PROBLEMS = ("appminute", "fair", "minute", "concurrent")


@dataclass(frozen=True)
class Limits:
    minute: int
    concurrent: int
    day: int
    app_minute: int
    scale: float
    permit_ttl: float  # seconds after which a permit a dead worker held lapses
    headroom: float = 0.0  # the share of each counted limit left unused, so a loaded machine stays clear of it

    def usable(self, limit: int) -> int:
        """What the limiter grants of one of Xero's counted limits (a minute's or a day's calls): the limit less
        the headroom, at least one call."""
        return max(1, math.floor(limit * (1 - self.headroom)))

    @property
    def margin(self) -> float:
        """How much longer than Xero's our minute and day last, in (scaled) window seconds."""
        return max(MARGIN_SECONDS, MARGIN_REAL_SECONDS * self.scale)

    @classmethod
    def from_settings(cls) -> "Limits":
        return cls(
            minute=settings.XERO_MINUTE_LIMIT,
            concurrent=settings.XERO_CONCURRENT_LIMIT,
            day=settings.XERO_DAY_LIMIT,
            app_minute=settings.XERO_APP_MINUTE_LIMIT,
            scale=settings.XERO_LIMIT_TIME_SCALE,
            permit_ttl=settings.XERO_HTTP_TIMEOUT + 30,
            headroom=settings.XERO_RATE_LIMIT_HEADROOM,
        )


@dataclass(frozen=True)
class Permit:
    tenant_id: str
    id: str


@dataclass(frozen=True)
class Refusal:
    wait: float  # real seconds until a call may be admitted
    problem: str  # minute, day, concurrent, appminute, fair, blocked


def _remaining(headers: dict) -> dict[str, int]:
    """Xero's X-*Limit-Remaining headers, by window."""
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    found = {}
    for window, header in (
        ("minute", "x-minlimit-remaining"),
        ("day", "x-daylimit-remaining"),
        ("appminute", "x-appminlimit-remaining"),
    ):
        try:
            found[window] = int(lowered[header])
        except (KeyError, TypeError, ValueError):
            continue
    return found


# Redis ---------------------------------------------------------------------------------------------

_ACQUIRE = """
local minute, day, app, inflight = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local tenants, blocked, app_blocked = KEYS[5], KEYS[6], KEYS[7]
local tenant, permit = ARGV[1], ARGV[2]
local min_limit, conc_limit = tonumber(ARGV[3]), tonumber(ARGV[4])
local day_limit, app_limit = tonumber(ARGV[5]), tonumber(ARGV[6])
local scale, ttl, key_ttl = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local minute_len, day_len = 60 + tonumber(ARGV[10]), 86400 + tonumber(ARGV[10])
local hold, recheck = tonumber(ARGV[11]), tonumber(ARGV[12])
local t = redis.call('TIME')
local real = tonumber(t[1]) + tonumber(t[2]) / 1000000
local now = real * scale
for _, key in ipairs({blocked, app_blocked}) do
  local b = redis.call('HMGET', key, 'until', 'problem')
  if b[1] and tonumber(b[1]) > real then
    return {tostring(tonumber(b[1]) - real), b[2] or 'blocked'}
  end
end
redis.call('ZREMRANGEBYSCORE', minute, '-inf', now - minute_len)
redis.call('ZREMRANGEBYSCORE', day, '-inf', now - day_len)
redis.call('ZREMRANGEBYSCORE', app, '-inf', now - minute_len)
redis.call('ZREMRANGEBYSCORE', tenants, '-inf', now)
redis.call('ZREMRANGEBYSCORE', inflight, '-inf', real)
-- tenants: the organisations still asking, each scored with when it stops counting (see ASKING_SECONDS)
local function asking(wait)
  redis.call('ZADD', tenants, 'GT', now + math.max(wait, 0) * scale + hold, tenant)
  redis.call('EXPIRE', tenants, key_ttl)
end
local function refuse(wait, problem)
  asking(wait)
  return {tostring(wait), problem}
end
local function wait_until_below(key, period, limit)
  local n = redis.call('ZCARD', key)
  if n < limit then return nil end
  local oldest = redis.call('ZRANGE', key, n - limit, n - limit, 'WITHSCORES')
  return (tonumber(oldest[2]) + period - now) / scale
end
local w = wait_until_below(day, day_len, day_limit)
if w then return {tostring(w), 'day'} end
w = wait_until_below(app, minute_len, app_limit)
if w then return refuse(w, 'appminute') end
-- the share, from the first call (the module's docstring says why)
local active = redis.call('ZCARD', tenants)
if not redis.call('ZSCORE', tenants, tenant) then active = active + 1 end
local share = math.max(1, math.ceil(app_limit / math.max(active, 1)))
if share < min_limit then
  w = wait_until_below(minute, minute_len, share)
  if w then return refuse(math.min(w, recheck / scale), 'fair') end
end
w = wait_until_below(minute, minute_len, min_limit)
if w then return refuse(w, 'minute') end
if redis.call('ZCARD', inflight) >= conc_limit then
  asking(0)
  return {'-1', 'concurrent'}
end
redis.call('ZADD', minute, now, permit)
redis.call('ZADD', day, now, permit)
redis.call('ZADD', app, now, tenant .. '|' .. permit)
asking(0)
redis.call('ZADD', inflight, real + ttl, permit)
redis.call('EXPIRE', minute, math.ceil(120 / scale) + 1)
redis.call('EXPIRE', app, math.ceil(120 / scale) + 1)
redis.call('EXPIRE', day, math.ceil(2 * 86400 / scale) + 1)
redis.call('EXPIRE', inflight, math.ceil(ttl) + 1)
return {'0', ''}
"""

# Pads a window so that what is left matches what Xero says is left.
_OBSERVE = """
local key, limit, remaining = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])
local period, scale, tag = tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local t = redis.call('TIME')
local now = (tonumber(t[1]) + tonumber(t[2]) / 1000000) * scale
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - period)
local missing = (limit - redis.call('ZCARD', key)) - remaining
for i = 1, missing do redis.call('ZADD', key, now, tag .. ':' .. i) end
if missing > 0 then redis.call('EXPIRE', key, math.ceil(2 * period / scale) + 1) end
return missing
"""


# The call is over: it leaves the in-flight set, and its place in the windows moves to now. Xero counted it
# when it arrived, somewhere between the permit and now: counting from now never lets a call in early.
_RELEASE = """
local inflight, minute, day, app = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local permit, app_member, scale = ARGV[1], ARGV[2], tonumber(ARGV[3])
local t = redis.call('TIME')
local now = (tonumber(t[1]) + tonumber(t[2]) / 1000000) * scale
redis.call('ZREM', inflight, permit)
redis.call('ZADD', minute, 'XX', now, permit)
redis.call('ZADD', day, 'XX', now, permit)
redis.call('ZADD', app, 'XX', now, app_member)
return 1
"""

# An organisation with records due (its run is queued) counts as asking from now until `delay` real seconds on,
# and ASKING_SECONDS after: the others' shares count it before its run has made a call.
_EXPECT = """
local tenants, tenant = KEYS[1], ARGV[1]
local scale, delay, hold, key_ttl = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local t = redis.call('TIME')
local now = (tonumber(t[1]) + tonumber(t[2]) / 1000000) * scale
redis.call('ZREMRANGEBYSCORE', tenants, '-inf', now)
redis.call('ZADD', tenants, 'GT', now + delay * scale + hold, tenant)
redis.call('EXPIRE', tenants, key_ttl)
"""


APP_TENANTS_KEY = "xero-rl:app:tenants"  # the organisations asking for the app's minute, each until when


class RedisLimiter:
    def __init__(self, url: str):
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)
        self._acquire = self._redis.register_script(_ACQUIRE)
        self._observe = self._redis.register_script(_OBSERVE)
        self._release = self._redis.register_script(_RELEASE)
        self._expect = self._redis.register_script(_EXPECT)
        self._errors = (redis.RedisError,)

    @staticmethod
    def _keys(tenant_id: str) -> dict[str, str]:
        base = f"xero-rl:{tenant_id}"
        return {
            "minute": f"{base}:minute",
            "day": f"{base}:day",
            "inflight": f"{base}:inflight",
            "blocked": f"{base}:blocked",
            "app": "xero-rl:app:minute",
            "tenants": APP_TENANTS_KEY,
            "app_blocked": "xero-rl:app:blocked",
        }

    def try_acquire(self, tenant_id: str, limits: Limits) -> Permit | Refusal:
        keys = self._keys(tenant_id)
        permit = Permit(tenant_id, uuid.uuid4().hex)
        try:
            wait, problem = self._acquire(
                keys=[keys[k] for k in ("minute", "day", "app", "inflight", "tenants", "blocked", "app_blocked")],
                args=[
                    tenant_id,
                    permit.id,
                    limits.usable(limits.minute),
                    limits.concurrent,
                    limits.usable(limits.day),
                    limits.usable(limits.app_minute),
                    limits.scale,
                    limits.permit_ttl,
                    TENANTS_KEY_SECONDS,
                    limits.margin,
                    ASKING_SECONDS,
                    FAIR_RECHECK_SECONDS,
                ],
            )
        except self._errors as exc:
            raise XeroUnavailable(f"The rate limiter (Redis) could not be reached: {type(exc).__name__}.") from None
        wait = float(wait)
        if wait == 0 and not problem:
            return permit
        problem = problem.decode() if isinstance(problem, bytes) else problem
        return Refusal(CONCURRENT_RETRY if wait < 0 else max(wait, 0.001), problem)

    def release(self, permit: Permit, limits: Limits) -> None:
        keys = self._keys(permit.tenant_id)
        try:
            self._release(
                keys=[keys["inflight"], keys["minute"], keys["day"], keys["app"]],
                args=[permit.id, f"{permit.tenant_id}|{permit.id}", limits.scale],
            )
        except self._errors:
            logger.warning("Could not release a Xero rate-limit permit; it lapses on its own")

    def observe(self, tenant_id: str, remaining: dict[str, int], limits: Limits) -> None:
        keys = self._keys(tenant_id)
        windows = {
            "minute": (keys["minute"], limits.minute, MINUTE + limits.margin),
            "day": (keys["day"], limits.day, DAY + limits.margin),
            "appminute": (keys["app"], limits.app_minute, MINUTE + limits.margin),
        }
        try:
            for window, left in remaining.items():
                key, limit, period = windows[window]
                self._observe(keys=[key], args=[limit, left, period, limits.scale, f"xero:{uuid.uuid4().hex}"])
        except self._errors:
            logger.warning("Could not record Xero's remaining rate-limit budget")

    def block(self, tenant_id: str, seconds: float, problem: str) -> None:
        keys = self._keys(tenant_id)
        key = keys["app_blocked"] if problem == "appminute" else keys["blocked"]
        until = time.time() + seconds
        try:
            current = self._redis.hget(key, "until")
            if current is None or float(current) < until:
                self._redis.hset(key, mapping={"until": until, "problem": problem})
                self._redis.expire(key, math.ceil(seconds) + 1)
        except self._errors:
            logger.warning("Could not record Xero's Retry-After")

    def expect(self, tenant_id: str, delay: float, limits: Limits) -> None:
        try:
            self._expect(
                keys=[self._keys(tenant_id)["tenants"]],
                args=[tenant_id, limits.scale, delay, ASKING_SECONDS, TENANTS_KEY_SECONDS],
            )
        except self._errors:
            logger.warning("Could not tell the rate limiter an organisation has calls to make; its run will")

    def asking(self, limits: Limits) -> set[str]:
        now = self._redis.time()
        scaled = (now[0] + now[1] / 1_000_000) * limits.scale
        found = self._redis.zrangebyscore(APP_TENANTS_KEY, f"({scaled}", "+inf")
        return {tenant.decode() for tenant in found}

    def reset(self) -> None:
        for key in self._redis.scan_iter("xero-rl:*"):
            self._redis.delete(key)


# Database ------------------------------------------------------------------------------------------


def _still_asking(asking: dict[str, float], now: float) -> dict[str, float]:
    """The organisations of `asking` (each with the moment, on the limiter's clock, it stops) still asking."""
    return {tenant: until for tenant, until in asking.items() if until > now}


class DatabaseLimiter:
    """The same decisions over XeroRateBucket rows, under row locks (SQLite: its write lock)."""

    APP = "app"

    @staticmethod
    def _now(limits: Limits) -> tuple[float, float]:
        real = time.time()
        return real, real * limits.scale

    @staticmethod
    def _ensure(tenant_id: str) -> None:
        """Create the rows outside the locking transaction (two creating at once would deadlock)."""
        from ..models import XeroRateBucket

        for key in (DatabaseLimiter.APP, f"tenant:{tenant_id}"):
            if not XeroRateBucket.objects.filter(key=key).exists():
                try:
                    with transaction.atomic():
                        XeroRateBucket.objects.create(key=key)
                except IntegrityError:
                    pass

    def _rows(self, tenant_id: str):
        """Both rows, locked in one order (the app's first) by every caller: no deadlocks."""
        from ..models import XeroRateBucket

        locked = XeroRateBucket.objects.select_for_update()
        return locked.get(key=self.APP), locked.get(key=f"tenant:{tenant_id}")

    @staticmethod
    def _trim(row, now: float, real: float, limits: Limits) -> None:
        row.calls = [c for c in row.calls if c[0] > now - MINUTE - limits.margin]
        slot = int(now // MINUTE)
        row.day = {k: v for k, v in row.day.items() if int(k) > slot - DAY / MINUTE - 1}
        row.in_flight = {k: v for k, v in row.in_flight.items() if v > real}
        row.asking = _still_asking(row.asking, now)

    @staticmethod
    def _wait(times: list[float], now: float, period: float, limit: int, scale: float) -> float | None:
        if len(times) < limit:
            return None
        times = sorted(times)
        return (times[len(times) - limit] + period - now) / scale

    def try_acquire(self, tenant_id: str, limits: Limits) -> Permit | Refusal:
        real, now = self._now(limits)
        self._ensure(tenant_id)
        with transaction.atomic():
            app, row = self._rows(tenant_id)
            for bucket in (row, app):
                if bucket.blocked_until > real:
                    return Refusal(bucket.blocked_until - real, bucket.blocked_problem or "blocked")
            self._trim(row, now, real, limits)
            self._trim(app, now, real, limits)
            decision = self._decide(tenant_id, app, row, now, real, limits)
            if isinstance(decision, Permit) or decision.problem in ASKING_PROBLEMS:
                wait = 0.0 if isinstance(decision, Permit) else decision.wait
                until = now + wait * limits.scale + ASKING_SECONDS
                app.asking[tenant_id] = max(app.asking.get(tenant_id, 0.0), until)
                app.save(update_fields=["calls", "asking"])
            return decision

    def _decide(self, tenant_id: str, app, row, now: float, real: float, limits: Limits) -> Permit | Refusal:
        day_calls = sum(row.day.values())
        if day_calls >= limits.usable(limits.day):
            oldest = min(int(k) for k in row.day)
            return Refusal(((oldest + 2) * MINUTE + DAY - now) / limits.scale, "day")
        minute = MINUTE + limits.margin
        app_times = [c[0] for c in app.calls]
        app_minute, my_minute = limits.usable(limits.app_minute), limits.usable(limits.minute)
        wait = self._wait(app_times, now, minute, app_minute, limits.scale)
        if wait is not None:
            return Refusal(wait, "appminute")
        mine = [c[0] for c in row.calls]
        share = max(1, math.ceil(app_minute / len(set(app.asking) | {tenant_id})))  # from the first call
        if share < my_minute:
            wait = self._wait(mine, now, minute, share, limits.scale)
            if wait is not None:
                return Refusal(min(wait, FAIR_RECHECK_SECONDS / limits.scale), "fair")
        wait = self._wait(mine, now, minute, my_minute, limits.scale)
        if wait is not None:
            return Refusal(wait, "minute")
        if len(row.in_flight) >= limits.concurrent:
            return Refusal(CONCURRENT_RETRY, "concurrent")
        permit = Permit(tenant_id, uuid.uuid4().hex)
        row.calls.append([now, tenant_id, permit.id])
        app.calls.append([now, tenant_id, permit.id])
        slot = str(int(now // MINUTE))
        row.day[slot] = row.day.get(slot, 0) + 1
        row.in_flight[permit.id] = real + limits.permit_ttl
        row.save(update_fields=["calls", "day", "in_flight"])
        return permit

    def release(self, permit: Permit, limits: Limits) -> None:
        """The call leaves the in-flight set and counts in the windows from now (see _RELEASE)."""
        _, now = self._now(limits)
        with transaction.atomic():
            app, row = self._rows(permit.tenant_id)
            row.in_flight.pop(permit.id, None)
            for bucket in (row, app):
                bucket.calls = [[now, *call[1:]] if call[2:] == [permit.id] else call for call in bucket.calls]
            row.save(update_fields=["in_flight", "calls"])
            app.save(update_fields=["calls"])

    def observe(self, tenant_id: str, remaining: dict[str, int], limits: Limits) -> None:
        real, now = self._now(limits)
        self._ensure(tenant_id)
        with transaction.atomic():
            app, row = self._rows(tenant_id)
            self._trim(row, now, real, limits)
            self._trim(app, now, real, limits)
            if "minute" in remaining:
                missing = (limits.minute - len(row.calls)) - remaining["minute"]
                row.calls += [[now, tenant_id]] * max(missing, 0)
            if "day" in remaining:
                missing = (limits.day - sum(row.day.values())) - remaining["day"]
                slot = str(int(now // MINUTE))
                row.day[slot] = row.day.get(slot, 0) + max(missing, 0)
            if "appminute" in remaining:
                missing = (limits.app_minute - len(app.calls)) - remaining["appminute"]
                app.calls += [[now, tenant_id]] * max(missing, 0)
            row.save(update_fields=["calls", "day", "in_flight"])
            app.save(update_fields=["calls"])

    def block(self, tenant_id: str, seconds: float, problem: str) -> None:
        self._ensure(tenant_id)
        with transaction.atomic():
            app, row = self._rows(tenant_id)
            bucket = app if problem == "appminute" else row
            until = time.time() + seconds
            if bucket.blocked_until < until:
                bucket.blocked_until, bucket.blocked_problem = until, problem
                bucket.save(update_fields=["blocked_until", "blocked_problem"])

    def expect(self, tenant_id: str, delay: float, limits: Limits) -> None:
        from ..models import XeroRateBucket

        _, now = self._now(limits)
        try:
            self._ensure(tenant_id)
            with transaction.atomic():
                app = XeroRateBucket.objects.select_for_update().get(key=self.APP)
                app.asking = _still_asking(app.asking, now)
                until = now + delay * limits.scale + ASKING_SECONDS
                app.asking[tenant_id] = max(app.asking.get(tenant_id, 0.0), until)
                app.save(update_fields=["asking"])
        except DatabaseError:  # after billing's commit: its change stands, and the run asks when it runs
            logger.warning("Could not tell the rate limiter an organisation has calls to make; its run will")

    def asking(self, limits: Limits) -> set[str]:
        from ..models import XeroRateBucket

        _, now = self._now(limits)
        app = XeroRateBucket.objects.filter(key=self.APP).values_list("asking", flat=True).first() or {}
        return set(_still_asking(app, now))

    def reset(self) -> None:
        from ..models import XeroRateBucket

        XeroRateBucket.objects.all().delete()


# The limiter in use ---------------------------------------------------------------------------------


@cache
def _backend_for(name: str, url: str):
    return RedisLimiter(url) if name == "redis" else DatabaseLimiter()


def backend():
    return _backend_for(settings.XERO_RATE_LIMIT_BACKEND, settings.REDIS_URL)


def acquire(tenant_id: str, *, max_wait: float | None = None) -> Permit:
    """A permit for one call to `tenant_id`'s organisation. Waits up to `max_wait` seconds (no database
    connection held while waiting); beyond that raises XeroRateLimited saying how long to wait."""
    limits = Limits.from_settings()
    max_wait = settings.XERO_RATE_LIMIT_MAX_WAIT_SECONDS if max_wait is None else max_wait
    deadline = time.monotonic() + max_wait
    limiter = backend()
    while True:
        decision = limiter.try_acquire(tenant_id, limits)
        if isinstance(decision, Permit):
            return decision
        if time.monotonic() + decision.wait > deadline:
            raise XeroRateLimited(decision.wait, decision.problem, local=True)
        if decision.wait > 0.2 and not db_connection.in_atomic_block:
            db_connection.close()  # don't hold a connection (or its pool slot) while waiting
        time.sleep(decision.wait)


def release(permit: Permit, headers: dict | None = None) -> None:
    """The call is over; learn what Xero says is left."""
    limiter, limits = backend(), Limits.from_settings()
    limiter.release(permit, limits)
    remaining = _remaining(headers or {})
    if remaining:
        limiter.observe(permit.tenant_id, remaining, limits)


def expect(tenant_id: str, *, after: float = 0.0) -> None:
    """`tenant_id`'s organisation has records due from `after` seconds on (its run is queued): it counts as asking
    for a share of the app's minute from now, before its run makes a call, for EXPECTED_SECONDS past `after`.
    On bill-run day every organisation's run is queued at once and the workers take a few at a time: without this
    the first ones took the first minute before the others had asked. Never raises: the run asks when it runs."""
    backend().expect(tenant_id, max(after, 0.0) + EXPECTED_SECONDS, Limits.from_settings())


def asking() -> set[str]:
    """The organisations that count for the app's minute's shares now (read by tests/accounting/test_app_share.py;
    nothing in the app needs it)."""
    return backend().asking(Limits.from_settings())


def refused(tenant_id: str, *, retry_after: float, problem: str | None) -> None:
    """Xero answered 429: nobody calls this organisation (or, for the app limit, anyone) until then."""
    backend().block(tenant_id, retry_after, (problem or "minute").lower())
