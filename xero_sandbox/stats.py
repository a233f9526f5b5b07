"""Counters for benchmarks and rate-limiter tests: ``GET /_sandbox/stats``.

Per organisation (tenant): calls by endpoint and status, 429s by problem, the most calls in flight
at once and the most admitted calls in any rolling Xero minute (on the sandbox's scaled clock, so
with ``time_scale`` a "minute" is shorter). Per app: the same totals. ``clear()`` starts again
(``DELETE /_sandbox/stats`` and reset do it).
"""
import threading
from collections import Counter, defaultdict, deque
from datetime import datetime, timezone

MINUTE = 60.0
PROBLEMS = ("minute", "day", "concurrent", "appminute")


class _Totals:
    def __init__(self):
        self.calls = 0
        self.by_status: Counter = Counter()
        self.by_endpoint: dict[str, Counter] = defaultdict(Counter)
        self.rate_limited: Counter = Counter({problem: 0 for problem in PROBLEMS})
        self.faults = 0
        self.admitted = 0
        self.window: deque = deque()
        self.peak_minute = 0
        self.peak_in_flight = 0

    def admit(self, now: float) -> None:
        self.admitted += 1
        window = self.window
        window.append(now)
        while window and window[0] <= now - MINUTE:
            window.popleft()
        self.peak_minute = max(self.peak_minute, len(window))

    def as_dict(self, *, in_flight: bool) -> dict:
        body = {
            "calls": self.calls,
            "by_status": {str(status): count for status, count in sorted(self.by_status.items())},
            "by_endpoint": {
                endpoint: {str(status): count for status, count in sorted(counts.items())}
                for endpoint, counts in sorted(self.by_endpoint.items())
            },
            "rate_limited": dict(self.rate_limited),
            "faults": self.faults,
            "admitted": self.admitted,
            "peak_calls_per_minute": self.peak_minute,
        }
        if in_flight:
            body["peak_in_flight"] = self.peak_in_flight
        return body


class Stats:
    def __init__(self):
        self._lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        with self._lock:
            self._tenants: dict[str, _Totals] = defaultdict(_Totals)
            self._apps: dict[str, _Totals] = defaultdict(_Totals)
            self._since = datetime.now(timezone.utc)

    # Called by the rate limiter (under its lock) --------------------------------------------

    def admitted(self, tenant_id: str, client_id: str, window_now: float, in_flight: int) -> None:
        with self._lock:
            tenant = self._tenants[tenant_id]
            tenant.admit(window_now)
            tenant.peak_in_flight = max(tenant.peak_in_flight, in_flight)
            self._apps[client_id].admit(window_now)

    def rejected(self, tenant_id: str, client_id: str, problem: str) -> None:
        with self._lock:
            self._tenants[tenant_id].rate_limited[problem] += 1
            self._apps[client_id].rate_limited[problem] += 1

    # Called once per accounting API call, with its outcome -----------------------------------

    def call(self, tenant_id: str, client_id: str | None, endpoint: str, status: int, fault: bool) -> None:
        with self._lock:
            totals = [self._tenants[tenant_id]] + ([self._apps[client_id]] if client_id else [])
            for record in totals:
                record.calls += 1
                record.by_status[status] += 1
                record.by_endpoint[endpoint][status] += 1
                record.faults += bool(fault)

    def snapshot(self, names: dict[str, str]) -> dict:
        with self._lock:
            return {
                "since": self._since.isoformat(timespec="milliseconds"),
                "tenants": {
                    tenant_id: {"name": names.get(tenant_id), **totals.as_dict(in_flight=True)}
                    for tenant_id, totals in self._tenants.items()
                },
                "apps": {client_id: totals.as_dict(in_flight=False) for client_id, totals in self._apps.items()},
            }
