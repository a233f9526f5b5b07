"""Shared fixtures. Tests use the real database (SQLite or PostgreSQL per DATABASE_URL)."""

import pytest

from accounting.xero import limits
from payments.models import Membership

from .factories import MembershipFactory, UserFactory, WhitelabelFactory

pytest_plugins = ["xero_sandbox.pytest_plugin", "tests.worker", "tests.mail"]


def pytest_configure(config):
    """Static files: plain names here. Production's storage (hashed names from `collectstatic`'s manifest,
    served by WhiteNoise) is what tests/e2e/test_production.py runs under gunicorn; in-process tests render
    pages without a collectstatic, and the browser tests' live server serves from the source folders."""
    from django.conf import settings

    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    _flush_retries_deadlocks()


def _flush_retries_deadlocks(attempts: int = 5) -> None:
    """A transactional test ends by emptying every table (Django's `flush`: one TRUNCATE). The session's Celery
    worker (tests/worker.py) runs beside the tests on the same database, and a task it is running (a sync run, an
    alert's email, beat's sweep) can hold a table the TRUNCATE wants while waiting for one the TRUNCATE took:
    PostgreSQL ends that deadlock by failing one side, sometimes the flush, and the next test then finds the last
    one's rows. A flush that lost a deadlock is tried again at once (it then waits for the task's transaction,
    which went on); any other failure is raised as before. Test set-up only: production never flushes."""
    from django.core.management.base import CommandError
    from django.core.management.commands import flush

    handle = flush.Command.handle

    def handle_retrying(self, **options):
        for attempt in range(attempts):
            try:
                return handle(self, **options)
            except CommandError as exc:
                if attempt == attempts - 1 or "deadlock detected" not in str(exc.__cause__ or ""):
                    raise

    flush.Command.handle = handle_retrying


@pytest.fixture
def whitelabel(db):
    return WhitelabelFactory(name="Acme Telecom", slug="acme")


@pytest.fixture
def admin_user(whitelabel):
    return MembershipFactory(
        whitelabel=whitelabel, role=Membership.Role.ADMIN, user=UserFactory(username="acme-admin")
    ).user


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def xero(xero_sandbox, settings):
    """The Xero sandbox (state reset), with Django's Xero settings pointing at it."""
    settings.XERO_AUTHORIZE_URL = f"{xero_sandbox.url}/identity/connect/authorize"
    settings.XERO_TOKEN_URL = f"{xero_sandbox.url}/connect/token"
    settings.XERO_REVOCATION_URL = f"{xero_sandbox.url}/connect/revocation"
    settings.XERO_API_URL = xero_sandbox.url
    settings.XERO_WEB_URL = xero_sandbox.url  # "Open in Xero" opens the record on the sandbox
    settings.XERO_REDIRECT_URI = "http://testserver/accounting/xero/callback/"
    settings.XERO_CLIENT_ID = xero_sandbox.client_id
    settings.XERO_CLIENT_SECRET = xero_sandbox.client_secret
    settings.XERO_HTTP_TIMEOUT = 2.0
    # The policy lets forms lead on to the consent page's origin, read from XERO_AUTHORIZE_URL at start.
    settings.CONTENT_SECURITY_POLICY = settings.CONTENT_SECURITY_POLICY.replace(
        "form-action 'self' ", f"form-action 'self' {xero_sandbox.url} "
    )
    xero_sandbox.configure(redirect_uris=[settings.XERO_REDIRECT_URI])
    # The sandbox's organisations are the same in every test: so are the limiter's counts of them in
    # Redis (the database limiter's rows go with each test's data).
    if settings.XERO_RATE_LIMIT_BACKEND == "redis":
        limits.backend().reset()
    return xero_sandbox


def pytest_terminal_summary(terminalreporter):
    """The chaos suite's per-fault lines (tests/accounting/test_chaos.py), from every xdist worker."""
    lines = [
        value
        for outcome in ("passed", "failed")
        for report in terminalreporter.stats.get(outcome, [])
        if report.when == "call"
        for key, value in report.user_properties
        if key == "chaos"
    ]
    if lines:
        terminalreporter.section("chaos suite: billed / in Xero / duplicates / lost, per fault")
        for line in sorted(lines):
            terminalreporter.write_line(line)
