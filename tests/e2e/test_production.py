"""Production's install, run as production runs it.

A virtualenv from requirements.txt alone (`.venv-prod`, `make install-prod`: no dev tools), PostgreSQL and
Redis, DJANGO_DEBUG=0 with fresh random secrets, and the very commands of the Dockerfile (collectstatic at
build time, gunicorn) and of docker-compose.yml (migrate, the Celery worker, beat, the sandbox), each its
own process. An admin logs in over HTTP, connects the sandbox, sends the demo billing and bills more, and
everything reaches the sandbox; every stylesheet, icon and script the pages reference answers 200 (from
WhiteNoise: hashed, compressed, cached); the worker and beat stay up. Only addresses, ports, file paths and
the worker's concurrency differ from the files (and the sweep interval: see `APP_TIMINGS`).
"""

import json
import os
import re
import shlex
import signal
import subprocess
import uuid
from pathlib import Path
from secrets import token_hex, token_urlsafe
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
import yaml

from tests.services import require
from tests.xero import wait_until

from .walk import assets, connect_organisation_1, free_port, log_in, sandbox_books, send_unsent

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(os.environ.get("ARENA_PRODUCTION_VENV", ROOT / ".venv-prod"))
# Beat's outbox sweep every 2 s (production: 60 s), so the test sees beat's task reach the worker at once.
APP_TIMINGS = {"XERO_SYNC_SWEEP_SECONDS": "2"}

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("production")]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def dockerfile() -> tuple[dict[str, str], list[str], list[str]]:
    """The Dockerfile's build-time collectstatic (its variables and command) and its CMD."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    run = next(line for line in text.splitlines() if line.startswith("RUN") and "collectstatic" in line)
    words = shlex.split(run.removeprefix("RUN"))
    variables = dict(word.split("=", 1) for word in words if "=" in word and not word.startswith("-"))
    command = [word for word in words if "=" not in word or word.startswith("-")]
    cmd = json.loads(next(line for line in text.splitlines() if line.startswith("CMD")).removeprefix("CMD"))
    return variables, command, cmd


def in_venv(command: list[str]) -> list[str]:
    """`python ...`, `gunicorn ...`, `celery ...` from the production virtualenv."""
    program = "python" if command[0] == "python" else command[0]
    return [str(VENV / "bin" / program), *command[1:]]


def replaced(command: list[str], option: str, value: str) -> list[str]:
    """`command` with the value after `option` (or in `option=value`) replaced."""
    out = list(command)
    for index, word in enumerate(out):
        if word == option:
            out[index + 1] = value
        elif word.startswith(option + "="):
            out[index] = f"{option}={value}"
    return out


class Processes:
    def __init__(self, folder: Path):
        self.folder, self.running = folder, {}

    def start(self, name: str, command: list[str], env: dict) -> subprocess.Popen:
        log = open(self.folder / f"{name}.log", "w")  # noqa: SIM115 - open while the process runs
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.running[name] = process
        return process

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text(errors="replace")

    def exited(self) -> dict[str, int]:
        return {name: p.returncode for name, p in self.running.items() if p.poll() is not None}

    def stop(self) -> None:
        for process in self.running.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.running.values():
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)


@pytest.fixture
def database():
    """A PostgreSQL database of its own, dropped afterwards."""
    url = os.environ.get("DATABASE_URL", "")
    require(url.startswith("postgres"), "production runs on PostgreSQL: set DATABASE_URL=postgres://...")
    import psycopg2

    parts = urlsplit(url)
    name = f"arena_production_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(urlunsplit(parts._replace(path="/postgres")))
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def redis_url():
    """Redis database N of the run's REDIS_URL (the test workers use N+1...), emptied first."""
    url = os.environ.get("ARENA_TEST_PRODUCTION_REDIS_URL", "")
    require(bool(url), "production's broker and cache are Redis: set REDIS_URL=redis://...")
    import redis

    redis.Redis.from_url(url).flushdb()
    return url


