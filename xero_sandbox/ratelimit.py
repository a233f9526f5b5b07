"""Xero's rate limits: per organisation 60/minute, 5 in flight and 5,000/day; per app 10,000/minute.

Windows slide over the sandbox's scaled clock (``Clock.window_time``), so ``time_scale`` shortens a
Xero minute and advancing the clock empties the windows. A rejected call is not counted.
"""
import math
import threading
from collections import defaultdict, deque
from contextlib import contextmanager

MINUTE = 60.0
DAY = 86400.0


class RateLimited(Exception):
    def __init__(self, problem: str, retry_after: int, headers: dict):
        super().__init__(problem)
        self.problem = problem
        self.retry_after = retry_after
        self.headers = headers


class RateLimiter:
    def __init__(self, clock, config, observer=None):
        self._clock = clock
        self._config = config
        self._observer = observer  # told of every admission and rejection (Stats)
        self._lock = threading.Lock()
        self._minute = defaultdict(deque)
        self._day = defaultdict(deque)
        self._app_minute = defaultdict(deque)
        self._in_flight = defaultdict(int)
        self._day_limits: dict[str, int] = {}  # per organisation, over the config's day_limit

    def set_day_limit(self, tenant_id: str, limit: int | None) -> None:
        """One organisation's daily limit (Xero's is 5,000, 1,000 on Starter); None: the config's again."""
        with self._lock:
            if limit is None:
                self._day_limits.pop(tenant_id, None)
            else:
                self._day_limits[tenant_id] = limit

    def configure(self, config) -> None:
        self._config = config

    def reset(self) -> None:
        with self._lock:
            self._minute.clear()
            self._day.clear()
            self._app_minute.clear()
            self._in_flight.clear()
            self._day_limits.clear()

    def in_flight(self, tenant_id: str) -> int:
        with self._lock:
            return self._in_flight[tenant_id]

    @contextmanager
    def slot(self, tenant_id: str, client_id: str):
        """Admit one call (yielding the X-*Limit-Remaining headers) or raise RateLimited."""
        headers = self._admit(tenant_id, client_id)
        try:
            yield headers
        finally:
            with self._lock:
                self._in_flight[tenant_id] -= 1

    def _admit(self, tenant_id: str, client_id: str) -> dict:
        config = self._config
        with self._lock:
            now = self._clock.window_time()
            minute = _trim(self._minute[tenant_id], now, MINUTE)
            day = _trim(self._day[tenant_id], now, DAY)
            app_minute = _trim(self._app_minute[client_id], now, MINUTE)
            checks = (
                ("day", day, self._day_limits.get(tenant_id, config.day_limit), DAY),
                ("appminute", app_minute, config.app_minute_limit, MINUTE),
                ("minute", minute, config.minute_limit, MINUTE),
            )
            for problem, window, limit, period in checks:
                if len(window) >= limit:
                    wait = window[0] + period - now if window else period
                    self._rejected(tenant_id, client_id, problem)
                    raise RateLimited(
                        problem, self._real_seconds(wait), self._headers(minute, day, app_minute, tenant_id)
                    )
            if self._in_flight[tenant_id] >= config.concurrent_limit:
                self._rejected(tenant_id, client_id, "concurrent")
                raise RateLimited("concurrent", 1, self._headers(minute, day, app_minute, tenant_id))
            for window in (minute, day, app_minute):
                window.append(now)
            self._in_flight[tenant_id] += 1
            if self._observer is not None:
                self._observer.admitted(tenant_id, client_id, now, self._in_flight[tenant_id])
            return self._headers(minute, day, app_minute, tenant_id)

    def _rejected(self, tenant_id: str, client_id: str, problem: str) -> None:
        if self._observer is not None:
            self._observer.rejected(tenant_id, client_id, problem)

    def _headers(self, minute, day, app_minute, tenant_id: str) -> dict:
        config = self._config
        day_limit = self._day_limits.get(tenant_id, config.day_limit)
        return {
            "X-MinLimit-Remaining": str(max(config.minute_limit - len(minute), 0)),
            "X-DayLimit-Remaining": str(max(day_limit - len(day), 0)),
            "X-AppMinLimit-Remaining": str(max(config.app_minute_limit - len(app_minute), 0)),
        }

    def _real_seconds(self, window_seconds: float) -> int:
        return max(1, math.ceil(self._clock.to_real_seconds(max(window_seconds, 0.0))))


def _trim(window: deque, now: float, period: float) -> deque:
    while window and window[0] <= now - period:
        window.popleft()
    return window
