"""The Accounting System Settings page (Your Account > Settings > Components) and the Xero connect flow."""

import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from arena_xero.middleware import refreshes_by_itself
from payments.models import Membership, PaymentGatewaySettings, Whitelabel
from payments.selectors import user_role, user_whitelabels

from . import mapping_services, selectors, services, webhooks
from .connection import chart_of_accounts, whitelabel_connection
from .errors import NotConnected
from .forms import AccountingSettingsForm, PaymentGatewayForm
from .models import AccountingSettings, XeroAuthorisation, XeroConnection
from .selectors import books_switch, sync_summary
from .sync import mapping
from .xero.errors import XeroConnectionRevoked, XeroError

logger = logging.getLogger(__name__)

# The whitelabel whose settings were saved just before going to Xero's consent page: the message on the
# way back says what happened to both (one message per outcome).
SAVED_BEFORE_CONNECT = "accounting_saved_before_connect"

# The portal's pages down to this one, so the breadcrumb links somewhere: URL name -> (title, parent, blurb).
PAGES = {
    "accounting:account": ("Your Account", None, "Your whitelabel's account."),
    "accounting:account_settings": ("Settings", "accounting:account", "How your whitelabel works."),
    "accounting:components": ("Components", "accounting:account_settings", "The services your whitelabel uses."),
    "accounting:settings": (
        "Accounting System Settings",
        "accounting:components",
        "The accounting system your invoices and payments go to, and the payment gateway.",
    ),
}


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


def breadcrumbs(whitelabel: Whitelabel, page: str) -> list[dict]:
    """Title and URL of each page from Your Account down to `page` (the last one is the current page)."""
    trail = []
    while page:
        title, parent, _ = PAGES[page]
        trail.insert(0, {"title": title, "url": reverse(page, kwargs={"whitelabel": whitelabel.slug})})
        page = parent
    return trail


@login_required
@require_GET
def account_page(request: HttpRequest, whitelabel: str, page: str) -> HttpResponse:
    """Your Account, Settings and Components: the pages of the breadcrumb, each listing the one below."""
    whitelabel = admin_whitelabel(request, whitelabel)
    children = [
        {"title": title, "blurb": blurb, "url": reverse(name, kwargs={"whitelabel": whitelabel.slug})}
        for name, (title, parent, blurb) in PAGES.items()
        if parent == page
    ]
    return render(
        request,
        "accounting/account_page.html",
        {
            "whitelabel": whitelabel,
            "title": PAGES[page][0],
            "breadcrumbs": breadcrumbs(whitelabel, page),
            "children": children,
        },
    )


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
        return chart_of_accounts(connection)
    except XeroConnectionRevoked:
        return None  # the connection is marked "needs reconnect": its banner says so
    except XeroError as exc:
        messages.warning(request, f"Arena could not read the chart of accounts from Xero: {exc}")
        return None


def _settings_problems(connection: XeroConnection | None, accounting: AccountingSettings | None) -> dict[str, str]:
    """The saved settings the connected organisation would refuse (services.settings_problems); none if it
    can't say right now (the sync card is polled: it never fails for that)."""
    if connection is None or not connection.is_active:
        return {}
    try:
        return services.settings_problems(connection, accounting)
    except XeroError:
        return {}


def _sync_context(
    whitelabel: Whitelabel, connection: XeroConnection | None = None, accounting=None, problems=None
) -> dict:
    """What the sync card needs; the settings page and the card's own endpoint render it alike."""
    connection = connection if connection is not None else whitelabel_connection(whitelabel)
    accounting = accounting or AccountingSettings.objects.filter(whitelabel=whitelabel).first()
    problems = _settings_problems(connection, accounting) if problems is None else problems
    return {
        "whitelabel": whitelabel,
        "connection": connection,
        "accounting": accounting,
        "sync": sync_summary(whitelabel),
        # What to correct before sending, e.g. "the revenue code" (Xero would refuse what needs it).
        "refused_settings": " and ".join(f"the {mapping.SETTINGS[field][0].lower()}" for field in problems),
    }


