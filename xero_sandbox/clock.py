"""The sandbox clock: real time plus an offset that tests move forward.

Two readings exist. ``now()``/``timestamp()`` is the wall clock Xero would show (token expiry,
idempotency windows, UpdatedDateUTC). ``window_time()`` drives the rate-limit windows and runs
``time_scale`` times faster than real time, so a benchmark can squeeze a Xero minute into a second.
Advancing the clock moves both readings.
"""
import threading
import time
from datetime import date, datetime, timezone


class Clock:
    def __init__(self, time_scale: float = 1.0, offset: float = 0.0):
        self._lock = threading.Lock()
        self._offset = offset
        self._scale = time_scale
        self._scaled_base = 0.0
        self._mono_base = time.monotonic()

    @property
    def offset(self) -> float:
        return self._offset

    @property
    def time_scale(self) -> float:
        return self._scale

    def timestamp(self) -> float:
        return time.time() + self._offset

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp(), tz=timezone.utc)

    def today(self) -> date:
        return self.now().date()

    def window_time(self) -> float:
        with self._lock:
            return self._scaled_base + (time.monotonic() - self._mono_base) * self._scale + self._offset

    def to_real_seconds(self, window_seconds: float) -> float:
        return window_seconds / self._scale

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds

    def set_time_scale(self, time_scale: float) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        with self._lock:
            mono = time.monotonic()
            self._scaled_base += (mono - self._mono_base) * self._scale
            self._mono_base = mono
            self._scale = time_scale

    def reset(self, time_scale: float) -> None:
        with self._lock:
            self._offset = 0.0
            self._scaled_base = 0.0
            self._mono_base = time.monotonic()
            self._scale = time_scale
