"""Loaded with `-p tests.pytest_env` (pytest.ini) before Django's settings are read: gives each
pytest-xdist worker its own Celery broker (a Redis database or a broker folder) and cache, so each
worker's Celery worker process only runs that worker's tasks against that worker's test database.

It also sets the tests' explicit values for what a deployment must set (the app has no defaults for
them). The tests run with DJANGO_DEBUG off, as production does, but over plain http (Django's test
client and the in-process Xero sandbox), so the https redirect and Secure cookies are off here. The
Celery worker of the integration tests (tests/worker.py) inherits all of this.
"""

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
INDEX = int(WORKER.removeprefix("gw") or 0)

(ROOT / "var").mkdir(exist_ok=True)  # the SQLite test database lives there; settings create no folder
if os.environ.get("REDIS_URL"):
    # Database N of REDIS_URL (default 0) puts this run's workers on N+1, N+2...: two test runs on one
    # machine (two checkouts) keep apart by giving their REDIS_URLs databases a few apart.
    parts = urlsplit(os.environ["REDIS_URL"])
    base = int(parts.path.strip("/") or 0)
    os.environ["REDIS_URL"] = urlunsplit(parts._replace(path=f"/{1 + (base + INDEX) % 15}"))
    os.environ.pop("CELERY_BROKER_URL", None)
else:
    os.environ["CELERY_BROKER_FOLDER"] = str(ROOT / "var" / f"test-broker-{WORKER}")

TEST_ENVIRONMENT = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": "arena-xero-test-suite-key-0123456789-abcdefghijklmnopqrstuvwxyz",
    "ENCRYPTION_SALT": "arena-xero-test-suite-salt",
    "XERO_CLIENT_ID": "arena-sandbox-client",
    "XERO_CLIENT_SECRET": "arena-sandbox-secret",
    "XERO_ALLOW_HTTP_HOSTS": "127.0.0.1,localhost",
    "DJANGO_SECURE_SSL_REDIRECT": "0",
    "DJANGO_SESSION_COOKIE_SECURE": "0",
    "DJANGO_CSRF_COOKIE_SECURE": "0",
}
for name, value in TEST_ENVIRONMENT.items():
    os.environ.setdefault(name, value)