@login_required
@require_http_methods(["GET", "POST"])
def accounting_settings(request: HttpRequest, whitelabel: str) -> HttpResponse:
    whitelabel = admin_whitelabel(request, whitelabel)
    if request.method == "POST" and request.POST.get("action") == "cancel":
        messages.info(request, "Changes discarded.")
        return _settings_redirect(whitelabel)

    accounting = AccountingSettings.objects.filter(whitelabel=whitelabel).first() or AccountingSettings(
        whitelabel=whitelabel
    )
    gateway = PaymentGatewaySettings.objects.filter(whitelabel=whitelabel).first() or PaymentGatewaySettings(
        whitelabel=whitelabel, currency=whitelabel.default_currency
    )
    connection = whitelabel_connection(whitelabel)
    chart = _chart(request, connection)
    if connection is not None and chart is None:
        connection.refresh_from_db()  # reading the chart may have found the connection revoked
    data = request.POST if request.method == "POST" else None
    accounting_form = AccountingSettingsForm(data, instance=accounting, prefix="accounting", chart=chart)
    gateway_form = PaymentGatewayForm(data, instance=gateway, prefix="gateway")
    # What was saved while no organisation could check it (or changed in Xero since) is marked as a failed
    # Save would mark it.
    problems = _settings_problems(connection, accounting if accounting.pk else None) if chart is not None else {}
    accounting_form.mark_refused(problems)
    if request.method == "GET" and not problems and chart is not None and not accounting.bank_account_code:
        # Connected, and the page's message asks for it: the field the admin has to fill in gets the focus.
        accounting_form.fields["bank_account_code"].widget.attrs["autofocus"] = True
    if request.method == "POST":
        if accounting_form.is_valid() and gateway_form.is_valid():
            saved = services.accounting_settings_save(
                whitelabel=whitelabel,
                user=request.user,
                accounting=accounting_form.save(commit=False),
                gateway=gateway_form.save(commit=False),
            )
            if saved.uses_xero and (connection is None or not connection.is_active):
                try:
                    consent = services.xero_authorisation_start(session=request.session, whitelabel=whitelabel)
                except services.ConnectError as exc:
                    messages.error(request, str(exc))
                    return _settings_redirect(whitelabel)
                # No message yet: the one shown on the way back from Xero says how it ended.
                request.session[SAVED_BEFORE_CONNECT] = whitelabel.pk
                return redirect(consent)
            warning = _currency_warning(connection) if saved.uses_xero else None
            if warning:
                messages.warning(request, f"Accounting system settings saved. {warning}")
            else:
                messages.success(request, "Accounting system settings saved.")
            return _settings_redirect(whitelabel)
        messages.error(request, "Nothing was saved: please correct the fields marked below.")
    return render(
        request,
        "accounting/settings.html",
        {
            **_sync_context(whitelabel, connection, accounting, problems),
            "accounting_form": accounting_form,
            "gateway_form": gateway_form,
            "breadcrumbs": breadcrumbs(whitelabel, "accounting:settings"),
            "mapping": mapping_services.mapping_context(whitelabel, connection),
        },
        status=400 if request.method == "POST" else 200,
    )


@refreshes_by_itself
@login_required
@require_GET
@never_cache
def xero_sync_status(request: HttpRequest, whitelabel: str) -> HttpResponse:
    """The sync card alone: the settings page fetches it every few seconds while records are on their way, and
    at a calmer rate otherwise (static/js/arena.js), so what changes in Xero shows without a reload. These
    refreshes are not the admin's activity: they don't keep an idle session alive."""
    whitelabel = admin_whitelabel(request, whitelabel)
    return render(request, "accounting/_sync.html", _sync_context(whitelabel))


@login_required
@require_POST
def xero_connect(request: HttpRequest, whitelabel: str) -> HttpResponse:
    """Connect or Reconnect: off to Xero's consent page."""
    whitelabel = admin_whitelabel(request, whitelabel)
    try:
        return redirect(services.xero_authorisation_start(session=request.session, whitelabel=whitelabel))
    except services.ConnectError as exc:
        messages.error(request, str(exc))
        return _settings_redirect(whitelabel)


def _currency_warning(connection: XeroConnection) -> str | None:
    try:
        return services.currency_warning(connection)
    except XeroConnectionRevoked:
        return None  # the connection is marked "needs reconnect": its banner says so
    except XeroError as exc:
        return f"Arena could not check the organisation's currencies: {exc}"


