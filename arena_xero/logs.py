"""Log formatting for every process (web, worker, beat, manage.py): one line per event, ISO 8601
timestamps in UTC with their offset, as plain text or JSON (LOG_FORMAT=json)."""

import logging
from datetime import UTC, datetime

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter


def _iso_utc(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


class PlainFormatter(logging.Formatter):
    """`time level logger message`; line breaks (a traceback, a user's input) are escaped as \\n, so
    each event is one line and no input can forge another."""

    def formatTime(self, record, datefmt=None):  # noqa: N802 - logging's name
        return _iso_utc(record)

    def format(self, record):
        return super().format(record).replace("\r", "\\r").replace("\n", "\\n")


class JSONFormatter(JsonFormatter):
    """One JSON object per line: time, level, logger, message, exc_info when there is one, and the
    record's extra fields (e.g. django.request's status_code)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("fmt", "%(asctime)s %(levelname)s %(name)s %(message)s")
        kwargs.setdefault("rename_fields", {"asctime": "time", "levelname": "level", "name": "logger"})
        # django.request and django.server attach the request object and its socket: not data.
        kwargs.setdefault("reserved_attrs", [*RESERVED_ATTRS, "request", "server_time"])
        super().__init__(*args, **kwargs)

    def formatTime(self, record, datefmt=None):  # noqa: N802 - logging's name
        return _iso_utc(record)


class ClientErrorsWithoutTraceback(logging.Filter):
    """django.request logs a 403/404 with the exception's traceback: a 4xx is the client's doing, so keep
    the one line and drop the traceback (5xx keep theirs)."""

    def filter(self, record):
        if getattr(record, "status_code", 500) < 500:
            record.exc_info = None
            record.exc_text = None
        return True


class OnlySuccessfulRequests(logging.Filter):
    """runserver's access log (django.server) would repeat each 4xx/5xx that django.request logs."""

    def filter(self, record):
        return getattr(record, "status_code", 200) < 400
