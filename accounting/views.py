"""The Accounting System Settings page (Your Account > Settings > Components) and the Xero connect flow."""

import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from payments.models import Membership, PaymentGatewaySettings, Whitelabel
from payments.selectors import user_role, user_whitelabels

from . import services
from .forms import AccountingSettingsForm, PaymentGatewayForm
from .models import AccountingSettings, SyncRecord, XeroAuthorisation, XeroConnection
from .selectors import books_switch, sync_summary
from .sync import outbox
from .xero.errors import XeroError

logger = logging.getLogger(__name__)


def admin_whitelabel(request: HttpRequest, slug: str) -> Whitelabel:
    """The whitelabel `slug` if the user administers it: 404 to outsiders, 403 to its support staff."""
    whitelabel = get_object_or_404(Whitelabel, slug=slug)
    role = user_role(request.user, whitelabel)
    if role is None:
        raise Http404("No such whitelabel.")
    if role != Membership.Role.ADMIN:
        raise PermissionDenied("Only whitelabel admins can change accounting settings.")
    return whitelabel


def _settings_redirect(whitelabel: Whitelabel | None):
    if whitelabel is None:
        return redirect("accounting:settings_home")
    return redirect("accounting:settings", whitelabel=whitelabel.slug)


@login_required
def settings_home(request: HttpRequest) -> HttpResponse:
    whitelabel = user_whitelabels(request.user, role=Membership.Role.ADMIN).first()
    if whitelabel is None:
        raise PermissionDenied("Only whitelabel admins can change accounting settings.")
    return redirect("accounting:settings", whitelabel=whitelabel.slug)


def _chart(request: HttpRequest, connection: XeroConnection | None):
    if connection is None or not connection.is_active:
        return None
    try:
        return services.chart_of_accounts(connection)
    except XeroError as exc:
        messages.warning(request, f"Arena could not read the chart of accounts from Xero: {exc}")
        return None


@login_required
@require_http_methods(["GET", "POST"])
def accounting_settings(request: HttpRequest, whitelabel: str) -> HttpResponse:
    whitelabel = admin_whitelabel(request, whitelabel)
    if request.method == "POST" and request.POST.get("action") == "cancel":
        messages.info(request, "Changes discarded.")
        return _settings_redirect(whitelabel)

    accounting, _ = AccountingSettings.objects.get_or_create(whitelabel=whitelabel)
    gateway = PaymentGatewaySettings.objects.filter(whitelabel=whitelabel).first() or PaymentGatewaySettings(
        whitelabel=whitelabel, currency=whitelabel.default_currency
    )
    connection = services.whitelabel_connection(whitelabel)
    chart = _chart(request, connection)
    data = request.POST if request.method == "POST" else None
    accounting_form = AccountingSettingsForm(data, instance=accounting, prefix="accounting", chart=chart)
    gateway_form = PaymentGatewayForm(data, instance=gateway, prefix="gateway")
    if request.method == "POST":
        if accounting_form.is_valid() and gateway_form.is_valid():
            with transaction.atomic():
                saved = accounting_form.save(commit=False)
                saved.updated_by = request.user
                saved.save()
                gateway_form.save()
                # What Xero refused may be fixed by these settings (e.g. the revenue code): try again now.
                outbox.records_resync(whitelabel=whitelabel, statuses=(SyncRecord.Status.FAILED,))
            if saved.uses_xero and (connection is None or not connection.is_active):
                messages.info(request, "Settings saved. Now allow Arena to access your Xero organisation.")
                return redirect(services.xero_authorisation_start(session=request.session, whitelabel=whitelabel))
            messages.success(request, "Accounting system settings saved.")
            return _settings_redirect(whitelabel)
        messages.error(request, "Nothing was saved: please correct the fields marked below.")
    return render(
        request,
        "accounting/settings.html",
        {
            "whitelabel": whitelabel,
            "accounting_form": accounting_form,
            "gateway_form": gateway_form,
            "connection": connection,
            "accounting": accounting,
            "sync": sync_summary(whitelabel),
        },
        status=400 if request.method == "POST" else 200,
    )


@login_required
@require_POST
def xero_connect(request: HttpRequest, whitelabel: str) -> HttpResponse:
    """Connect or Reconnect: off to Xero's consent page."""
    whitelabel = admin_whitelabel(request, whitelabel)
    return redirect(services.xero_authorisation_start(session=request.session, whitelabel=whitelabel))


