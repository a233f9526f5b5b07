"""The whitelabel admin's side of the integration: connecting to Xero (consent, picking an organisation,
switching books), disconnecting, saving the settings page and sending what waits. Once connected, calls to
Xero go through accounting.connection (credentials, refresh, the organisation's cached settings).
"""

import datetime
import logging
import secrets
import time
from dataclasses import dataclass
from typing import TypeVar

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from payments.models import Membership, PaymentGatewaySettings, Whitelabel
from payments.selectors import user_role

from . import imports, selectors
from .alerts import alert_raise
from .connection import (
    chart_of_accounts,
    connection_refresh,
    currencies,
    moment_of,
    organisation_caches_clear,
    xero_call,
)
from .errors import ConnectError, ConnectionChanged, NotConnected
from .models import AccountingSettings, Alert, AlertOptOut, SyncRecord, XeroAuthorisation, XeroConnection
from .selectors import books_switch
from .sync import holds, mapping, outbox, runner
from .xero import client, oauth
from .xero.errors import XeroConnectionRevoked, XeroError, XeroOAuthError, XeroUnavailable

logger = logging.getLogger(__name__)
T = TypeVar("T")

SESSION_KEY = "xero_oauth"
STATE_TTL_SECONDS = 15 * 60
PENDING_TTL = datetime.timedelta(minutes=15)


@dataclass(frozen=True)
class ConnectOutcome:
    whitelabel: Whitelabel
    connection: XeroConnection | None = None
    pending: XeroAuthorisation | None = None


# The consent ----------------------------------------------------------------------------------------


def xero_authorisation_start(*, session, whitelabel: Whitelabel) -> str:
    """The URL of Xero's consent page for `whitelabel`; the state and PKCE verifier go into `session`.

    Raises ConnectError, saying what to do, when Arena's Xero app holds as many organisations as Xero lets it
    (XERO_APP_CONNECTION_LIMIT) and this whitelabel holds none of them: Xero would refuse the consent."""
    usage = selectors.app_connections()
    if usage.full and not usage.holds(whitelabel):
        raise ConnectError(
            f"Arena's Xero app is connected to {usage.used} organisations, as many as Xero lets an app that has not "
            "completed its certification connect, so Xero would refuse another. Your settings are kept; ask Arena "
            "support, who can have the app certified by Xero (its App Partner programme) or free a connection.",
            whitelabel,
        )
    state = secrets.token_urlsafe(32)
    verifier, challenge = oauth.new_pkce_pair()
    pending = {s: v for s, v in session.get(SESSION_KEY, {}).items() if v["at"] > time.time() - STATE_TTL_SECONDS}
    pending[state] = {"whitelabel": whitelabel.pk, "verifier": verifier, "at": time.time()}
    session[SESSION_KEY] = pending
    return oauth.authorization_url(state, challenge)


def _take_state(session, state: str) -> dict | None:
    pending = dict(session.get(SESSION_KEY, {}))
    entry = pending.pop(state, None) if state else None
    session[SESSION_KEY] = pending
    if entry is None or entry["at"] < time.time() - STATE_TTL_SECONDS:
        return None
    return entry


def xero_authorisation_complete(*, session, user, params) -> ConnectOutcome:
    """Handle Xero's redirect back. Raises ConnectError with a message for every failure."""
    entry = _take_state(session, params.get("state", ""))
    if entry is None:
        raise ConnectError(
            "The Xero connection could not be completed: Arena did not recognise the request "
            "(it was already used, has expired, or was not started here). Please try again."
        )
    whitelabel = Whitelabel.objects.get(pk=entry["whitelabel"])
    if user_role(user, whitelabel) != Membership.Role.ADMIN:
        raise ConnectError("Only whitelabel admins can connect Xero.")
    error = params.get("error")
    if error == "access_denied":
        raise ConnectError("You cancelled the connection to Xero. Nothing was changed.", whitelabel)
    if error:
        raise ConnectError(
            f"Xero did not connect: {XeroOAuthError(error, params.get('error_description', ''))}", whitelabel
        )
    code = params.get("code")
    if not code:
        raise ConnectError("Xero sent Arena back without an authorisation code. Please try again.", whitelabel)
    try:
        tokens = oauth.exchange_code(code, entry["verifier"])
        tenants = client.connections_list(tokens.access_token, auth_event_id=tokens.auth_event_id)
    except XeroError as exc:
        logger.warning("Xero connect for whitelabel %s failed: %s", whitelabel.pk, type(exc).__name__)
        raise ConnectError(f"The connection to Xero failed: {exc} Nothing was changed.", whitelabel) from None
    tenants = [t for t in tenants if t["tenant_type"] == "ORGANISATION"]
    if not tenants:
        raise ConnectError("Xero did not give access to any organisation. Please try again and pick one.", whitelabel)
    if len(tenants) == 1 and books_switch(whitelabel, tenants[0]["tenant_id"]) is None:
        return ConnectOutcome(
            whitelabel, connection=connection_create(whitelabel=whitelabel, user=user, tokens=tokens, tenant=tenants[0])
        )
    pending = XeroAuthorisation.objects.create(
        whitelabel=whitelabel,
        user=user,
        tenants=tenants,
        auth_event_id=tokens.auth_event_id or "",
        scopes=" ".join(tokens.scopes),
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        access_token_expires_at=moment_of(tokens.expires_at),
        connected_as=tokens.user_email,
    )
    return ConnectOutcome(whitelabel, pending=pending)


