"""The connection to a whitelabel's Xero organisation once it is made: credentials, token refresh and the
organisation's settings read from Xero (chart of accounts, tax rates, currencies), cached per organisation.

`connection_credentials` is the one place that hands out a valid access token; `connection_refresh`
refreshes under a row lock so concurrent workers never spend the same single-use refresh token twice, and
stores the rotated refresh token before the new access token is used. `xero_call` is how everything above
(the sync engine, the reconcile, the connect flow) calls Xero for an organisation.
"""

import datetime
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from payments.models import Whitelabel

from .alerts import alert_raise
from .errors import ConnectionChanged, NotConnected
from .models import Alert, XeroConnection
from .xero import client, oauth
from .xero.errors import XeroAuthExpired, XeroConnectionRevoked

logger = logging.getLogger(__name__)
T = TypeVar("T")

CHART_CACHE_SECONDS = 300  # the oldest chart the settings page shows, or Arena refuses a record on
ORGANISATION_CACHE_SECONDS = 3600
CHART_KEEP_SECONDS = ORGANISATION_CACHE_SECONDS  # the engine's, while Xero accepts what it sends


@dataclass(frozen=True)
class ChartAccount:
    """One account of the connected Xero organisation's chart, as the settings page and the engine need it."""

    code: str
    name: str
    type: str
    status: str
    tax_type: str = ""

    @property
    def label(self) -> str:
        return f"{self.code} – {self.name}"


# Tokens ---------------------------------------------------------------------------------------------


def _needs_refresh(connection: XeroConnection) -> bool:
    margin = datetime.timedelta(seconds=settings.XERO_TOKEN_REFRESH_MARGIN)
    return connection.access_token_expires_at is None or connection.access_token_expires_at <= timezone.now() + margin


def _active(connection: XeroConnection | None) -> XeroConnection:
    if connection is None or connection.status == XeroConnection.Status.DISCONNECTED:
        raise NotConnected("This whitelabel is not connected to Xero.")
    if connection.status == XeroConnection.Status.NEEDS_RECONNECT:
        raise XeroConnectionRevoked(connection.status_reason or "The Xero connection needs to be reconnected.")
    return connection


def connection_credentials(connection: XeroConnection) -> client.Credentials:
    """A valid access token for `connection`'s organisation, refreshing it first if it is about to expire."""
    connection = _active(XeroConnection.objects.filter(pk=connection.pk).first())
    if _needs_refresh(connection):
        return connection_refresh(connection=connection)
    return client.Credentials(connection.access_token, connection.tenant_id)


def connection_refresh(*, connection: XeroConnection, rejected_token: str | None = None) -> client.Credentials:
    """Refresh under the connection's row lock. A worker that waited for the lock uses the token the
    other one obtained. `rejected_token`: Xero answered 401 to it, so refresh even if it looks valid."""
    revoked_reason = None
    with transaction.atomic():
        locked = _active(XeroConnection.objects.select_for_update().filter(pk=connection.pk).first())
        already_renewed = rejected_token is not None and locked.access_token != rejected_token
        if already_renewed or (rejected_token is None and not _needs_refresh(locked)):
            return client.Credentials(locked.access_token, locked.tenant_id)
        try:
            tokens = oauth.refresh(locked.refresh_token)
        except XeroConnectionRevoked as exc:
            revoked_reason = str(exc)
        else:
            locked.access_token = tokens.access_token
            locked.refresh_token = tokens.refresh_token
            locked.access_token_expires_at = moment_of(tokens.expires_at)
            locked.scopes = " ".join(tokens.scopes) or locked.scopes
            locked.refreshed_at = timezone.now()
            locked.save(
                update_fields=[
                    "access_token",
                    "refresh_token",
                    "access_token_expires_at",
                    "scopes",
                    "refreshed_at",
                    "updated_at",
                ]
            )
            return client.Credentials(locked.access_token, locked.tenant_id)
    connection_mark_needs_reconnect(connection=connection, reason=revoked_reason)
    raise XeroConnectionRevoked(revoked_reason)


def connection_mark_needs_reconnect(*, connection: XeroConnection, reason: str) -> None:
    """Pause the connection's sync until an admin reconnects; nothing queued is dropped."""
    changed = XeroConnection.objects.filter(pk=connection.pk, status=XeroConnection.Status.ACTIVE).update(
        status=XeroConnection.Status.NEEDS_RECONNECT,
        status_reason=f"{reason} An admin needs to reconnect Xero on the settings page.",
        updated_at=timezone.now(),
    )
    logger.warning("Xero connection %s needs reconnect", connection.pk)
    if changed:
        alert_raise(
            whitelabel_id=connection.whitelabel_id,
            kind=Alert.Kind.RECONNECT,
            text=f"{connection.tenant_name}: {reason or 'Xero no longer accepts Arena.'} Reconnect Xero on the "
            "settings page; records wait meanwhile, nothing is lost.",
        )


