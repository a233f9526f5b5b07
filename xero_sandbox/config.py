"""Sandbox settings: the registered OAuth app(s), token lifetimes, rate limits and switches.

``SandboxConfig`` is built from defaults, environment variables (``XERO_SANDBOX_*``) and
command-line options, in that order of precedence (later wins). The runtime-tunable part can be
changed later through ``POST /_sandbox/config``; ``POST /_sandbox/reset`` with ``{"config": true}``
puts back what the process started with.
"""
import copy
import os
from dataclasses import asdict, dataclass, field, fields

DEFAULT_CLIENT_ID = "arena-sandbox-client"
DEFAULT_CLIENT_SECRET = "arena-sandbox-secret"
DEFAULT_APP_NAME = "Arena Billing"
DEFAULT_REDIRECT_URIS = (
    "http://127.0.0.1:8000/accounting/xero/callback/",
    "http://localhost:8000/accounting/xero/callback/",
)

MAX_ORGANISATIONS = 1000

# Settings that POST /_sandbox/config may change, with the type each value is coerced to.
TUNABLE = {
    "access_token_ttl": int,
    "refresh_grace_seconds": int,
    "refresh_token_ttl": int,
    "auth_code_ttl": int,
    "idempotency_window": int,
    "minute_limit": int,
    "day_limit": int,
    "concurrent_limit": int,
    "app_minute_limit": int,
    "time_scale": float,
    "validate_openapi": bool,
    "request_log": bool,
    "webhook_retry_seconds": float,
    "webhook_max_attempts": int,
    "organisations": int,
    "app_connection_limit": int,
}
# Per-app settings POST /_sandbox/config may change (for the first app, or the one named by client_id).
APP_SETTINGS = ("redirect_uris", "webhook_url", "webhook_key")


@dataclass
class ClientApp:
    """An app registered with the sandbox, as in Xero's developer portal."""

    client_id: str
    client_secret: str
    name: str = DEFAULT_APP_NAME
    redirect_uris: list[str] = field(default_factory=lambda: list(DEFAULT_REDIRECT_URIS))
    webhook_url: str | None = None
    webhook_key: str | None = None

    def set_webhook(self, url: str | None = None, key: str | None = None) -> None:
        """Where Xero sends this app's webhooks; a URL without a key gets a new key, as in Xero."""
        if url is not None:
            self.webhook_url = url or None
        if key is not None:
            self.webhook_key = key or None
        if self.webhook_url and not self.webhook_key:
            from .webhooks import new_webhook_key

            self.webhook_key = new_webhook_key()


@dataclass
class SandboxConfig:
    clients: list[ClientApp] = field(
        default_factory=lambda: [ClientApp(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)]
    )
    state_file: str | None = None
    access_token_ttl: int = 1800
    refresh_grace_seconds: int = 1800
    refresh_token_ttl: int = 60 * 24 * 3600
    auth_code_ttl: int = 300
    idempotency_window: int = 24 * 3600
    minute_limit: int = 60
    day_limit: int = 5000
    concurrent_limit: int = 5
    app_minute_limit: int = 10000
    time_scale: float = 1.0
    validate_openapi: bool = False
    request_log: bool = True
    webhook_retry_seconds: float = 1.0
    webhook_max_attempts: int = 10
    organisations: int = 2  # Organisation 1 and 2, then copies of Organisation 1 up to this number
    # Organisations an app may connect before Xero wants it certified (Xero's is 25); 0: no limit here.
    app_connection_limit: int = 0
    signing_key: str | None = None

    def client(self, client_id: str | None) -> ClientApp | None:
        return next((c for c in self.clients if c.client_id == client_id), None)

    def copy(self) -> "SandboxConfig":
        return copy.deepcopy(self)

    def update(self, changes: dict) -> None:
        """Apply a ``POST /_sandbox/config`` body; raises ValueError on unknown keys or bad values."""
        for key, value in changes.items():
            if key == "redirect_uris":
                self._add_redirect_uris(value, changes.get("client_id"))
            elif key in ("webhook_url", "webhook_key"):
                if value is not None and not isinstance(value, str):
                    raise ValueError(f"{key} must be a string (or null)")
                self._app(changes.get("client_id")).set_webhook(**{key.split("_")[1]: value or ""})
            elif key == "client_id":
                continue
            elif key in TUNABLE:
                setattr(self, key, _coerce(TUNABLE[key], value, key))
            else:
                raise ValueError(f"unknown setting {key!r}")
        if self.time_scale <= 0:
            raise ValueError("time_scale must be positive")
        if not 2 <= self.organisations <= MAX_ORGANISATIONS:
            raise ValueError(f"organisations must be from 2 to {MAX_ORGANISATIONS}")

    def _app(self, client_id: str | None) -> ClientApp:
        client = self.client(client_id) if client_id else self.clients[0]
        if client is None:
            raise ValueError(f"unknown client_id {client_id!r}")
        return client

    def _add_redirect_uris(self, uris, client_id: str | None) -> None:
        if isinstance(uris, str):
            uris = [uris]
        client = self._app(client_id)
        for uri in uris:
            if uri not in client.redirect_uris:
                client.redirect_uris.append(uri)

    def public_dict(self) -> dict:
        data = asdict(self)
        data.pop("signing_key")
        return data


def _coerce(kind, value, key):
    if kind is bool:
        if isinstance(value, str):
            return value.strip().lower() in ("1", "true", "yes", "on")
        return bool(value)
    try:
        result = kind(value)
    except (TypeError, ValueError):
        raise ValueError(f"{key} must be a {kind.__name__}") from None
    if result < 0:
        raise ValueError(f"{key} must not be negative")
    return result


ENV_PREFIX = "XERO_SANDBOX_"


def config_from_env(environ=None) -> SandboxConfig:
    """Read ``XERO_SANDBOX_*`` variables (see README.md) into a config."""
    environ = os.environ if environ is None else environ
    config = SandboxConfig()
    for f in fields(SandboxConfig):
        if f.name in TUNABLE or f.name in ("state_file", "signing_key"):
            raw = environ.get(ENV_PREFIX + f.name.upper())
            if raw not in (None, ""):
                kind = TUNABLE.get(f.name, str)
                setattr(config, f.name, _coerce(kind, raw, f.name) if kind is not str else raw)
    apply_client_options(
        config,
        client_id=environ.get(ENV_PREFIX + "CLIENT_ID"),
        client_secret=environ.get(ENV_PREFIX + "CLIENT_SECRET"),
        redirect_uris=environ.get(ENV_PREFIX + "REDIRECT_URIS", "").replace(",", " ").split(),
        app_name=environ.get(ENV_PREFIX + "APP_NAME"),
        webhook_url=environ.get(ENV_PREFIX + "WEBHOOK_URL"),
        webhook_key=environ.get(ENV_PREFIX + "WEBHOOK_KEY"),
    )
    return config


def apply_client_options(config, *, client_id=None, client_secret=None, redirect_uris=(), app_name=None,
                         webhook_url=None, webhook_key=None):
    """Override the default app's credentials, redirect URIs, name and webhook where given."""
    client = config.clients[0]
    if webhook_url or webhook_key:
        client.set_webhook(webhook_url or None, webhook_key or None)
    if client_id:
        client.client_id = client_id
    if client_secret:
        client.client_secret = client_secret
    if redirect_uris:
        client.redirect_uris = list(redirect_uris)
    if app_name:
        client.name = app_name
