"""Settings for arena-xero, read from environment variables (see the README's table).

With no DATABASE_URL the app uses SQLite, and with no REDIS_URL / CELERY_BROKER_URL Celery uses
kombu's filesystem transport, so `make run` needs no server. Production sets both.

The app fails closed: the secrets have no defaults, and with DJANGO_DEBUG off a missing, placeholder or
weak one stops every process at start with one message naming each variable (see `_refuse_to_start`).
Importing these settings creates no folder and writes nothing.
"""

import functools
import os
import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
VAR_DIR = Path(env.str("ARENA_VAR_DIR", default=str(BASE_DIR / "var")))

DEBUG = env.bool("DJANGO_DEBUG", default=False)

# Secrets: no defaults (see _refuse_to_start at the end). Django signs sessions with SECRET_KEY, and
# secrets at rest (Xero tokens, gateway passwords) are encrypted with a key derived from SECRET_KEY and
# the salt. Rotate either by moving the old value to its *_FALLBACKS variable (still read, never
# written) and running `manage.py reencrypt_secrets`.
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
SECRET_KEY_FALLBACKS = env.list("DJANGO_SECRET_KEY_FALLBACKS", default=[])
# django-fernet-encrypted-fields encrypts with the first salt and decrypts with any.
SALT_KEY = [env.str("ENCRYPTION_SALT", default=""), *env.list("ENCRYPTION_SALT_FALLBACKS", default=[])]
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "arena_xero.apps.ArenaAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "payments",
    "accounting",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files in production (gunicorn has no static server): compressed, hashed, cached for a year.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Django's, but the pages' own refreshes (the sync card's) don't keep an idle session alive.
    "arena_xero.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "arena_xero.middleware.ContentSecurityPolicyMiddleware",
    # Renders error pages with the user and messages: never Django's debug page, even with DEBUG.
    "arena_xero.middleware.ErrorPagesMiddleware",
    # Last, as django-axes asks: it answers a locked-out login with the lock-out page.
    "axes.middleware.AxesMiddleware",
]

# HTTPS and browser protections: on by default whenever DJANGO_DEBUG is off, each overridable.
_HTTPS = not DEBUG
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=_HTTPS)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=365 * 24 * 3600 if _HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=_HTTPS)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
SESSION_COOKIE_SECURE = env.bool("DJANGO_SESSION_COOKIE_SECURE", default=_HTTPS)
CSRF_COOKIE_SECURE = env.bool("DJANGO_CSRF_COOKIE_SECURE", default=_HTTPS)
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True  # no script of ours reads it
SECURE_REFERRER_POLICY = env.str("DJANGO_SECURE_REFERRER_POLICY", default="same-origin")
X_FRAME_OPTIONS = "DENY"
# Behind a proxy that terminates TLS, "X-Forwarded-Proto,https": the header it sets and the value that
# means https. Only set it if the proxy always sets (or strips) that header.
_proxy_header = env.list("DJANGO_SECURE_PROXY_SSL_HEADER", default=[])
if _proxy_header:
    if len(_proxy_header) != 2:
        raise ImproperlyConfigured(
            "DJANGO_SECURE_PROXY_SSL_HEADER is 'Header-Name,value', e.g. X-Forwarded-Proto,https"
        )
    _name = _proxy_header[0].strip().upper().replace("-", "_")
    SECURE_PROXY_SSL_HEADER = (_name if _name.startswith("HTTP_") else f"HTTP_{_name}", _proxy_header[1].strip())
# HSTS preload is a commitment made by submitting the domain to the browsers' list: opt in with
# DJANGO_SECURE_HSTS_PRELOAD. Until then Django's reminder (security.W021) is not a finding.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]

# Sessions end after this much idle time (every request moves the expiry on, but a page's own refreshes).
SESSION_COOKIE_AGE = env.int("SESSION_IDLE_MINUTES", default=30) * 60
SESSION_SAVE_EVERY_REQUEST = True