def _connected_message(request: HttpRequest, connection: XeroConnection) -> None:
    """One message for the outcome: connected, and what the admin still has to do."""
    parts = [f"Connected to Xero organisation {connection.tenant_name}."]
    level = messages.SUCCESS
    accounting = AccountingSettings.objects.filter(whitelabel=connection.whitelabel).first()
    try:
        problems = services.settings_problems(connection, accounting)
    except XeroError as exc:
        problems = {}
        parts.append(f"Arena could not check the revenue code and bank account against Xero: {exc}")
        level = messages.WARNING
    for field, problem in problems.items():
        label = mapping.SETTINGS[field][0]
        parts.append(f"{label} {getattr(accounting, field)} can't be used with {connection.tenant_name}: {problem}")
    if problems:
        them = "it" if len(problems) == 1 else "them"
        parts.append(f"Correct {them} below, and Save: until then Arena sends Xero nothing that needs {them}.")
        level = messages.WARNING
    warning = _currency_warning(connection)
    if warning:
        parts.append(warning)
        level = messages.WARNING
    if accounting and not accounting.bank_account_code:
        parts.append("Now choose the bank account payments are deposited to, and Save.")
    unsent = sync_summary(connection.whitelabel).unsent
    if unsent and problems:
        parts.append(
            ngettext(
                "%(count)d record billed while Arena was not connected is not in Xero yet: the button below "
                "sends it once the settings are corrected.",
                "%(count)d records billed while Arena was not connected are not in Xero yet: the button below "
                "sends them once the settings are corrected.",
                unsent,
            )
            % {"count": unsent}
        )
    elif unsent:
        parts.append(
            ngettext(
                "%(count)d record billed while Arena was not connected is not in Xero yet: "
                "send it with the button below.",
                "%(count)d records billed while Arena was not connected are not in Xero yet: "
                "send them with the button below.",
                unsent,
            )
            % {"count": unsent}
        )
    messages.add_message(request, level, " ".join(parts))


def _not_connected_message(request: HttpRequest, exc: services.ConnectError, *, saved: bool) -> None:
    if not saved:
        messages.error(request, str(exc))
    elif request.GET.get("error") == "access_denied":
        messages.warning(
            request,
            "Your settings are saved. You cancelled the connection to Xero, so nothing is sent to Xero "
            "until you connect.",
        )
    else:
        messages.error(request, f"Your settings are saved, but Arena is not connected to Xero. {exc}")