def _connected_message(request: HttpRequest, connection: XeroConnection) -> None:
    messages.success(request, f"Connected to Xero organisation {connection.tenant_name}.")
    accounting = AccountingSettings.objects.filter(whitelabel=connection.whitelabel).first()
    if accounting and accounting.revenue_code:
        try:
            warning = services.revenue_code_warning(connection, accounting)
        except XeroError as exc:
            warning = f"Arena could not check the revenue code against Xero: {exc}"
        if warning:
            messages.warning(request, warning)
    if accounting and not accounting.bank_account_code:
        messages.info(request, "Choose the Xero bank account that payments are deposited to, then Save.")


@login_required
@require_GET
def xero_callback(request: HttpRequest) -> HttpResponse:
    """Where Xero sends the admin back after the consent page."""
    try:
        outcome = services.xero_authorisation_complete(session=request.session, user=request.user, params=request.GET)
    except services.ConnectError as exc:
        messages.error(request, str(exc))
        return _settings_redirect(exc.whitelabel)
    if outcome.pending is not None:
        return redirect("accounting:xero_organisation", whitelabel=outcome.whitelabel.slug, pending=outcome.pending.pk)
    _connected_message(request, outcome.connection)
    return _settings_redirect(outcome.whitelabel)


@login_required
@require_http_methods(["GET", "POST"])
def xero_organisation(request: HttpRequest, whitelabel: str, pending: int) -> HttpResponse:
    """The consent authorised several organisations: the admin picks the one for this whitelabel."""
    whitelabel = admin_whitelabel(request, whitelabel)
    pending = get_object_or_404(XeroAuthorisation, pk=pending, whitelabel=whitelabel, user=request.user)
    error = None
    if request.method == "POST":
        if request.POST.get("action") == "cancel":
            pending.delete()
            messages.info(request, "You cancelled the connection to Xero. Nothing was changed.")
            return _settings_redirect(whitelabel)
        try:
            connection = services.xero_authorisation_choose(
                pending=pending,
                user=request.user,
                tenant_id=request.POST.get("tenant_id", ""),
                confirm_switch=request.POST.get("confirm_switch") == "yes",
            )
        except services.ConnectError as exc:
            if not XeroAuthorisation.objects.filter(pk=pending.pk).exists():
                messages.error(request, str(exc))
                return _settings_redirect(whitelabel)
            error = str(exc)
        else:
            _connected_message(request, connection)
            return _settings_redirect(whitelabel)
    switches = {t["tenant_id"]: books_switch(whitelabel, t["tenant_id"]) for t in pending.tenants}
    return render(
        request,
        "accounting/choose_organisation.html",
        {
            "whitelabel": whitelabel,
            "pending": pending,
            "error": error,
            "switch": next((s for s in switches.values() if s is not None), None),
        },
        status=400 if error else 200,
    )


@login_required
@require_POST
def xero_disconnect(request: HttpRequest, whitelabel: str) -> HttpResponse:
    whitelabel = admin_whitelabel(request, whitelabel)
    connection = services.whitelabel_connection(whitelabel)
    if connection is None or connection.status == XeroConnection.Status.DISCONNECTED:
        messages.info(request, "This whitelabel is not connected to Xero.")
    else:
        services.connection_disconnect(connection=connection)
        messages.success(
            request,
            f"Disconnected from Xero organisation {connection.tenant_name}. Arena's records and sync history are kept.",
        )
    return _settings_redirect(whitelabel)


@login_required
@require_POST
def xero_resync(request: HttpRequest, whitelabel: str) -> HttpResponse:
    """Send what was skipped (e.g. billed before connecting) or failed, when the admin asks."""
    whitelabel = admin_whitelabel(request, whitelabel)
    reason = outbox.skip_reason(whitelabel.pk)
    if reason:
        messages.error(request, f"Nothing was sent: {reason}")
        return _settings_redirect(whitelabel)
    with transaction.atomic():
        count = outbox.records_resync(whitelabel=whitelabel)
    messages.success(request, f"{count} record{'' if count == 1 else 's'} will be sent to Xero.")
    return _settings_redirect(whitelabel)