ROOT_URLCONF = "arena_xero.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "arena_xero.wsgi.application"

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web server and worker share the file: wait for the write lock instead of failing at once.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"timeout": 30, "transaction_mode": "IMMEDIATE"})
    # A file, not memory: the Celery worker of the integration tests shares the test database.
    DATABASES["default"]["TEST"] = {"NAME": env.str("DATABASE_TEST_NAME", default=str(VAR_DIR / "test-db.sqlite3"))}
else:
    DATABASES["default"]["TEST"] = {"NAME": env.str("DATABASE_TEST_NAME", default=None)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Login throttling (django-axes) for the portal's and the admin's login: after LOGIN_FAILURE_LIMIT failed
# attempts for one user name from one address, that pair is locked out for LOGIN_LOCKOUT_MINUTES. A
# successful login clears the count; support unlocks with `manage.py axes_reset_username <name>`.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# One line per lock-out (a warning); not a line per successful log-in.
AXES_VERBOSE = False
AXES_LOCKOUT_CALLABLE = "arena_xero.views.locked_out"
# Masked in axes' log lines and in the attempts it stores (the password always is).
AXES_SENSITIVE_PARAMETERS = ["csrfmiddlewaretoken"]

# A second factor for staff (README, "The support console"). Staff and superusers use the support console
# (/admin/) only after a code from an authenticator app: TOTP devices and backup codes from django-otp, the
# login and set-up pages from django-two-factor-auth (arena_xero.second_factor). STAFF_REQUIRE_2FA is on by
# default whenever debug is off; under `make run` (debug on) it is off and staff may still set a device
# up. The portal's login (/accounts/login/, whitelabel admins) asks for the password only.
STAFF_REQUIRE_2FA = env.bool("STAFF_REQUIRE_2FA", default=not DEBUG)
INSTALLED_APPS += ["django_otp", "django_otp.plugins.otp_totp", "django_otp.plugins.otp_static", "two_factor"]
# request.user.is_verified(): whether this session has passed a device's code.
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1,
    "django_otp.middleware.OTPMiddleware",
)
# The admin's login is a wizard, its fields named by step: axes masks the password and codes it keeps.
AXES_SENSITIVE_PARAMETERS += ["auth-password", "token-otp_token", "backup-otp_token"]
OTP_LOGIN_URL = "admin:login"
OTP_TOTP_ISSUER = "Arena support"
OTP_ADMIN_HIDE_SENSITIVE_DATA = True  # the admin's device pages never show a key or a backup code
TWO_FACTOR_PATCH_ADMIN = False  # ArenaAdminSite has its own login; no monkeypatching of Django's AdminSite

# Django's full set: not like the user's name or email, at least 12 characters, not a common password,
# not all digits.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Email (password reset): EMAIL_URL as django-environ reads it, e.g. smtp+tls://user:pass@smtp.example.com:587
# or consolemail:// (`make run`). Without it nothing is mailed and the reset pages are not offered: the login
# page says whom to ask instead (PASSWORD_HELP).
EMAIL_URL = env.str("EMAIL_URL", default="")
if EMAIL_URL:
    vars().update(env.email_url("EMAIL_URL"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Arena <arena@localhost>")
# Support's addresses, copied on every Xero alert email (accounting/alerts.py), comma-separated; empty: none.
XERO_ALERTS_SUPPORT_EMAIL = [
    e.strip() for e in env.str("XERO_ALERTS_SUPPORT_EMAIL", default="").split(",") if e.strip()
]
PASSWORD_HELP = env.str(
    "PASSWORD_HELP",
    default="Forgot your password? Ask an admin of your whitelabel, or Arena support, to set a new one.",
)
# Password reset requests are throttled like the logins: LOGIN_FAILURE_LIMIT per address, and per email
# address asked for, every LOGIN_LOCKOUT_MINUTES (django-ratelimit, counting in the cache).
PASSWORD_RESET_RATE = f"{AXES_FAILURE_LIMIT}/{int(AXES_COOLOFF_TIME.total_seconds())}s"

# dumpdata writes encrypted fields as ciphertext, not in clear (arena_xero.serializers).
SERIALIZATION_MODULES = {
    name: f"arena_xero.serializers.{module}"
    for name, module in (
        ("json", "json"),
        ("jsonl", "jsonl"),
        ("python", "python"),
        ("yaml", "pyyaml"),
        ("xml", "xml_serializer"),
    )
}

LANGUAGE_CODE = "en-au"
TIME_ZONE = env.str("TIME_ZONE", default="Australia/Sydney")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# `manage.py collectstatic` writes here (the Dockerfile does at build time); WhiteNoise serves it.
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "static")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Hashed names (a changed file gets a new URL, so browsers may cache each one for a year) and gzip copies.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "accounting:settings_home"
LOGOUT_REDIRECT_URL = "login"

REDIS_URL = env.str("REDIS_URL", default="")

# Celery: Redis when REDIS_URL (or CELERY_BROKER_URL) is set, else a broker that needs no server.
# "localhost" because kombu warns "No hostname was supplied" about filesystem:// (the folder is below).
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://localhost/")
if CELERY_BROKER_URL.startswith("filesystem://"):
    # arena_xero.celery creates the folder when the app is set up.
    _queue_dir = Path(env.str("CELERY_BROKER_FOLDER", default=str(VAR_DIR / "celery-broker")))
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "store_processed": False,
        "control_folder": str(_queue_dir / "control"),
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A sync run's lease on its organisation lasts as long as the hard limit (plus 10 s): how long a killed
# worker's organisation waits before another run takes over (see README, "Failures").
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=180)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=150)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Publishing must not hang a web request when the broker is down: the outbox sweeper sends later.
CELERY_BROKER_CONNECTION_TIMEOUT = env.float("CELERY_BROKER_CONNECTION_TIMEOUT", default=2.0)
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}
CELERY_TIMEZONE = TIME_ZONE