def xero_authorisation_choose(
    *, pending: XeroAuthorisation, user, tenant_id: str, confirm_switch: bool = False
) -> XeroConnection:
    """Finish a consent with the organisation the admin picked (several were authorised, or it is not
    the one the whitelabel's records were sent to: then only with `confirm_switch`)."""
    if pending.created_at < timezone.now() - PENDING_TTL:
        pending.delete()
        raise ConnectError("That Xero authorisation has expired. Please connect again.", pending.whitelabel)
    tenant = next((t for t in pending.tenants if t["tenant_id"] == tenant_id), None)
    if tenant is None:
        raise ConnectError("Pick one of the organisations listed.", pending.whitelabel)
    switch = books_switch(pending.whitelabel, tenant_id)
    if switch is not None and not confirm_switch:
        raise ConnectError(
            f"Arena has sent {switch.sent} records to {switch.organisation}. Connecting {tenant['tenant_name']} "
            f"sends all of them to {tenant['tenant_name']} as well: tick the box to confirm.",
            pending.whitelabel,
        )
    tokens = oauth.TokenSet(
        pending.access_token,
        pending.refresh_token,
        pending.access_token_expires_at.timestamp(),
        tuple(pending.scopes.split()),
    )
    connection = connection_create(
        whitelabel=pending.whitelabel, user=user, tokens=tokens, tenant=tenant, connected_as=pending.connected_as
    )
    for other in pending.tenants:
        if other["tenant_id"] != tenant_id:
            _forget_connection_at_xero(tokens.access_token, other["id"])
    pending.delete()
    return connection


def pending_authorisations_purge() -> int:
    """Forget consents nobody finished choosing an organisation for (their tokens go with them)."""
    deleted, _ = XeroAuthorisation.objects.filter(created_at__lt=timezone.now() - PENDING_TTL).delete()
    return deleted


def _forget_connection_at_xero(access_token: str, connection_id: str) -> None:
    try:
        client.connection_delete(access_token, connection_id)
    except XeroError as exc:
        logger.info("Could not remove unused Xero connection %s: %s", connection_id, type(exc).__name__)


