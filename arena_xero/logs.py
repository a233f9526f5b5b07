"""One log format for every process `make run` starts: one line per event, in UTC with its offset.

    2026-11-26T12:43:01.123+00:00 WARNING django.request Not Found: /favicon.png

Django's LOGGING uses `UTCFormatter` and `ClientErrorFilter`; the Celery worker keeps Django's
LOGGING instead of its own (arena_xero/celery.py); the Xero sandbox, which knows nothing of the app,
is started through this module so its lines look the same:

    python -m arena_xero.logs xero_sandbox --port 8090 ...
"""

import logging
import re
import runpy
import sys
import time

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class UTCFormatter(logging.Formatter):
    """ISO 8601 times in UTC with the offset, whatever the process's time zone (Django sets TZ to
    TIME_ZONE in its processes; the sandbox keeps the machine's)."""

    converter = time.gmtime
    default_time_format = "%Y-%m-%dT%H:%M:%S"
    default_msec_format = "%s.%03d+00:00"


class ClientErrorFilter(logging.Filter):
    """A 4xx is the client's doing: log its line without the traceback of the exception behind it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and 400 <= getattr(record, "status_code", 0) < 500:
            record.exc_info = None
            record.exc_text = None
        return True


class WerkzeugRequestFilter(logging.Filter):
    """Werkzeug writes its own local-time date into each request line; the formatter's time is enough."""

    DATE = re.compile(r" - - \[[^\]]*\] ")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = self.DATE.sub(" ", record.msg, count=1).rstrip("\n")
        return True


def configure(level: str = "INFO") -> None:
    """Log every record of this process to stderr in FORMAT (for processes without Django's LOGGING)."""
    handler = logging.StreamHandler()
    handler.setFormatter(UTCFormatter(FORMAT))
    handler.addFilter(ClientErrorFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("werkzeug").addFilter(WerkzeugRequestFilter())


def main(argv: list[str]) -> None:
    """Run `python -m MODULE ARGS...` with `configure()`d logging."""
    if not argv:
        raise SystemExit("usage: python -m arena_xero.logs MODULE [ARGS...]")
    configure()
    sys.argv = argv
    runpy.run_module(argv[0], run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