# Xero: the app's credentials (required, see _refuse_to_start) and endpoints (Xero's own by default;
# `make run`, the tests and docker-compose point them at the Xero sandbox).
XERO_CLIENT_ID = env.str("XERO_CLIENT_ID", default="")
XERO_CLIENT_SECRET = env.str("XERO_CLIENT_SECRET", default="")
XERO_REDIRECT_URI = env.str("XERO_REDIRECT_URI", default="http://127.0.0.1:8000/accounting/xero/callback/")
XERO_SCOPES = env.str(
    "XERO_SCOPES",
    default="offline_access accounting.invoices accounting.payments accounting.banktransactions "
    "accounting.contacts accounting.settings.read openid profile email",
).split()
XERO_AUTHORIZE_URL = env.str("XERO_AUTHORIZE_URL", default="https://login.xero.com/identity/connect/authorize")
XERO_TOKEN_URL = env.str("XERO_TOKEN_URL", default="https://identity.xero.com/connect/token")
XERO_REVOCATION_URL = env.str("XERO_REVOCATION_URL", default="https://identity.xero.com/connect/revocation")
XERO_API_URL = env.str("XERO_API_URL", default="https://api.xero.com")
# Xero's web app, where the admin's "Open in Xero" links go (a Xero sandbox answers the same deep links).
XERO_WEB_URL = env.str("XERO_WEB_URL", default="https://go.xero.com").rstrip("/")
# Host names (no port) that Xero endpoints may reach over plain http: a local Xero sandbox only, e.g.
# "127.0.0.1,localhost". Empty in production: every endpoint must then be https.
XERO_ALLOW_HTTP_HOSTS = [
    host.strip("[]").lower() for host in env.list("XERO_ALLOW_HTTP_HOSTS", default=[]) if host.strip("[]")
]
# Content-Security-Policy of every page the app serves (arena_xero.middleware). The pages use only their
# own static files; forms post to the app, whose answer may redirect to Xero's consent page.
_consent_origin = "{0.scheme}://{0.netloc}".format(urlsplit(XERO_AUTHORIZE_URL))
CONTENT_SECURITY_POLICY = env.str(
    "DJANGO_CONTENT_SECURITY_POLICY",
    default="default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    f"frame-ancestors 'none'; form-action 'self' {_consent_origin}",
)
# Seconds to wait for Xero's answer before treating the call as unclear (it is looked up before a resend).
XERO_HTTP_TIMEOUT = env.float("XERO_HTTP_TIMEOUT", default=30.0)
# Refresh the access token this many seconds before it expires.
XERO_TOKEN_REFRESH_MARGIN = env.int("XERO_TOKEN_REFRESH_MARGIN", default=120)