def connection_create(
    *, whitelabel: Whitelabel, user, tokens: oauth.TokenSet, tenant: dict, connected_as: str | None = None
) -> XeroConnection:
    """Store the connection to `tenant`, replacing the whitelabel's previous one."""
    taken = (
        XeroConnection.objects.filter(tenant_id=tenant["tenant_id"])
        .exclude(status=XeroConnection.Status.DISCONNECTED)
        .exclude(whitelabel=whitelabel)
        .first()
    )
    if taken is not None:
        raise ConnectError(
            f"The Xero organisation {tenant['tenant_name']} is already connected to another Arena whitelabel. "
            "Disconnect it there first, or pick another organisation.",
            whitelabel,
        )
    fields = {
        "tenant_id": tenant["tenant_id"],
        "tenant_name": tenant["tenant_name"],
        "connection_id": tenant["id"],
        "auth_event_id": tenant.get("auth_event_id") or tokens.auth_event_id or "",
        "scopes": " ".join(tokens.scopes),
        "status": XeroConnection.Status.ACTIVE,
        "status_reason": "",
        "access_token": tokens.access_token,
        "refresh_token": tokens.refresh_token,
        "access_token_expires_at": moment_of(tokens.expires_at),
        "refreshed_at": timezone.now(),
        "connected_by": user,
        "connected_as": tokens.user_email if connected_as is None else connected_as,
        "connected_at": timezone.now(),
        "disconnected_at": None,
    }
    try:
        with transaction.atomic():
            connection, _ = XeroConnection.objects.update_or_create(whitelabel=whitelabel, defaults=fields)
    except IntegrityError:
        raise ConnectError(
            f"The Xero organisation {tenant['tenant_name']} is already connected to another Arena whitelabel.",
            whitelabel,
        ) from None
    organisation_caches_clear(connection)
    connection_read_short_code(connection=connection)
    usage = selectors.app_connections()
    if usage.nearly_full:
        alert_raise(
            whitelabel_id=None,
            kind=Alert.Kind.APP_CONNECTIONS,
            text=f"Arena's Xero app is connected to {usage.used} of the {usage.limit} organisations Xero allows "
            "before certification (XERO_APP_CONNECTION_LIMIT): apply for Xero's app partner programme in time.",
        )
        logger.warning(
            "Arena's Xero app is connected to %s of the %s organisations Xero allows it before certification",
            usage.used,
            usage.limit,
        )
    logger.info("Whitelabel %s connected to Xero organisation %s", whitelabel.pk, connection.tenant_id)
    # What waited while the connection needed attention goes now (skipped records still need a resync).
    runner.run_request(whitelabel.pk, delay=0)
    if imports.read_before(whitelabel, connection.tenant_id):  # a reconnect: what people entered in Xero meanwhile
        imports.import_request(whitelabel.pk, delay=0)
    return connection


def connection_read_short_code(*, connection: XeroConnection) -> str:
    """Read the organisation's short code from Xero and keep it on the connection: links from the admin open
    records in this organisation with it. Blank (and links open in whatever organisation is open in Xero)
    if Xero can't say right now; connecting again reads it again."""
    try:
        organisation = xero_call(connection, client.organisation_get, tenant_id=connection.tenant_id)
    except (XeroError, NotConnected, ConnectionChanged) as exc:
        logger.info("Could not read the short code of Xero organisation %s: %s", connection.tenant_id, exc)
        return ""
    holds.lock_dates_store(connection, organisation)  # the same answer carries the lock dates and plan
    short_code = str(organisation.get("ShortCode") or "")[: XeroConnection._meta.get_field("short_code").max_length]
    XeroConnection.objects.filter(pk=connection.pk).update(short_code=short_code)
    connection.short_code = short_code
    return short_code


def connection_read_lock_dates(*, connection: XeroConnection, plan: bool = False) -> int | None:
    """Read the organisation's lock dates and plan again (the settings page was saved, `resync_xero` runs, the
    hourly check while records are held) and send what no longer waits for them; with `plan`, also what the
    plan held (the admin may have upgraded it). Returns how many go, None if Xero couldn't be asked now."""
    try:
        organisation = xero_call(connection, client.organisation_get, tenant_id=connection.tenant_id)
    except (XeroError, NotConnected, ConnectionChanged) as exc:
        logger.info("Could not read the lock dates of Xero organisation %s: %s", connection.tenant_id, exc)
        return None
    holds.lock_dates_store(connection, organisation)
    released = holds.holds_release(connection, plan=plan)
    if released:
        runner.run_request(connection.whitelabel_id, delay=0)
    return released


def read_lock_dates_of(whitelabel: Whitelabel) -> None:
    """connection_read_lock_dates for the whitelabel's active connection, if it has one."""
    connection = XeroConnection.objects.filter(whitelabel=whitelabel, status=XeroConnection.Status.ACTIVE).first()
    if connection is not None:
        connection_read_lock_dates(connection=connection, plan=True)


# Xero's refresh token dies after 60 days unused: refresh a connection idle this long, daily (Celery beat).
IDLE_REFRESH_AFTER = datetime.timedelta(days=50)