def test_production_install_serves_its_pages_and_syncs_with_gunicorn_a_worker_and_beat(
    database, redis_url, tmp_path
):
    require((VENV / "bin" / "gunicorn").exists(), f"no production virtualenv at {VENV}: run `make install-prod`")
    services = compose()["services"]
    build_variables, collectstatic, cmd = dockerfile()
    port, sandbox_port = free_port(), free_port()
    app, sandbox = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{sandbox_port}"
    client_id, client_secret, webhook_key = token_hex(16).upper(), token_urlsafe(36), token_urlsafe(40)
    env = {
        **{name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ},
        **{name: str(value) for name, value in services["web"]["environment"].items()},
        "DATABASE_URL": database,
        "REDIS_URL": redis_url,
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": token_urlsafe(50),
        "ENCRYPTION_SALT": token_urlsafe(16),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "XERO_CLIENT_ID": client_id,
        "XERO_CLIENT_SECRET": client_secret,
        "XERO_REDIRECT_URI": f"{app}/accounting/xero/callback/",
        "XERO_AUTHORIZE_URL": f"{sandbox}/identity/connect/authorize",
        "XERO_TOKEN_URL": f"{sandbox}/connect/token",
        "XERO_REVOCATION_URL": f"{sandbox}/connect/revocation",
        "XERO_API_URL": sandbox,
        "XERO_ALLOW_HTTP_HOSTS": "127.0.0.1",
        "XERO_WEBHOOK_KEY": webhook_key,
        "ARENA_VAR_DIR": str(tmp_path / "var"),
        "STATIC_ROOT": str(tmp_path / "static"),
        **APP_TIMINGS,
    }
    processes = Processes(tmp_path)

    def run(command: list[str], extra: dict | None = None) -> str:
        result = subprocess.run(
            in_venv(command), cwd=ROOT, env={**env, **(extra or {})}, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, f"{command}:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
        return result.stdout

    try:
        # Build time (the Dockerfile's RUN), then compose's `migrate`, then an admin to log in with.
        run(collectstatic, build_variables)
        assert (tmp_path / "static" / "staticfiles.json").exists(), "collectstatic wrote the manifest"
        run(services["migrate"]["command"])
        printed = run(["python", "manage.py", "load_demo_data", "--allow-without-debug"])
        password = re.search(r"Log in as admin / (\S+) ", printed).group(1)

        sandbox_command = replaced(services["sandbox"]["command"], "--host", "127.0.0.1")
        sandbox_command = replaced(sandbox_command, "--port", str(sandbox_port))
        sandbox_command = replaced(sandbox_command, "--redirect-uri", env["XERO_REDIRECT_URI"])
        sandbox_env = {
            **env,
            **services["sandbox"]["environment"],
            "XERO_SANDBOX_WEBHOOK_URL": f"{app}/accounting/xero/webhooks/",
            "XERO_SANDBOX_WEBHOOK_KEY": webhook_key,
            "XERO_SANDBOX_CLIENT_ID": client_id,
            "XERO_SANDBOX_CLIENT_SECRET": client_secret,
        }
        processes.start("sandbox", in_venv(sandbox_command), sandbox_env)
        processes.start("web", in_venv(replaced(cmd, "--bind", f"127.0.0.1:{port}")), env)
        worker = replaced(services["worker"]["command"], "--concurrency", "2")  # compose: 4; this machine: 2 cores
        processes.start("worker", in_venv(worker), env)
        beat = replaced(services["beat"]["command"], "--schedule", str(tmp_path / "celerybeat-schedule"))
        processes.start("beat", in_venv(beat), env)

        def up() -> bool:
            assert not processes.exited(), {name: processes.log(name)[-3000:] for name in processes.exited()}
            try:
                web = requests.get(app + "/accounts/login/", timeout=2).status_code == 200
                xero = requests.get(sandbox + "/", timeout=2).ok
            except requests.RequestException:  # refused, or accepted while gunicorn's workers still boot
                return False
            return web and xero and " ready." in processes.log("worker") and "beat: Starting" in processes.log("beat")

        wait_until(up, timeout=90, message="gunicorn, the sandbox, the worker and beat")

        browser = requests.Session()
        settings_page = log_in(browser, app, "admin", password)
        assert "<h1>Accounting System Settings</h1>" in settings_page.text
        pages = [browser.get(app + "/accounts/login/"), settings_page, requests.get(app + "/admin/login/", timeout=5)]
        _, saved = connect_organisation_1(browser, settings_page, sandbox)
        pages.append(saved)
        referenced = set().union(*(assets(page) for page in pages))
        assert {urlsplit(url).path.rsplit("/", 1)[-1].split(".")[0] for url in referenced} >= {
            "arena", "favicon", "base"  # the app's CSS and script, its icon, the admin's CSS
        }  # fmt: skip
        for url in sorted(referenced):
            answer = requests.get(url, headers={"Accept-Encoding": "gzip"}, timeout=5)
            assert answer.status_code == 200, f"{url} answered {answer.status_code}"
            assert re.search(r"\.[0-9a-f]{12}\.\w+$", urlsplit(url).path), f"{url}: not a hashed name"
            assert "max-age=315360000" in answer.headers.get("Cache-Control", ""), url
            if url.endswith((".css", ".js")):
                assert answer.headers.get("Content-Encoding") == "gzip", f"{url} is not served compressed"

        # The demo billing (made before the connection) on request, then new billing on its own.
        assert re.fullmatch(r"\d+ records will be sent to Xero: the card below shows them arrive\.", send_unsent(
            browser, saved
        ))
        run(
            ["python", "manage.py", "shell", "-c", (
                "from decimal import Decimal; from payments.models import Customer;"
                "from payments.services import LineInput, issue_invoice, record_payment;"
                "customer = Customer.objects.get(account_number='C-1002');"
                "invoice = issue_invoice(customer, [LineInput('NBN 100, monthly', Decimal('1'), Decimal('89.00'),"
                " Decimal('10'))]); record_payment(customer, invoice.total, invoice=invoice)"
            )]
        )  # fmt: skip

        def billed_in_organisation_1() -> bool:
            assert not processes.exited(), {name: processes.log(name)[-3000:] for name in processes.exited()}
            books = sandbox_books(sandbox)
            invoices = {i["InvoiceNumber"]: i["Status"] for i in books["Organisation 1"]["invoices"]}
            paid = invoices.get("INV-000004") == "PAID"
            return paid and len(invoices) == 4 and not books["Organisation 2"]["invoices"]

        wait_until(billed_in_organisation_1, timeout=90, message="the demo and new billing in Organisation 1")
        books = sandbox_books(sandbox)["Organisation 1"]
        assert sorted(i["InvoiceNumber"] for i in books["invoices"]) == [f"INV-00000{n}" for n in range(1, 5)]
        assert len([p for p in books["payments"] if p["Status"] != "DELETED"]) == 3, "the demo's two and the new one"

        wait_until(
            lambda: "accounting.tasks.sweep_outbox" in processes.log("worker")
            and "succeeded" in processes.log("worker"),
            timeout=30,
            message="beat's outbox sweep to run on the worker",
        )
        assert not processes.exited(), "gunicorn, the worker, beat and the sandbox are still up"
        assert "Traceback" not in processes.log("web") + processes.log("worker") + processes.log("beat")
    finally:
        processes.stop()