# The sync engine (see README, "How sync works").
XERO_SYNC_BATCH_SIZE = env.int("XERO_SYNC_BATCH_SIZE", default=50)
XERO_SYNC_COALESCE_SECONDS = env.float("XERO_SYNC_COALESCE_SECONDS", default=2.0)
XERO_SYNC_MAX_HOLD_SECONDS = env.float("XERO_SYNC_MAX_HOLD_SECONDS", default=10.0)
XERO_SYNC_RUN_SECONDS = env.float("XERO_SYNC_RUN_SECONDS", default=20.0)
XERO_SYNC_FAIR_BATCHES = env.int("XERO_SYNC_FAIR_BATCHES", default=2)
XERO_SYNC_MAX_ATTEMPTS = env.int("XERO_SYNC_MAX_ATTEMPTS", default=10)
XERO_SYNC_RETRY_BASE_SECONDS = env.float("XERO_SYNC_RETRY_BASE_SECONDS", default=5.0)
XERO_SYNC_RETRY_MAX_SECONDS = env.float("XERO_SYNC_RETRY_MAX_SECONDS", default=3600.0)
XERO_SYNC_VALIDATION_RETRY_SECONDS = env.float("XERO_SYNC_VALIDATION_RETRY_SECONDS", default=3600.0)
XERO_SYNC_RESCHEDULE_WITHIN_SECONDS = env.float("XERO_SYNC_RESCHEDULE_WITHIN_SECONDS", default=900.0)
XERO_SYNC_SWEEP_SECONDS = env.float("XERO_SYNC_SWEEP_SECONDS", default=60.0)
XERO_SYNC_HISTORY_DAYS = env.int("XERO_SYNC_HISTORY_DAYS", default=90)
# Xero's rate limits (per organisation, and per app across organisations), shared by all workers.
XERO_RATE_LIMIT_BACKEND = env.str("XERO_RATE_LIMIT_BACKEND", default="redis" if REDIS_URL else "database")
XERO_MINUTE_LIMIT = env.int("XERO_MINUTE_LIMIT", default=60)
XERO_CONCURRENT_LIMIT = env.int("XERO_CONCURRENT_LIMIT", default=5)
XERO_DAY_LIMIT = env.int("XERO_DAY_LIMIT", default=5000)
XERO_APP_MINUTE_LIMIT = env.int("XERO_APP_MINUTE_LIMIT", default=10000)
# How many organisations Xero lets Arena's app connect: 25 until the app completes Xero's certification.
XERO_APP_CONNECTION_LIMIT = env.int("XERO_APP_CONNECTION_LIMIT", default=25)
XERO_RATE_LIMIT_MAX_WAIT_SECONDS = env.float("XERO_RATE_LIMIT_MAX_WAIT_SECONDS", default=2.0)
# The share of each counted limit (a minute's, a day's, the app's minute) the limiter leaves unused: Xero counts a
# call when it arrives, so on a loaded machine a limiter pressed against the limit would now and then let in one
# too many. 0.05 grants 57 calls of Xero's 60 a minute.
XERO_RATE_LIMIT_HEADROOM = env.float("XERO_RATE_LIMIT_HEADROOM", default=0.05)
# Benchmarks only: run Xero's minute and day this many times faster, as the sandbox's --time-scale does.
XERO_LIMIT_TIME_SCALE = env.float("XERO_LIMIT_TIME_SCALE", default=1.0)
# Drift detection (README, "Drift: when Xero's books change underneath"). The key of the app's webhook in
# Xero's developer portal; without it the webhook endpoint answers 503 and only the reconcile finds drift.
XERO_WEBHOOK_KEY = env.str("XERO_WEBHOOK_KEY", default="")
# Events of an organisation with records on their way to Xero (a bill-run) are read once those are in: the
# delivery is tried again every this many seconds meanwhile (no call to Xero until then).
XERO_WEBHOOK_BACKLOG_RETRY_SECONDS = env.float("XERO_WEBHOOK_BACKLOG_RETRY_SECONDS", default=15.0)
if XERO_WEBHOOK_BACKLOG_RETRY_SECONDS <= 0:
    raise ImproperlyConfigured("XERO_WEBHOOK_BACKLOG_RETRY_SECONDS is seconds, more than 0 (e.g. 15).")