def xero_call(
    connection: XeroConnection, call: Callable[[client.Credentials], T], *, tenant_id: str | None = None
) -> T:
    """Run `call` with valid credentials: on 401 refresh once and retry; on 403 pause the connection.

    With `tenant_id`, refuse (ConnectionChanged) if the connection now points at another organisation.
    """
    creds = connection_credentials(connection)
    if tenant_id is not None and creds.tenant_id != tenant_id:
        raise ConnectionChanged("The whitelabel was connected to another Xero organisation meanwhile.")
    try:
        try:
            return call(creds)
        except XeroAuthExpired:
            return call(connection_refresh(connection=connection, rejected_token=creds.access_token))
    except XeroConnectionRevoked as exc:
        connection_mark_needs_reconnect(connection=connection, reason=str(exc))
        raise


# The organisation's settings, cached --------------------------------------------------------------------


def _key(connection: XeroConnection, what: str) -> str:
    return f"xero-settings-{what}:{connection.tenant_id}"


def _cached(
    connection: XeroConnection,
    what: str,
    read: Callable[[client.Credentials], T],
    ttl: int,
    fresh: bool,
    max_age: float | None = None,
) -> T:
    """An organisation setting read from Xero, cached per organisation (ids mean nothing across them) with
    the time it was read; one read more than `max_age` seconds ago is read again."""
    key = _key(connection, what)
    entry = None if fresh else cache.get(key)
    if entry is None or (max_age is not None and time.time() - entry[0] > max_age):
        entry = (time.time(), xero_call(connection, read, tenant_id=connection.tenant_id))
        cache.set(key, entry, ttl)
    return entry[1]


def organisation_caches_clear(connection: XeroConnection) -> None:
    settings_read = ("chart", "tax-rates", "currencies", "tracking")
    cache.delete_many([_key(connection, what) for what in settings_read])


def _chart_read(creds: client.Credentials) -> list[ChartAccount]:
    return [
        ChartAccount(
            code=r.get("Code") or "",
            name=r.get("Name") or "",
            type=r.get("Type") or "",
            status=r.get("Status") or "",
            tax_type=r.get("TaxType") or "",
        )
        for r in client.accounts_list(creds)
        if r.get("Code")
    ]


def chart_of_accounts(connection: XeroConnection, *, fresh: bool = False) -> list[ChartAccount]:
    """The organisation's accounts, read at most CHART_CACHE_SECONDS ago."""
    return _cached(connection, "chart", _chart_read, CHART_KEEP_SECONDS, fresh, max_age=CHART_CACHE_SECONDS)


def chart_for_sending(connection: XeroConnection) -> list[ChartAccount]:
    """The chart the engine codes records with: kept up to CHART_KEEP_SECONDS, so a long backlog does not read
    it again every few minutes in the organisation's share of calls. A run that had anything refused drops
    it if it is older than the settings page's (chart_recheck), so the retry codes against Xero's chart."""
    return _cached(connection, "chart", _chart_read, CHART_KEEP_SECONDS, fresh=False)


def chart_recheck(connection: XeroConnection) -> None:
    """Something was refused: a chart read more than CHART_CACHE_SECONDS ago is read again when next needed
    (an account archived or added in Xero since)."""
    key = _key(connection, "chart")
    entry = cache.get(key)
    if entry is not None and time.time() - entry[0] > CHART_CACHE_SECONDS:
        cache.delete(key)


def tax_rates(connection: XeroConnection, *, fresh: bool = False) -> list[dict]:
    """The organisation's tax rates, as Xero lists them (cached)."""
    return _cached(connection, "tax-rates", client.tax_rates_list, ORGANISATION_CACHE_SECONDS, fresh)


def tracking_categories(connection: XeroConnection, *, fresh: bool = False) -> list[dict]:
    """The organisation's tracking categories and options, archived ones too (cached)."""
    return _cached(connection, "tracking", client.tracking_categories_list, ORGANISATION_CACHE_SECONDS, fresh)


def currencies(connection: XeroConnection, *, fresh: bool = False) -> list[str]:
    """The currency codes the organisation has (cached)."""

    def read(creds: client.Credentials) -> list[str]:
        return [row["Code"] for row in client.currencies_list(creds) if row.get("Code")]

    return _cached(connection, "currencies", read, ORGANISATION_CACHE_SECONDS, fresh)


def moment_of(timestamp: float) -> datetime.datetime:
    """A token's expiry (seconds since the epoch) as an aware datetime."""
    return datetime.datetime.fromtimestamp(timestamp, tz=datetime.UTC)


def whitelabel_connection(whitelabel: Whitelabel) -> XeroConnection | None:
    return XeroConnection.objects.filter(whitelabel=whitelabel).select_related("connected_by").first()
