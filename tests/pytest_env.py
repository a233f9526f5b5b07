"""Loaded with `-p tests.pytest_env` (pytest.ini) before Django's settings are read: gives each
pytest-xdist worker its own Celery broker (a Redis database or a broker folder) and cache, so each
worker's Celery worker process only runs that worker's tasks against that worker's test database.

It also sets the tests' explicit values for what a deployment must set (the app has no defaults for
them). The tests run with DJANGO_DEBUG off, as production does, but over plain http (Django's test
client and the in-process Xero sandbox), so the https redirect and Secure cookies are off here. The
Celery worker of the integration tests (tests/worker.py) inherits all of this.
"""

import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
INDEX = int(WORKER.removeprefix("gw") or 0)

# The SQLite test database lives in var/; WhiteNoise looks for STATIC_ROOT (var/static). Settings create no folder.
(ROOT / "var" / "static").mkdir(parents=True, exist_ok=True)
if os.environ.get("REDIS_URL"):
    # Database N of REDIS_URL (default 0) puts this run's workers on N+1, N+2...: two test runs on one
    # machine (two checkouts) keep apart by giving their REDIS_URLs databases a few apart.
    parts = urlsplit(os.environ["REDIS_URL"])
    base = int(parts.path.strip("/") or 0)
    # Database N itself is the production smoke test's (tests/e2e/test_production.py), whose processes
    # bring their own broker and cache.
    os.environ.setdefault("ARENA_TEST_PRODUCTION_REDIS_URL", os.environ["REDIS_URL"])
    os.environ["REDIS_URL"] = urlunsplit(parts._replace(path=f"/{1 + (base + INDEX) % 15}"))
    os.environ.pop("CELERY_BROKER_URL", None)
else:
    os.environ["CELERY_BROKER_FOLDER"] = str(ROOT / "var" / f"test-broker-{WORKER}")

# Debug is off here, as in production, so the app refuses any value written in this repository: each test
# process makes its own secrets and Xero app credentials (its in-process sandbox registers the app with the
# same ones, through XERO_SANDBOX_*; its Celery worker inherits them).
TEST_ENVIRONMENT = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "ENCRYPTION_SALT": secrets.token_urlsafe(16),
    "XERO_CLIENT_ID": secrets.token_hex(16).upper(),
    "XERO_CLIENT_SECRET": secrets.token_urlsafe(36),
    "XERO_ALLOW_HTTP_HOSTS": "127.0.0.1,localhost",
    "DJANGO_SECURE_SSL_REDIRECT": "0",
    "DJANGO_SESSION_COOKIE_SECURE": "0",
    "DJANGO_CSRF_COOKIE_SECURE": "0",
}
for name, value in TEST_ENVIRONMENT.items():
    os.environ.setdefault(name, value)
os.environ["XERO_SANDBOX_CLIENT_ID"] = os.environ["XERO_CLIENT_ID"]
os.environ["XERO_SANDBOX_CLIENT_SECRET"] = os.environ["XERO_CLIENT_SECRET"]