# When the nightly reconcile runs, as cron's five fields (minute hour day-of-month month day-of-week) in
# TIME_ZONE; "off" (or empty) runs none.
XERO_RECONCILE_SCHEDULE = env.str("XERO_RECONCILE_SCHEDULE", default="0 3 * * *").strip()
# The nightly reconcile's share of an organisation's day of Xero calls (XERO_DAY_LIMIT): the rest is billing's.
# A first comparison that needs more continues the next night.
XERO_RECONCILE_DAY_SHARE = env.float("XERO_RECONCILE_DAY_SHARE", default=0.10)
# Billing (payments.services): issue, due and payment dates outside this window are refused with a BillingError.
# The earliest date is YYYY-MM-DD; the latest is this many years after today.
BILLING_EARLIEST_DATE = env.str("BILLING_EARLIEST_DATE", default="2000-01-01")
BILLING_YEARS_AHEAD = env.int("BILLING_YEARS_AHEAD", default=10)
try:
    from datetime import date as _date

    _date.fromisoformat(BILLING_EARLIEST_DATE)
except ValueError:
    raise ImproperlyConfigured("BILLING_EARLIEST_DATE is a date, YYYY-MM-DD, e.g. 2000-01-01.") from None
if not 0 < BILLING_YEARS_AHEAD < 1000:
    raise ImproperlyConfigured("BILLING_YEARS_AHEAD is a number of years from 1 to 999, e.g. 10.")
# Payments entered in Xero (accounting/imports.py): read every XERO_IMPORT_POLL_SECONDS (0: only on webhooks and
# reconnects), webhook requests within XERO_IMPORT_COALESCE_SECONDS become one read, a read takes at most
# XERO_IMPORT_PAGES_PER_READ pages of 100 (the rest waits for the next read).
XERO_IMPORT_POLL_SECONDS = env.float("XERO_IMPORT_POLL_SECONDS", default=900.0)
XERO_IMPORT_COALESCE_SECONDS = env.float("XERO_IMPORT_COALESCE_SECONDS", default=2.0)
XERO_IMPORT_PAGES_PER_READ = env.int("XERO_IMPORT_PAGES_PER_READ", default=20)
if XERO_IMPORT_POLL_SECONDS < 0 or XERO_IMPORT_COALESCE_SECONDS < 0 or XERO_IMPORT_PAGES_PER_READ < 1:
    raise ImproperlyConfigured(
        "XERO_IMPORT_POLL_SECONDS and XERO_IMPORT_COALESCE_SECONDS are seconds (0 or more), "
        "XERO_IMPORT_PAGES_PER_READ a number of pages (1 or more)."
    )
CELERY_BEAT_SCHEDULE = {
    "sweep-xero-outbox": {"task": "accounting.tasks.sweep_outbox", "schedule": XERO_SYNC_SWEEP_SECONDS},
    # Pre-paid daily summaries (issue 20): a day's summary is made within five minutes of the day closing.
    "xero-daily-summaries": {"task": "accounting.tasks.make_daily_summaries", "schedule": 300},
    "xero-lock-dates": {"task": "accounting.tasks.lock_dates_check", "schedule": 3600},
    "xero-idle-connections": {"task": "accounting.tasks.refresh_idle_connections", "schedule": 86400},
    "xero-alert-digests": {"task": "accounting.tasks.mail_alerts_due", "schedule": 3600},
}
if XERO_IMPORT_POLL_SECONDS:
    CELERY_BEAT_SCHEDULE["import-xero-payments"] = {
        "task": "accounting.tasks.poll_xero_payments",
        "schedule": XERO_IMPORT_POLL_SECONDS,
    }