@login_required
@require_GET
def xero_callback(request: HttpRequest) -> HttpResponse:
    """Where Xero sends the admin back after the consent page."""
    saved_for = request.session.pop(SAVED_BEFORE_CONNECT, None)
    try:
        outcome = services.xero_authorisation_complete(session=request.session, user=request.user, params=request.GET)
    except services.ConnectError as exc:
        saved = exc.whitelabel is not None and exc.whitelabel.pk == saved_for
        _not_connected_message(request, exc, saved=saved)
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
        tenant_id = request.POST.get("tenant_id", "")
        try:
            connection = services.xero_authorisation_choose(
                pending=pending,
                user=request.user,
                tenant_id=tenant_id,
                # Each organisation that would switch the books has its own box, named by its tenant id.
                confirm_switch=bool(tenant_id) and tenant_id in request.POST.getlist("confirm_switch"),
            )
        except services.ConnectError as exc:
            if not XeroAuthorisation.objects.filter(pk=pending.pk).exists():
                messages.error(request, str(exc))
                return _settings_redirect(whitelabel)
            error = str(exc)
        else:
            _connected_message(request, connection)
            return _settings_redirect(whitelabel)
    # Each organisation with what picking it would do: switching the books away from the organisation the
    # records went to asks first. That one (none asks) is picked to start with, unless the admin picked another.
    options = [{"tenant": t, "switch": books_switch(whitelabel, t["tenant_id"])} for t in pending.tenants]
    picked = request.POST.get("tenant_id") or next((o for o in options if o["switch"] is None), options[0])[
        "tenant"
    ]["tenant_id"]
    return render(
        request,
        "accounting/choose_organisation.html",
        {
            "whitelabel": whitelabel,
            "pending": pending,
            "error": error,
            "options": [{**o, "picked": o["tenant"]["tenant_id"] == picked} for o in options],
            "breadcrumbs": [
                *breadcrumbs(whitelabel, "accounting:settings"),
                {"title": "Which Xero organisation?", "url": request.path},
            ],
        },
        status=400 if error else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def xero_disconnect(request: HttpRequest, whitelabel: str) -> HttpResponse:
    """GET asks for confirmation and says what will happen; POST disconnects."""
    whitelabel = admin_whitelabel(request, whitelabel)
    connection = whitelabel_connection(whitelabel)
    if connection is None or connection.status == XeroConnection.Status.DISCONNECTED:
        messages.info(request, "This whitelabel is not connected to Xero.")
        return _settings_redirect(whitelabel)
    if request.method == "GET":
        return render(
            request,
            "accounting/disconnect.html",
            {
                **_sync_context(whitelabel, connection),
                "breadcrumbs": [
                    *breadcrumbs(whitelabel, "accounting:settings"),
                    {"title": "Disconnect from Xero", "url": request.path},
                ],
            },
        )
    services.connection_disconnect(connection=connection)
    messages.success(
        request,
        f"Disconnected from Xero organisation {connection.tenant_name}. Arena's records and sync history are kept; "
        "what you bill from now on is not sent to Xero until you connect again.",
    )
    return _settings_redirect(whitelabel)


@login_required
@require_POST
def xero_resync(request: HttpRequest, whitelabel: str) -> HttpResponse:
    """Send what was skipped (e.g. billed before connecting) or failed, when the admin asks."""
    whitelabel = admin_whitelabel(request, whitelabel)
    try:
        count = services.whitelabel_resync(whitelabel=whitelabel)
    except NotConnected as exc:
        messages.error(request, f"Nothing was sent: {exc}")
        return _settings_redirect(whitelabel)
    if count:
        messages.success(
            request,
            ngettext(
                "%(count)d record will be sent to Xero: the card below shows it arrive.",
                "%(count)d records will be sent to Xero: the card below shows them arrive.",
                count,
            )
            % {"count": count},
        )
    else:
        messages.info(request, "Nothing to send: every record is in Xero or on its way.")
    return _settings_redirect(whitelabel)


@csrf_exempt
@require_POST
def xero_webhook(request: HttpRequest) -> HttpResponse:
    """Xero's webhook deliveries (Invoices and Contacts events): store, verify, answer; a task processes them.

    200 (empty body) for a correct `x-xero-signature`, 401 otherwise (Xero's intent-to-receive check sends
    both), 400 for a signed body that is not Xero's JSON, 413 for one over 1 MB: those are counted, never
    stored. 503 while no XERO_WEBHOOK_KEY is set (nothing can be verified; Xero tries again later).
    """
    key = settings.XERO_WEBHOOK_KEY
    if not key:
        logger.error("A Xero webhook delivery came, but XERO_WEBHOOK_KEY is not set: answered 503")
        return HttpResponse(status=503)
    try:
        if int(request.META.get("CONTENT_LENGTH") or 0) > webhooks.MAX_BODY_BYTES:
            raise webhooks.Refused(f"The body is over {webhooks.MAX_BODY_BYTES:,} bytes.", status=413)
        webhooks.delivery_store(body=request.body, signature=request.headers.get("x-xero-signature", ""), key=key)
    except webhooks.Refused as refused:
        webhooks.refusal_count(reason=str(refused))
        logger.warning("Xero webhook delivery refused (%s): %s", refused.status, refused)
        return HttpResponse(status=refused.status)
    return HttpResponse(status=200)


@login_required
@require_http_methods(["GET", "POST"])
def alert_preferences(request: HttpRequest) -> HttpResponse:
    """Your email alerts: whether Arena emails you about your whitelabels' books in Xero."""
    if request.method == "POST":
        wanted = request.POST.get("alerts") == "on"
        services.alerts_choose(user=request.user, wanted=wanted)
        messages.success(request, "Email alerts are on." if wanted else "Email alerts are off.")
        return redirect("accounting:alerts")
    return render(request, "accounting/alerts.html", {"wanted": selectors.alerts_wanted(request.user)})
