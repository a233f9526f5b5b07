"""Log lines: one per event and once, ISO 8601 times in UTC, no traceback for a client's 4xx, JSON on
request. Each case runs in a fresh process with the settings a deployment would have."""

import json
import re

from .test_settings import production_secrets
from .test_settings import start as _start

ISO_UTC = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00"
SCRIPT = """
import logging
from django.test import Client
from django.contrib.auth.models import User
client = Client()
client.get("/no-such-page/")
client.get("/admin/", secure=True)  # redirects to the login page: not logged as an error
client.get("/account/settings/components/accounting-system/")  # a 302 to the login page
logging.getLogger("django.server").warning('"GET /no-such-page/ HTTP/1.1" 404 179', extra={"status_code": 404})
logging.getLogger("django.server").info('"GET /accounts/login/ HTTP/1.1" 200 900', extra={"status_code": 200})
logging.getLogger("arena").info("two\\nlines from a user")
try:
    1 / 0
except ZeroDivisionError:
    logging.getLogger("arena").exception("it broke")
"""


def run(tmp_path, **environment):
    """SCRIPT in a fresh process, after the collectstatic a deployment runs (pages name hashed files)."""
    environment = {**production_secrets(), "DJANGO_SECURE_SSL_REDIRECT": "0", **environment}
    collected = _start(environment, "collectstatic", "--noinput", "-v0", tmp_path=tmp_path)
    assert collected.returncode == 0, collected.stderr
    return _start(environment, "shell", "-c", SCRIPT, tmp_path=tmp_path)


def test_each_event_is_one_line_once_with_an_iso_utc_time(tmp_path):
    for debug in ("0", "1"):
        result = run(tmp_path, DJANGO_DEBUG=debug)
        assert result.returncode == 0, result.stderr
        lines = [line for line in result.stderr.splitlines() if line]
        assert all(re.match(rf"^{ISO_UTC} (DEBUG|INFO|WARNING|ERROR|CRITICAL) \S+ ", line) for line in lines), lines
        not_found = [line for line in lines if "/no-such-page/" in line]
        assert len(not_found) == 1, not_found
        assert re.search(r" WARNING django\.request Not Found: /no-such-page/$", not_found[0])
        assert not any("Traceback" in line for line in lines if "django" in line)
        assert any(line.endswith('INFO django.server "GET /accounts/login/ HTTP/1.1" 200 900') for line in lines)
        assert any(line.endswith("INFO arena two\\nlines from a user") for line in lines)
        broke = next(line for line in lines if "it broke" in line)
        assert "Traceback (most recent call last):\\n" in broke and "ZeroDivisionError" in broke


def test_log_format_json_writes_one_object_per_line(tmp_path):
    result = run(tmp_path, LOG_FORMAT="json")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stderr.splitlines() if line]
    not_found = [e for e in events if e["message"] == "Not Found: /no-such-page/"]
    assert len(not_found) == 1
    assert not_found[0]["level"] == "WARNING" and not_found[0]["logger"] == "django.request"
    assert not_found[0]["status_code"] == 404 and "exc_info" not in not_found[0]
    assert re.fullmatch(ISO_UTC, not_found[0]["time"])
    broke = next(e for e in events if e["message"] == "it broke")
    assert "ZeroDivisionError" in broke["exc_info"]


def test_an_unknown_log_format_stops_the_app(tmp_path):
    result = _start({**production_secrets(), "LOG_FORMAT": "xml"}, "check", tmp_path=tmp_path)
    assert result.returncode != 0 and "LOG_FORMAT is 'plain' or 'json'" in result.stderr