if XERO_RECONCILE_SCHEDULE.lower() not in ("", "off"):
    from celery.schedules import crontab

    _cron = XERO_RECONCILE_SCHEDULE.split()
    try:
        if len(_cron) != 5:
            raise ValueError("five fields")
        _minute, _hour, _day_of_month, _month, _day_of_week = _cron
        _schedule = crontab(
            minute=_minute, hour=_hour, day_of_month=_day_of_month, month_of_year=_month, day_of_week=_day_of_week
        )
    except ValueError:
        raise ImproperlyConfigured(
            "XERO_RECONCILE_SCHEDULE is cron's five fields, e.g. '0 3 * * *' (03:00 every day), or 'off'."
        ) from None
    CELERY_BEAT_SCHEDULE["reconcile-xero"] = {"task": "accounting.tasks.reconcile_all", "schedule": _schedule}

CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# One line per event, once, in UTC (arena_xero.logs); LOG_FORMAT=json for a log collector. The Celery
# worker and beat use this too (arena_xero.celery), so every process's lines agree.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured("LOG_FORMAT is 'plain' or 'json'.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"()": "arena_xero.logs.PlainFormatter", "format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "arena_xero.logs.JSONFormatter"},
    },
    "filters": {
        "client_errors_without_traceback": {"()": "arena_xero.logs.ClientErrorsWithoutTraceback"},
        "only_successful_requests": {"()": "arena_xero.logs.OnlySuccessfulRequests"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Django's defaults give these their own handlers as well as the root's: each line came out twice.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.request": {"handlers": [], "filters": ["client_errors_without_traceback"], "propagate": True},
        "django.server": {"handlers": [], "filters": ["only_successful_requests"], "propagate": True},
        # These log whole requests and token responses at DEBUG: quiet whatever LOG_LEVEL says.
        **{
            name: {"level": "WARNING"}
            for name in ("requests_oauthlib", "oauthlib", "xero_python", "urllib3", "requests", "axes")
        },
    },
}


# Xero's OAuth library (oauthlib, under requests-oauthlib) refuses plain http unless the process-wide
# OAUTHLIB_INSECURE_TRANSPORT is set. Arena sets it only when XERO_ALLOW_HTTP_HOSTS names a local sandbox;
# every Xero URL is still checked per host (accounting/xero/endpoints.py). Set from outside with an empty
# list, it would let OAuth run over http anywhere: refused below.
_INSECURE_TRANSPORT_FROM_ENVIRONMENT = bool(os.environ.get("OAUTHLIB_INSECURE_TRANSPORT"))
if XERO_ALLOW_HTTP_HOSTS:
    os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"

# Xero's webhook keys are long random strings: a shorter XERO_WEBHOOK_KEY is a typo or a made-up value.
WEBHOOK_KEY_MIN_LENGTH = 32


def _is_placeholder(value: str) -> bool:
    """A value anyone can read: a placeholder from the docs, or a value written in this repository."""
    lowered = value.strip().lower()
    if lowered.startswith("<") and lowered.endswith(">"):  # the README's "<...>" examples, copied as they are
        return True
    if lowered in _PUBLIC_VALUES or any(marker in lowered for marker in _PLACEHOLDER_MARKERS):
        return True
    return _in_repository(value.strip())


# Values that were defaults or examples here (anyone can read them, in this repository or its history), and
# the words that mark placeholders (bin/local.env's values all say "insecure").
_PUBLIC_VALUES = {
    "arena-xero-local-salt",
    "collectstatic",
    "tests-secret-key",
    "secret",
    "salt",
    "build",
    "arena-sandbox-client",
    "arena-sandbox-secret",
    "arena-xero-test-suite-key-0123456789-abcdefghijklmnopqrstuvwxyz",
    "arena-xero-test-suite-salt",
}
_PLACEHOLDER_MARKERS = ("change-me", "changeme", "change_me", "replace-me", "insecure", "placeholder", "example")
# What is read for _in_repository: the repository's own text files (not installed packages, run-time files,
# Git's objects or Xero's vendored API description).
_TEXT_SUFFIXES = {".py", ".md", ".txt", ".env", ".yml", ".yaml", ".toml", ".ini", ".cfg", ".html", ".css", ".js", ""}
_NOT_SOURCE = {".git", "var", "node_modules", "__pycache__", "openapi", "staticfiles"}


