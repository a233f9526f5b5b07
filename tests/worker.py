"""A real Celery worker process for the integration tests (never eager mode).

One per pytest-xdist worker, on that worker's own broker (see tests/pytest_env.py), using the test
database and the in-process Xero sandbox over HTTP.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from .xero import wait_until

ROOT = Path(__file__).resolve().parent.parent


def _database_url() -> str:
    cfg = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{Path(cfg['NAME']).resolve()}"
    auth = cfg["USER"] + (f":{cfg['PASSWORD']}" if cfg["PASSWORD"] else "")
    return f"postgres://{auth}@{cfg['HOST'] or '127.0.0.1'}:{cfg['PORT'] or 5432}/{cfg['NAME']}"


def _purge_broker() -> None:
    from arena_xero.celery import app

    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(app.conf.task_default_queue)


@pytest.fixture(scope="session")
def sync_worker(django_db_setup, django_db_blocker, xero_sandbox_server, tmp_path_factory):
    """Start `celery worker` against the test database and the sandbox; yields the process."""
    with django_db_blocker.unblock():
        database_url = _database_url()
    try:
        _purge_broker()
    except Exception:  # noqa: BLE001 - an empty or new queue can't be purged on every transport
        pass
    url = xero_sandbox_server.url
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "XERO_AUTHORIZE_URL": f"{url}/identity/connect/authorize",
        "XERO_TOKEN_URL": f"{url}/connect/token",
        "XERO_REVOCATION_URL": f"{url}/connect/revocation",
        "XERO_API_URL": url,
        "XERO_CLIENT_ID": "arena-sandbox-client",
        "XERO_CLIENT_SECRET": "arena-sandbox-secret",
        "XERO_HTTP_TIMEOUT": "2",
        "XERO_SYNC_RETRY_BASE_SECONDS": "0.2",
        "XERO_SYNC_RETRY_MAX_SECONDS": "1",
        "XERO_SYNC_MAX_ATTEMPTS": "6",
        "XERO_SYNC_VALIDATION_RETRY_SECONDS": "3600",
        "XERO_SYNC_RESCHEDULE_WITHIN_SECONDS": "30",
    }
    log = tmp_path_factory.mktemp("celery") / "worker.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "arena_xero",
                "worker",
                "--pool=threads",
                "--concurrency=2",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"test-{os.getpid()}@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(
            lambda: process.poll() is not None or " ready." in log.read_text(),
            timeout=60,
            message="the Celery worker to start",
        )
        assert process.poll() is None, f"Celery worker died:\n{log.read_text()[-3000:]}"
        process.log_path = log
        yield process
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
