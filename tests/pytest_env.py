"""Loaded with `-p tests.pytest_env` (pytest.ini) before Django's settings are read: gives each
pytest-xdist worker its own Celery broker (a Redis database or a broker folder) and cache, so each
worker's Celery worker process only runs that worker's tasks against that worker's test database."""

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
INDEX = int(WORKER.removeprefix("gw") or 0)

if os.environ.get("REDIS_URL"):
    parts = urlsplit(os.environ["REDIS_URL"])
    os.environ["REDIS_URL"] = urlunsplit(parts._replace(path=f"/{1 + INDEX % 15}"))
    os.environ.pop("CELERY_BROKER_URL", None)
else:
    os.environ["CELERY_BROKER_FOLDER"] = str(ROOT / "var" / f"test-broker-{WORKER}")
os.environ.setdefault("DJANGO_SECRET_KEY", "tests-secret-key")