def _in_repository(value: str) -> bool:
    """Whether `value` is written in one of this repository's files as a whole word (Dockerfile's
    `ENCRYPTION_SALT=build`, a test's client id...): such a value is public, whoever copied it."""
    if len(value) < 4:
        return True  # too short to be a secret of anyone's own
    pattern = re.compile(r"(?<![\w.-])" + re.escape(value) + r"(?![\w-])")
    return pattern.search(_repository_text()) is not None


@functools.cache
def _repository_text() -> str:
    """The repository's text files, read once per process (about 1.5 MB; only with debug off)."""
    texts = []
    for folder, subfolders, files in os.walk(BASE_DIR):
        subfolders[:] = [d for d in subfolders if d not in _NOT_SOURCE and not d.startswith((".venv", "venv"))]
        for name in files:
            path = Path(folder, name)
            if path.suffix in _TEXT_SUFFIXES:
                try:
                    texts.append(path.read_text(errors="ignore"))
                except OSError:
                    continue
    return "\n".join(texts)


def _refuse_to_start() -> None:
    """Stop every process (web, worker, beat, manage.py) with one message naming each bad variable."""
    problems = []
    required = {
        "DJANGO_SECRET_KEY": (SECRET_KEY, "at least 50 random characters"),
        "ENCRYPTION_SALT": (SALT_KEY[0], "a random value of your own, kept for as long as the data"),
        "XERO_CLIENT_ID": (XERO_CLIENT_ID, "your Xero app's client id (developer.xero.com > My Apps)"),
        "XERO_CLIENT_SECRET": (XERO_CLIENT_SECRET, "your Xero app's client secret"),
    }
    if not DEBUG and XERO_WEBHOOK_KEY.strip():
        if len(XERO_WEBHOOK_KEY.strip()) < WEBHOOK_KEY_MIN_LENGTH:
            problems.append(
                f"XERO_WEBHOOK_KEY is too short to be Xero's: paste the webhook key Xero shows (at least "
                f"{WEBHOOK_KEY_MIN_LENGTH} characters), or leave it unset."
            )
        elif _is_placeholder(XERO_WEBHOOK_KEY):
            problems.append(
                "XERO_WEBHOOK_KEY is a placeholder from the repository or its docs: set your Xero webhook's key."
            )
    for name, (value, wanted) in required.items():
        if not value.strip():
            problems.append(f"{name} is not set: {wanted}.")
        elif not DEBUG and _is_placeholder(value):
            problems.append(f"{name} is a placeholder from the repository or its docs: set {wanted}.")
    # Django's own rule for a strong key (check --deploy's security.W009).
    if not DEBUG and SECRET_KEY.strip() and (len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5):
        problems.append("DJANGO_SECRET_KEY is too weak: use at least 50 random characters.")
    if not DEBUG and _INSECURE_TRANSPORT_FROM_ENVIRONMENT and not XERO_ALLOW_HTTP_HOSTS:
        problems.append(
            "OAUTHLIB_INSECURE_TRANSPORT is set, which lets OAuth run over plain http to any host: unset it"
            " (Arena sets it itself for the hosts named in XERO_ALLOW_HTTP_HOSTS, a local Xero sandbox only)."
        )
    for name in ("XERO_AUTHORIZE_URL", "XERO_TOKEN_URL", "XERO_REVOCATION_URL", "XERO_API_URL", "XERO_WEB_URL"):
        url = urlsplit(globals()[name])
        if url.scheme == "http" and url.hostname not in XERO_ALLOW_HTTP_HOSTS:
            problems.append(
                f"{name} is plain http to {url.hostname}: use https, or name the host in XERO_ALLOW_HTTP_HOSTS"
                " (a local Xero sandbox only)."
            )
        elif url.scheme not in ("http", "https") or not url.hostname:
            problems.append(f"{name} is not an http(s) URL.")
    if problems:
        lines = "\n".join(f"  - {problem}" for problem in problems)
        raise ImproperlyConfigured(
            f"arena-xero will not start until these environment variables are fixed"
            f" (README, 'Production'; for local use `make run` reads bin/local.env):\n{lines}"
        )


_refuse_to_start()
