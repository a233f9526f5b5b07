"""docker-compose.yml can't be run here (no Docker engine), so it is checked by parsing it."""

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_the_services_the_readme_names(compose):
    services = set(compose["services"])
    assert {"web", "worker", "beat", "postgres", "redis", "sandbox", "migrate"} <= services
    readme = (ROOT / "README.md").read_text()
    for name in services:
        assert f"`{name}`" in readme, f"README does not describe the compose service {name}"


def test_app_services_run_the_right_commands_and_use_postgres_and_redis(compose):
    services = compose["services"]
    assert services["web"]["command"][0] == "gunicorn"
    assert services["worker"]["command"][:4] == ["celery", "-A", "arena_xero", "worker"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "arena_xero", "beat"]
    assert services["migrate"]["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert services["sandbox"]["command"][:3] == ["python", "-m", "xero_sandbox"]
    for name in ("web", "worker", "beat", "migrate"):
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgres://") and "@postgres:5432/" in env["DATABASE_URL"]
        assert env["REDIS_URL"].startswith("redis://redis:6379")
        assert {"postgres", "redis"} <= set(services[name]["depends_on"])
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_every_long_running_service_has_a_health_check(compose):
    for name in ("web", "worker", "postgres", "redis", "sandbox"):
        check = compose["services"][name]["healthcheck"]
        assert check["test"][0] in ("CMD", "CMD-SHELL") and len(check["test"]) > 1
        assert check["retries"] >= 3


def test_compose_app_environment_is_documented_in_readme(compose):
    readme = (ROOT / "README.md").read_text()
    for name in compose["services"]["web"]["environment"]:
        assert f"`{name}`" in readme, f"README's configuration table misses {name}"


def test_every_environment_variable_the_settings_read_is_documented():
    source = (ROOT / "arena_xero" / "settings.py").read_text()
    names = set(re.findall(r"""env\.\w+\(\s*["']([A-Z][A-Z0-9_]+)["']""", source))
    assert names, "settings.py reads no environment variables?"
    readme = (ROOT / "README.md").read_text()
    missing = sorted(name for name in names if f"`{name}`" not in readme)
    assert not missing, f"README does not document: {missing}"


def test_readme_set_up_commands_exist_in_the_makefile():
    makefile = (ROOT / "Makefile").read_text()
    readme = (ROOT / "README.md").read_text()
    for target in ("run", "test"):
        assert f"make {target}" in readme
        assert re.search(rf"^{target}:", makefile, re.M)
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_the_sandbox_sends_its_webhooks_to_web_signed_with_the_apps_key(compose):
    from django.urls import reverse

    services = compose["services"]
    app, sandbox = services["web"]["environment"], services["sandbox"]["environment"]
    port = services["web"]["command"][services["web"]["command"].index("--bind") + 1].rsplit(":", 1)[1]
    assert sandbox["XERO_SANDBOX_WEBHOOK_URL"] == f"http://web:{port}{reverse('accounting:xero_webhook')}"
    assert sandbox["XERO_SANDBOX_WEBHOOK_KEY"] == app["XERO_WEBHOOK_KEY"] == "${XERO_WEBHOOK_KEY:-}"
    assert "web" in app["DJANGO_ALLOWED_HOSTS"].split(","), "the delivery's Host header is web:8000"


def test_compose_web_runs_the_dockerfiles_command_and_the_sandbox_knows_the_apps_credentials(compose):
    """tests/e2e/test_production.py runs these commands from requirements.txt alone; compose and the image
    must say the same."""
    import json

    dockerfile = (ROOT / "Dockerfile").read_text()
    cmd = json.loads(next(line for line in dockerfile.splitlines() if line.startswith("CMD")).removeprefix("CMD"))
    services = compose["services"]
    assert services["web"]["command"] == cmd
    assert "RUN pip install --no-cache-dir -r requirements.txt" in dockerfile, "the image installs production's file"
    assert "collectstatic --noinput" in dockerfile, "static files are collected into the image"
    app, sandbox = services["web"]["environment"], services["sandbox"]["environment"]
    for name in ("DJANGO_SECRET_KEY", "ENCRYPTION_SALT", "XERO_CLIENT_ID", "XERO_CLIENT_SECRET"):
        assert app[name].startswith(f"${{{name}:?"), f"{name} has no default: the app refuses public values"
    assert sandbox["XERO_SANDBOX_CLIENT_ID"].startswith("${XERO_CLIENT_ID:?")
    assert sandbox["XERO_SANDBOX_CLIENT_SECRET"].startswith("${XERO_CLIENT_SECRET:?")
    assert all(services[name]["build"] == "." for name in ("web", "worker", "beat", "migrate", "sandbox"))


def test_open_in_xero_links_go_to_the_sandbox_where_the_app_talks_to_it(compose):
    """Compose and `make run` talk to the sandbox, so the support console's links open records there: at the
    address the browser reaches it (compose publishes its port on localhost; make run's is on 127.0.0.1)."""
    app, sandbox = compose["services"]["web"]["environment"], compose["services"]["sandbox"]
    published = sandbox["ports"][0].split(":")[0]
    assert app["XERO_WEB_URL"] == f"${{XERO_WEB_URL:-http://localhost:{published}}}"
    assert "localhost" in app["XERO_ALLOW_HTTP_HOSTS"]
    local = dict(
        line.split("=", 1) for line in (ROOT / "bin" / "local.env").read_text().splitlines() if line[:1].isalpha()
    )
    assert local["XERO_WEB_URL"].split(":-", 1)[1] == local["XERO_API_URL"].split(":-", 1)[1]
