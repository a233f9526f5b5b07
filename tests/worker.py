"""A real Celery worker process for the integration tests (never eager mode).

One per pytest-xdist worker, on that worker's own broker (see tests/pytest_env.py), using the test
database and the in-process Xero sandbox over HTTP.
"""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from .xero import wait_until

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# The worker mails alerts (accounting/alerts.py) to an SMTP server a test starts on this port (tests/mail.py);
# while none listens, sending fails and the alerts wait, as with a mail server that is down.
SMTP_PORT = _free_port()


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


# The one place the tests' timings differ from production's, and why:
# - retries back off from 0.2 s (not 5 s) up to 1 s, and give up after 6 attempts, so a test of a few
#   503s takes seconds, not minutes; a refused record still waits an hour, as in production;
# - Xero gets 2 s to answer (not 30 s), so a timeout test is quick; unclear calls are looked up after 4 s;
# - a task may live 20 s (not 180 s), so the lease of a run killed with its worker lapses in 30 s and the
#   kill test recovers in half a minute; a run works 10 s before giving its worker back;
# - webhook events that came while records were on their way to Xero are tried again after 1 s (not 15 s),
#   so a test that waits for Arena's own events does not wait 15 s more.
# Batching and coalescing (XERO_SYNC_COALESCE_SECONDS, XERO_SYNC_MAX_HOLD_SECONDS, XERO_SYNC_BATCH_SIZE) and
# Xero's rate limits use production values: the tests count calls.
TEST_TIMINGS = {
    "XERO_HTTP_TIMEOUT": "2",
    "XERO_SYNC_RETRY_BASE_SECONDS": "0.2",
    "XERO_SYNC_RETRY_MAX_SECONDS": "1",
    "XERO_SYNC_MAX_ATTEMPTS": "6",
    "XERO_SYNC_VALIDATION_RETRY_SECONDS": "3600",
    "XERO_SYNC_RESCHEDULE_WITHIN_SECONDS": "30",
    "CELERY_TASK_TIME_LIMIT": "20",
    "CELERY_TASK_SOFT_TIME_LIMIT": "15",
    "XERO_SYNC_RUN_SECONDS": "10",
    "XERO_WEBHOOK_BACKLOG_RETRY_SECONDS": "1",
}


class Worker:
    """A `celery worker` process on this pytest worker's broker, test database and sandbox. It can be
    killed (SIGKILL, as a crash or an OOM kill would) and started again; its log keeps growing."""

    def __init__(self, env: dict, log_path: Path):
        self.env, self.log_path, self.process = env, log_path, None

    def start(self) -> "Worker":
        start = len(self.log_path.read_text()) if self.log_path.exists() else 0
        with open(self.log_path, "a") as out:
            self.process = subprocess.Popen(
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
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_until(
            lambda: self.process.poll() is not None or " ready." in self.log_path.read_text()[start:],
            timeout=60,
            message="the Celery worker to start",
        )
        assert self.process.poll() is None, f"Celery worker died:\n{self.log_path.read_text()[-3000:]}"
        return self

    def kill(self) -> None:
        """SIGKILL: no clean-up, no acknowledgement, leases and claims left as they were."""
        self.process.kill()
        self.process.wait(15)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()

    def poll(self):
        return self.process.poll()


@pytest.fixture(scope="session")
def sync_worker(django_db_setup, django_db_blocker, xero_sandbox_server, tmp_path_factory):
    """Start `celery worker` against the test database and the sandbox; yields the Worker."""
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
        "XERO_CLIENT_ID": xero_sandbox_server.client_id,
        "XERO_CLIENT_SECRET": xero_sandbox_server.client_secret,
        "EMAIL_URL": f"smtp://127.0.0.1:{SMTP_PORT}",
        "XERO_ALERTS_SUPPORT_EMAIL": "support@arena.example",
        **TEST_TIMINGS,
    }
    worker = Worker(env, tmp_path_factory.mktemp("celery") / "worker.log")
    try:
        yield worker.start()
    finally:
        worker.stop()
