"""The settings fail closed: without DJANGO_DEBUG, a missing or placeholder secret stops every process at
start with one message naming each variable. Each case starts a fresh process, as a deployment would."""

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# What the process inherits besides the variables each test names (no test defaults, no services).
KEEP = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")


def production_secrets() -> dict[str, str]:
    return {
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "ENCRYPTION_SALT": secrets.token_urlsafe(16),
        "XERO_CLIENT_ID": secrets.token_hex(16).upper(),
        "XERO_CLIENT_SECRET": secrets.token_urlsafe(36),
    }


def start(environment: dict[str, str], *args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """`manage.py ARGS` (default: check) in a fresh process with only `environment` (and a private var dir)."""
    env = {name: os.environ[name] for name in KEEP if name in os.environ}
    env.update({"ARENA_VAR_DIR": str(tmp_path / "var"), **environment})
    return subprocess.run(
        [sys.executable, "manage.py", *(args or ("check",))],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def settings_in(environment: dict[str, str], *names: str, tmp_path: Path) -> dict:
    """The values of the named settings in a fresh process started with `environment`."""
    code = (
        "import json, django; from django.conf import settings; django.setup();"
        f"print(json.dumps({{n: getattr(settings, n, None) for n in {names!r}}}))"
    )
    env = {name: os.environ[name] for name in KEEP if name in os.environ}
    env.update(ARENA_VAR_DIR=str(tmp_path / "var"), DJANGO_SETTINGS_MODULE="arena_xero.settings", **environment)
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_production_secrets_start_the_app(tmp_path):
    result = start(production_secrets(), tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize("name", ["DJANGO_SECRET_KEY", "ENCRYPTION_SALT", "XERO_CLIENT_ID", "XERO_CLIENT_SECRET"])
def test_each_missing_secret_stops_the_app_with_its_name(name, tmp_path):
    environment = production_secrets()
    del environment[name]
    result = start(environment, tmp_path=tmp_path)
    assert result.returncode != 0
    assert "arena-xero will not start until these environment variables are fixed" in result.stderr
    assert f"{name} is not set" in result.stderr
    assert result.stderr.count(" is not set") == 1


def test_every_missing_secret_is_named_in_one_message(tmp_path):
    result = start({}, tmp_path=tmp_path)
    assert result.returncode != 0
    message = result.stderr[result.stderr.index("arena-xero will not start") :]
    for name in ("DJANGO_SECRET_KEY", "ENCRYPTION_SALT", "XERO_CLIENT_ID", "XERO_CLIENT_SECRET"):
        assert f"{name} is not set" in message


@pytest.mark.parametrize(
    "name, value",
    [
        ("DJANGO_SECRET_KEY", "insecure-local-development-key-change-me-in-production"),
        ("DJANGO_SECRET_KEY", "django-insecure-" + "x1y2z3" * 10),
        ("DJANGO_SECRET_KEY", "<50+ random characters: python -c 'import secrets; print(secrets.token_urlsafe(50))'>"),
        ("ENCRYPTION_SALT", "arena-xero-local-salt"),
        ("ENCRYPTION_SALT", "change-me-too"),
        ("XERO_CLIENT_SECRET", "changeme"),
        ("XERO_CLIENT_ID", "<your Xero app's client id>"),
    ],
)
def test_a_placeholder_secret_stops_the_app(name, value, tmp_path):
    result = start({**production_secrets(), name: value}, tmp_path=tmp_path)
    assert result.returncode != 0
    assert f"{name} is a placeholder" in result.stderr
    assert value not in result.stderr, "the message must not repeat the value"


def test_a_short_secret_key_stops_the_app(tmp_path):
    result = start({**production_secrets(), "DJANGO_SECRET_KEY": "k8Fq2-short-but-random"}, tmp_path=tmp_path)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is too weak" in result.stderr


def test_local_values_are_accepted_only_with_debug_on(tmp_path):
    local = dict(
        line.split("=", 1)
        for line in (ROOT / "bin" / "local.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    # bin/local.env writes NAME=${NAME:-value}: take the value.
    local = {name: value.split(":-", 1)[1].rstrip("}") for name, value in local.items() if ":-" in value}
    secrets_only = {name: local[name] for name in production_secrets()}
    assert start({**secrets_only, "DJANGO_DEBUG": "1"}, tmp_path=tmp_path).returncode == 0
    refused = start({**secrets_only, "DJANGO_DEBUG": "0"}, tmp_path=tmp_path)
    assert refused.returncode != 0
    assert "DJANGO_SECRET_KEY is a placeholder" in refused.stderr
    assert "ENCRYPTION_SALT is a placeholder" in refused.stderr


@pytest.mark.parametrize(
    ("name", "path"), [("XERO_TOKEN_URL", "/connect/token"), ("XERO_WEB_URL", "")], ids=["an-api-url", "the-web-app"]
)
def test_plain_http_to_a_host_not_allowed_stops_the_app(name, path, tmp_path):
    environment = {**production_secrets(), name: f"http://identity.xero.com{path}"}
    result = start(environment, tmp_path=tmp_path)
    assert result.returncode != 0
    assert f"{name} is plain http to identity.xero.com" in result.stderr
    local = {name: f"http://127.0.0.1:8090{path}", "XERO_ALLOW_HTTP_HOSTS": "127.0.0.1"}
    assert start({**environment, **local}, tmp_path=tmp_path).returncode == 0


def test_importing_the_settings_creates_no_folder(tmp_path):
    code = "import django; django.setup(); from arena_xero.settings import VAR_DIR; print(VAR_DIR)"
    env = {name: os.environ[name] for name in KEEP if name in os.environ}
    env.update(production_secrets(), ARENA_VAR_DIR=str(tmp_path / "var"), DJANGO_SETTINGS_MODULE="arena_xero.settings")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "var").exists()


def test_check_deploy_is_clean_with_only_the_required_secrets_and_allowed_hosts(tmp_path):
    result = start(
        {**production_secrets(), "DJANGO_ALLOWED_HOSTS": "arena.example.com"}, "check", "--deploy", tmp_path=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "System check identified no issues (1 silenced)."
    assert not result.stderr


def test_check_deploy_warns_when_plain_http_to_xero_is_allowed(tmp_path):
    environment = {**production_secrets(), "XERO_ALLOW_HTTP_HOSTS": "127.0.0.1,sandbox"}
    result = start(environment, "check", "--deploy", tmp_path=tmp_path)
    assert "(accounting.W001) XERO_ALLOW_HTTP_HOSTS lets Xero calls to 127.0.0.1, sandbox go over plain http" in (
        result.stderr
    )
    assert "accounting.W001" not in start(environment, "check", tmp_path=tmp_path).stderr


def test_check_deploy_is_clean_with_the_readme_production_example(tmp_path):
    readme = (ROOT / "README.md").read_text()
    example = readme[readme.index("```sh\n# production.env") :].split("```", 2)[1]
    environment = {}
    for line in example.splitlines()[1:]:
        if line and not line.startswith("#"):
            name, value = line.split("=", 1)
            environment[name] = value
    # The example's <...> values are for the reader to replace, and the app refuses them as they are.
    assert start(environment, tmp_path=tmp_path).returncode != 0
    own = production_secrets()
    environment = {name: own.get(name, value) for name, value in environment.items()}
    assert set(own) <= set(environment), "the README's example must show every required secret"
    result = start(environment, "check", "--deploy", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_https_protections_are_on_by_default_without_debug(tmp_path):
    names = (
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SESSION_COOKIE_HTTPONLY",
        "CSRF_COOKIE_HTTPONLY",
        "SECURE_REFERRER_POLICY",
        "X_FRAME_OPTIONS",
        "SESSION_COOKIE_AGE",
        "SESSION_SAVE_EVERY_REQUEST",
        "SECURE_PROXY_SSL_HEADER",
    )
    production = settings_in(production_secrets(), *names, tmp_path=tmp_path)
    assert list(production.values()) == [
        True, 31536000, True, True, True, True, True, "same-origin", "DENY", 1800, True, None
    ]  # fmt: skip
    proxied = {**production_secrets(), "DJANGO_SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto,https"}
    assert settings_in(proxied, *names, tmp_path=tmp_path)["SECURE_PROXY_SSL_HEADER"] == [
        "HTTP_X_FORWARDED_PROTO",
        "https",
    ]
    overridden = {**production_secrets(), "DJANGO_SECURE_SSL_REDIRECT": "0", "SESSION_IDLE_MINUTES": "5"}
    values = settings_in(overridden, *names, tmp_path=tmp_path)
    assert values["SECURE_SSL_REDIRECT"] is False and values["SESSION_COOKIE_AGE"] == 300
    debug = settings_in({**production_secrets(), "DJANGO_DEBUG": "1"}, *names, tmp_path=tmp_path)
    assert list(debug.values())[:5] == [False, 0, False, False, False]


def test_the_content_security_policy_lets_forms_go_on_to_xeros_consent_page(tmp_path):
    production = settings_in(production_secrets(), "CONTENT_SECURITY_POLICY", tmp_path=tmp_path)
    assert production["CONTENT_SECURITY_POLICY"].endswith("form-action 'self' https://login.xero.com")
    sandbox = {
        **production_secrets(),
        "XERO_AUTHORIZE_URL": "http://127.0.0.1:8090/identity/connect/authorize",
        "XERO_ALLOW_HTTP_HOSTS": "127.0.0.1",
    }
    policy = settings_in(sandbox, "CONTENT_SECURITY_POLICY", tmp_path=tmp_path)["CONTENT_SECURITY_POLICY"]
    assert policy.endswith("form-action 'self' http://127.0.0.1:8090")


# Public values: refused with debug off by manage.py, the worker and gunicorn ------------------------------

# (variable, a public value, what the message says): the sandbox's own app, the Dockerfile's build values,
# a value written in this repository's tests, and webhook keys too short to be Xero's or from bin/local.env.
PUBLIC_VALUES = [
    ("XERO_CLIENT_ID", "arena-sandbox-client", "XERO_CLIENT_ID is a placeholder"),
    ("XERO_CLIENT_SECRET", "arena-sandbox-secret", "XERO_CLIENT_SECRET is a placeholder"),
    ("ENCRYPTION_SALT", "build", "ENCRYPTION_SALT is a placeholder"),
    ("XERO_CLIENT_ID", "build", "XERO_CLIENT_ID is a placeholder"),
    ("DJANGO_SECRET_KEY", "drift-tests-webhook-key-0123456789-abcdefghijklmnopqrstuvwxyz", "DJANGO_SECRET_KEY is a"),
    ("XERO_WEBHOOK_KEY", "x", "XERO_WEBHOOK_KEY is too short"),
    ("XERO_WEBHOOK_KEY", "insecure-local-webhook-key-for-make-run-only", "XERO_WEBHOOK_KEY is a placeholder"),
]
PROCESSES = {
    "manage.py check": [sys.executable, "manage.py", "check"],
    "celery worker": [sys.executable, "-m", "celery", "-A", "arena_xero", "worker", "--pool=solo"],
    "gunicorn": [sys.executable, "-m", "gunicorn", "arena_xero.wsgi:application", "--bind", "127.0.0.1:0"],
}


@pytest.mark.parametrize("process", PROCESSES)
@pytest.mark.parametrize("name, value, message", PUBLIC_VALUES, ids=[f"{n}={v[:12]}" for n, v, _ in PUBLIC_VALUES])
def test_a_public_value_stops_every_process_naming_its_variable(process, name, value, message, tmp_path):
    env = {name: os.environ[name] for name in KEEP if name in os.environ}
    env.update(production_secrets(), ARENA_VAR_DIR=str(tmp_path / "var"), **{name: value})
    result = subprocess.run(PROCESSES[process], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "arena-xero will not start until these environment variables are fixed" in result.stderr
    assert message in result.stderr


def test_every_value_the_repository_gives_a_secret_is_refused_without_debug():
    """Whatever file sets DJANGO_SECRET_KEY, ENCRYPTION_SALT, XERO_CLIENT_ID, XERO_CLIENT_SECRET or
    XERO_WEBHOOK_KEY to a literal (Dockerfile, compose, bin/local.env, the README, tests), that value is
    public and the app refuses it."""
    from arena_xero.settings import _is_placeholder

    names = "DJANGO_SECRET_KEY|ENCRYPTION_SALT|XERO_CLIENT_ID|XERO_CLIENT_SECRET|XERO_WEBHOOK_KEY|XERO_SANDBOX_\\w+"
    assignment = re.compile(rf"""\b(?:{names})["']?\s*[:=]\s*["']?(?:\$\{{\w+:-)?([^\s"'}}$<]+)""")
    found = set()
    for path in ROOT.rglob("*"):
        if path.is_file() and not {".git", ".venv", "var", "openapi"} & set(path.parts) and path.suffix != ".png":
            found |= set(assignment.findall(path.read_text(errors="ignore")))
    found = {value for value in found if not value.startswith(("os.", "secrets.", "settings.", "production_"))}
    assert {"build", "arena-sandbox-client", "insecure-local-webhook-key-for-make-run-only"} <= found
    accepted = sorted(value for value in found if not _is_placeholder(value))
    assert not accepted, f"values written in the repository that the app would accept: {accepted}"


def test_oauthlib_insecure_transport_is_set_only_while_a_sandbox_host_is_allowed(tmp_path):
    code = "import os, django; django.setup(); print(os.environ.get('OAUTHLIB_INSECURE_TRANSPORT', ''))"
    env = {name: os.environ[name] for name in KEEP if name in os.environ}
    env.update(production_secrets(), ARENA_VAR_DIR=str(tmp_path / "var"), DJANGO_SETTINGS_MODULE="arena_xero.settings")

    def flag(**extra) -> subprocess.CompletedProcess:
        command = [sys.executable, "-c", code]
        return subprocess.run(command, cwd=ROOT, env={**env, **extra}, capture_output=True, text=True)

    assert flag().stdout.strip() == ""
    assert flag(XERO_ALLOW_HTTP_HOSTS="127.0.0.1").stdout.strip() == "1"
    refused = flag(OAUTHLIB_INSECURE_TRANSPORT="1")
    assert refused.returncode != 0 and "OAUTHLIB_INSECURE_TRANSPORT is set" in refused.stderr
    assert flag(OAUTHLIB_INSECURE_TRANSPORT="1", DJANGO_DEBUG="1").returncode == 0