def connections_refresh_idle() -> int:
    """Refresh the tokens of active connections unused (not refreshed) for 50 days, so an organisation that
    bills nothing for two months isn't disconnected by Xero. Returns how many were refreshed."""
    cutoff = timezone.now() - IDLE_REFRESH_AFTER
    refreshed = 0
    idle = XeroConnection.objects.filter(status=XeroConnection.Status.ACTIVE).filter(
        Q(refreshed_at__lt=cutoff) | Q(refreshed_at__isnull=True, connected_at__lt=cutoff)
    )
    for connection in idle:
        try:
            connection_refresh(connection=connection, rejected_token=connection.access_token or "")
        except (XeroError, NotConnected) as exc:
            logger.warning("Could not refresh the idle Xero connection %s: %s", connection.pk, exc)
        else:
            refreshed += 1
            logger.info("Refreshed the idle Xero connection %s", connection.pk)
    return refreshed


def connection_disconnect(*, connection: XeroConnection) -> None:
    """Remove the connection at Xero (if it can be reached) and forget the tokens; sync history stays."""
    if connection.status == XeroConnection.Status.ACTIVE:
        try:
            xero_call(connection, lambda creds: client.connection_delete(creds.access_token, connection.connection_id))
        except (XeroConnectionRevoked, NotConnected):
            pass
        except XeroUnavailable as exc:
            logger.warning("Disconnect: Xero unreachable (%s); forgetting the tokens anyway", exc)
        except XeroError as exc:
            logger.info("Disconnect: Xero answered %s; forgetting the tokens anyway", type(exc).__name__)
    XeroConnection.objects.filter(pk=connection.pk).update(
        status=XeroConnection.Status.DISCONNECTED,
        access_token=None,
        refresh_token=None,
        access_token_expires_at=None,
        disconnected_at=timezone.now(),
        status_reason="",
        updated_at=timezone.now(),
    )
    organisation_caches_clear(connection)


def accounting_settings_save(
    *, whitelabel: Whitelabel, user, accounting: AccountingSettings, gateway: PaymentGatewaySettings
) -> AccountingSettings:
    """Save the settings page's two sections (validated by their forms) in one transaction, and send again
    what Xero refused: the new settings (a revenue code, a bank account) may be what it lacked."""
    with transaction.atomic():
        accounting.whitelabel, gateway.whitelabel = whitelabel, whitelabel
        accounting.updated_by = user
        accounting.save()
        gateway.save()
        outbox.records_resync(whitelabel=whitelabel, statuses=(SyncRecord.Status.FAILED,))
    read_lock_dates_of(whitelabel)  # the lock date may have moved, the plan changed; the policy may be new
    return accounting


def whitelabel_resync(*, whitelabel: Whitelabel) -> int:
    """Send again what was skipped (e.g. billed before connecting) or failed; how many records will go.
    Raises NotConnected, saying why, when the whitelabel's records can't be sent now."""
    reason = outbox.skip_reason(whitelabel.pk)
    if reason:
        raise NotConnected(reason)
    read_lock_dates_of(whitelabel)
    with transaction.atomic():
        return outbox.records_resync(whitelabel=whitelabel)


def currency_warning(connection: XeroConnection) -> str | None:
    """A message if the organisation lacks the whitelabel's billing currency: Xero would refuse every invoice,
    payment and receipt in it. Raises a XeroError if Xero can't be asked."""
    code = connection.whitelabel.default_currency
    if code in currencies(connection):
        return None
    return (
        f"Arena bills {connection.whitelabel.name} in {code}, but Xero organisation {connection.tenant_name} does "
        f"not have that currency, so Xero will refuse what Arena sends. Add {code} in Xero (Accounting > Advanced "
        "> Currencies); what was refused is then sent again when you press Send."
    )


def settings_problems(connection: XeroConnection, accounting: AccountingSettings | None) -> dict[str, str]:
    """The saved revenue code and bank account that the connected organisation would refuse, by field, in the
    words the settings page shows under them (mapping.setting_problem). Empty ones are not listed: the page
    asks for those. Raises a XeroError if Xero can't be asked for the chart of accounts."""
    if accounting is None or not accounting.uses_xero:
        return {}
    chart = chart_of_accounts(connection)
    codes = {field: getattr(accounting, field) for field in mapping.SETTINGS}
    problems = {field: mapping.setting_problem(field, code, chart) for field, code in codes.items() if code}
    return {field: problem for field, problem in problems.items() if problem}


def alerts_choose(*, user, wanted: bool) -> None:
    """A user turns Arena's emails about Xero on or off (their alerts page)."""
    if wanted:
        AlertOptOut.objects.filter(user=user).delete()
    else:
        AlertOptOut.objects.get_or_create(user=user)
