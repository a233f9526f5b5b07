"""Log lines: one per event, in UTC with the offset, a client's error without a traceback."""

import logging
import sys

from arena_xero.logs import FORMAT, ClientErrorFilter, UTCFormatter, WerkzeugRequestFilter


def record(msg="Forbidden (Permission denied): /x", status_code=None, exc=False, name="django.request"):
    exc_info = None
    if exc:
        try:
            raise PermissionError("no")
        except PermissionError:
            exc_info = sys.exc_info()
    rec = logging.LogRecord(name, logging.WARNING, __file__, 1, msg, (), exc_info)
    rec.created = 1795700000.25  # 2026-11-26T13:33:20.250Z
    rec.msecs = 250
    if status_code:
        rec.status_code = status_code
    return rec


def test_times_are_utc_with_the_offset_whatever_the_process_zone():
    import os
    import time

    previous = os.environ.get("TZ")
    os.environ["TZ"] = "Pacific/Auckland"
    time.tzset()
    try:
        line = UTCFormatter(FORMAT).format(record())
    finally:
        if previous is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = previous
        time.tzset()
    assert line == "2026-11-26T13:33:20.250+00:00 WARNING django.request Forbidden (Permission denied): /x"


def test_a_4xx_is_one_line_without_traceback_but_a_5xx_keeps_it():
    forbidden = record(status_code=403, exc=True)
    assert ClientErrorFilter().filter(forbidden)
    assert "\n" not in UTCFormatter(FORMAT).format(forbidden)
    crash = record("Internal Server Error: /x", status_code=500, exc=True)
    ClientErrorFilter().filter(crash)
    assert "Traceback" in UTCFormatter(FORMAT).format(crash)


def test_werkzeug_request_lines_lose_their_own_local_date():
    rec = record('127.0.0.1 - - [26/Nov/2026 22:33:20] "GET / HTTP/1.1" 200 -\n', name="werkzeug")
    WerkzeugRequestFilter().filter(rec)
    assert rec.getMessage() == '127.0.0.1 "GET / HTTP/1.1" 200 -'
