"""Settings for arena-xero, read from environment variables (see the README's table).

With no DATABASE_URL the app uses SQLite, and with no REDIS_URL / CELERY_BROKER_URL Celery uses
kombu's filesystem transport, so `make run` needs no server. Production sets both.
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("ARENA_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()

SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="insecure-local-development-key-change-me-in-production")
# Secrets at rest (Xero tokens, gateway passwords) are encrypted with a key derived from
# SECRET_KEY and this salt; rotate SECRET_KEY with SECRET_KEY_FALLBACKS.
SALT_KEY = env.str("ENCRYPTION_SALT", default="arena-xero-local-salt")
SECRET_KEY_FALLBACKS = env.list("DJANGO_SECRET_KEY_FALLBACKS", default=[])
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "payments",
    "accounting",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, so it renders error pages with the user and messages: never Django's debug page, even with DEBUG.
    "arena_xero.middleware.ErrorPagesMiddleware",
]

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

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-au"
TIME_ZONE = env.str("TIME_ZONE", default="Australia/Sydney")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "static"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "accounting:settings_home"
LOGOUT_REDIRECT_URL = "login"

REDIS_URL = env.str("REDIS_URL", default="")

# Celery: Redis when REDIS_URL (or CELERY_BROKER_URL) is set, else a broker that needs no server.
# "localhost" because kombu warns "No hostname was supplied" about filesystem:// (the folder is below).
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://localhost/")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue_dir = Path(env.str("CELERY_BROKER_FOLDER", default=str(VAR_DIR / "celery-broker")))
    _queue_dir.mkdir(parents=True, exist_ok=True)
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
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=300)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=240)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Publishing must not hang a web request when the broker is down: the outbox sweeper sends later.
CELERY_BROKER_CONNECTION_TIMEOUT = env.float("CELERY_BROKER_CONNECTION_TIMEOUT", default=2.0)
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}
CELERY_TIMEZONE = TIME_ZONE

# Xero: the app's credentials and endpoints. `make run` points the endpoints at the Xero sandbox.
XERO_CLIENT_ID = env.str("XERO_CLIENT_ID", default="arena-sandbox-client")
XERO_CLIENT_SECRET = env.str("XERO_CLIENT_SECRET", default="arena-sandbox-secret")
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
# Seconds to wait for Xero's answer before treating the call as unclear (it is looked up before a resend).
XERO_HTTP_TIMEOUT = env.float("XERO_HTTP_TIMEOUT", default=30.0)
# Refresh the access token this many seconds before it expires.
XERO_TOKEN_REFRESH_MARGIN = env.int("XERO_TOKEN_REFRESH_MARGIN", default=120)

# The sync engine (see README, "How sync works").
XERO_SYNC_BATCH_SIZE = env.int("XERO_SYNC_BATCH_SIZE", default=50)
XERO_SYNC_MAX_ROUNDS = env.int("XERO_SYNC_MAX_ROUNDS", default=20)
XERO_SYNC_MAX_ATTEMPTS = env.int("XERO_SYNC_MAX_ATTEMPTS", default=10)
XERO_SYNC_RETRY_BASE_SECONDS = env.float("XERO_SYNC_RETRY_BASE_SECONDS", default=5.0)
XERO_SYNC_RETRY_MAX_SECONDS = env.float("XERO_SYNC_RETRY_MAX_SECONDS", default=3600.0)
XERO_SYNC_VALIDATION_RETRY_SECONDS = env.float("XERO_SYNC_VALIDATION_RETRY_SECONDS", default=3600.0)
XERO_SYNC_RESCHEDULE_WITHIN_SECONDS = env.float("XERO_SYNC_RESCHEDULE_WITHIN_SECONDS", default=900.0)
XERO_SYNC_SWEEP_SECONDS = env.float("XERO_SYNC_SWEEP_SECONDS", default=60.0)
CELERY_BEAT_SCHEDULE = {
    "sweep-xero-outbox": {"task": "accounting.tasks.sweep_outbox", "schedule": XERO_SYNC_SWEEP_SECONDS},
}

CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # One line per event, in UTC with the offset (arena_xero/logs.py); 4xx lines without a traceback.
    "formatters": {
        "plain": {"()": "arena_xero.logs.UTCFormatter", "format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    },
    "filters": {"client_errors": {"()": "arena_xero.logs.ClientErrorFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["client_errors"]}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # These libraries log whole token responses at DEBUG: keep them quiet whatever LOG_LEVEL says.
        **{name: {"level": "WARNING"} for name in ("requests_oauthlib", "oauthlib", "xero_python", "urllib3")},
        # Django's own handlers (the DEBUG console, runserver's access log) would print each line a second
        # time, or in another format: everything goes through the root's handler, once.
        "django": {"handlers": []},
        "django.server": {"handlers": [], "propagate": True},
    },
}
