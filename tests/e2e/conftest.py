"""Browser tests: Debian's Chromium, launched by path and driven by pytest-playwright, against
pytest-django's live_server, the in-process Xero sandbox and a real Celery worker (tests/worker.py).

Playwright's own browser download is not available on these machines: `make test` and `.ci/run`
install the `chromium` package, and this file finds it (or the one named by $CHROMIUM) or fails
saying how to install it. Each step of a walk saves a screenshot to var/e2e-screenshots/.
"""

import io
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import override_settings

from .layout import HEIGHT, WIDTHS, assert_fits, at_width

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "e2e-screenshots"
CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox",  # we run as root
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-gpu",
]


def chromium_executable() -> str:
    """The system Chromium: $CHROMIUM, else Debian's package, else `chromium` on the PATH."""
    explicit = os.environ.get("CHROMIUM")
    candidates = [explicit] if explicit else [*CHROMIUM_PATHS, shutil.which("chromium")]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    where = f"$CHROMIUM={explicit} is not an executable" if explicit else f"none of {', '.join(CHROMIUM_PATHS)} exists"
    pytest.fail(
        f"The browser tests need Chromium, and {where}. Install Debian's package: `apt-get install -y chromium` "
        "(`make test` and `.ci/run` do this), or point $CHROMIUM at a Chromium binary. "
        "(`playwright install` can't download browsers on these machines.)",
        pytrace=False,
    )


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    args = [*browser_type_launch_args.get("args", []), *CHROMIUM_ARGS]
    return {**browser_type_launch_args, "executable_path": chromium_executable(), "args": args}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {
        **browser_context_args,
        "viewport": {"width": 1024, "height": HEIGHT},  # a laptop; tests at other widths resize (layout.py)
        "locale": "en-AU",
        "timezone_id": "Australia/Sydney",
    }


@pytest.fixture(scope="session")
def playwright(playwright):
    """Playwright's sync API leaves an event loop set on this thread, so Django refuses ORM calls from
    the test (and from later tests in this process) unless told they are safe: they are, nothing here
    is async."""
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield playwright
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@dataclass
class Arena:
    """The app under test: its URL, the sandbox, and the demo whitelabel `load_demo_data` made."""

    url: str
    sandbox: object
    whitelabel: object

    @property
    def settings_url(self) -> str:
        return f"{self.url}/account/{self.whitelabel.slug}/settings/components/accounting-system/"


@pytest.fixture
def arena(live_server, xero, sync_worker, settings, transactional_db):
    """What `make run` starts, in-process: the demo data, the web app at live_server.url, the sandbox
    (reset) as Xero, sending its signed webhooks to the app, and a Celery worker sending to it."""
    from payments.models import Whitelabel

    settings.XERO_REDIRECT_URI = f"{live_server.url}/accounting/xero/callback/"
    settings.XERO_WEBHOOK_KEY = secrets.token_urlsafe(48)
    xero.configure(
        redirect_uris=[settings.XERO_REDIRECT_URI],
        webhook_url=f"{live_server.url}/accounting/xero/webhooks/",
        webhook_key=settings.XERO_WEBHOOK_KEY,
    )
    with override_settings(DEBUG=True):  # as `make run` loads it: the tour's public login
        call_command("load_demo_data", stdout=io.StringIO())
    return Arena(url=live_server.url, sandbox=xero, whitelabel=Whitelabel.objects.get(slug="demo"))


class Screenshots:
    """`shot("login")` saves var/e2e-screenshots/<walk>-01-login.png: one per step, numbered in order. Each step
    is also a check of the page's layout at 1024 px and at 1440 px (layout.assert_fits, the window set back to its
    width for the picture): it must not scroll sideways, and the step's `primary` actions must be in view."""

    def __init__(self, page, walk: str):
        self.page, self.walk, self.count = page, walk, 0
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for old in SCREENSHOTS.glob(f"{walk}-[0-9][0-9]-*.png"):
            old.unlink()

    def __call__(self, step: str, locator=None, *, primary=(), page=None) -> Path:
        """`page`: another tab of the walk (e.g. one a link opened)."""
        page = page or self.page
        width = page.viewport_size["width"]
        for other in (w for w in WIDTHS if w != width):
            at_width(page, other)
            assert_fits(page, *primary)
        at_width(page, width)
        assert_fits(page, *primary)
        self.count += 1
        path = SCREENSHOTS / f"{self.walk}-{self.count:02d}-{step}.png"
        if locator is not None:
            locator.screenshot(path=path)
        else:
            page.screenshot(path=path, full_page=True)
        return path


@pytest.fixture
def screenshots(page):
    """`shot = screenshots("tour")`, then `shot("login")` at each step."""
    return lambda walk: Screenshots(page, walk)
