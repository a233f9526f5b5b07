"""Logging: one line per request the sandbox answers (``xero_sandbox.http``) and per event (webhook
attempts and intent checks in ``xero_sandbox.webhooks``), each stamped in ISO 8601 with the UTC
offset when run as a process (``python -m xero_sandbox``), e.g.

    2026-05-01T10:00:00.123+00:00 INFO xero_sandbox.http PUT /api.xro/2.0/Invoices 200 12.3ms tenant=a3c2... app=arena
"""
import logging
import time
from datetime import datetime, timezone

from flask import g, request
from werkzeug.serving import WSGIRequestHandler

logger = logging.getLogger("xero_sandbox.http")
FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class IsoFormatter(logging.Formatter):
    """``asctime`` as ISO 8601 in UTC with the offset (``2026-05-01T00:00:00.123+00:00``), like the app's
    logs, so one run's lines sort and compare across processes."""

    def formatTime(self, record, datefmt=None):  # noqa: N802 (logging's name)
        return datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat(timespec="milliseconds")


def configure(level=logging.INFO) -> None:
    """Log to stderr, one line per record, with ISO 8601 timestamps (for the command line)."""
    handler = logging.StreamHandler()
    handler.setFormatter(IsoFormatter(FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Werkzeug's start-up banner spans lines and is coloured; the sandbox logs its own start line.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


class QuietRequestHandler(WSGIRequestHandler):
    """Werkzeug's handler without its own access log (``log_request`` below writes the line)."""

    def log_request(self, *args, **kwargs):
        pass

    def log(self, type, message, *args):
        if type == "error":
            super().log(type, message, *args)


def start_timer() -> None:
    g.started = time.monotonic()


def log_request(response):
    """After every request: method, path and query, status, duration and what the sandbox did."""
    elapsed = (time.monotonic() - g.get("started", time.monotonic())) * 1000
    path = request.full_path if request.query_string else request.path
    details = [
        f"{name}={value}" for name, value in (
            ("tenant", request.headers.get("xero-tenant-id")),
            ("app", g.get("client_id")),
            ("fault", g.get("fault")),
            ("rate_limited", g.get("rate_limited")),
            ("replay", "idempotent" if g.get("idempotent_replay") else None),
        ) if value
    ]
    logger.info("%s %s %s %.1fms%s", request.method, path, response.status_code, elapsed,
                "".join(" " + detail for detail in details))
    return response
