"""The settings page's Mapping section (issue 20): the whitelabel's mapping as a table, and one change at a
time, validated against the connected organisation with the same checks and messages as
`manage.py xero_mapping` (accounting/mapping_services.py)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from . import mapping_services, summaries
from .errors import MappingRefused
from .views import admin_whitelabel

KINDS = {"category": "category", "tax": "tax_rate", "method": "method"}


@login_required
@require_POST
def xero_mapping(request: HttpRequest, whitelabel: str) -> HttpResponse:
    """One mapping row set (or cleared) from the settings page's Mapping section."""
    whitelabel = admin_whitelabel(request, whitelabel)
    kind = request.POST.get("kind", "")
    key = request.POST.get("key", "").strip()
    target = redirect("accounting:settings", whitelabel=whitelabel.slug)
    if kind == "summary":
        on = key == "on"
        summaries.summary_mode_set(whitelabel=whitelabel, on=on)
        messages.success(
            request,
            "Daily summary on: pre-paid receipts received from now on go to Xero as one Receive Money per day "
            "and payment method, after the day closes."
            if on
            else "Daily summary off: pre-paid receipts go to Xero one by one from now on.",
        )
        return target
    if kind not in KINDS:
        messages.error(request, "Mapping not saved: choose a category, a tax rate or a payment method.")
        return target
    try:
        if request.POST.get("action") == "clear":
            mapping_services.mapping_clear(whitelabel=whitelabel, kind=kind, key=key)
            messages.success(request, f"Mapping of {key} removed: it uses the settings page's default again.")
            return target
        fields = {
            KINDS[kind]: key,
            "account": request.POST.get("account", "").strip(),
            "fee_account": request.POST.get("fee_account", "").strip(),
            "tax_type": request.POST.get("tax_type", "").strip(),
            "tracking": [t for t in request.POST.get("tracking", "").replace(",", ";").split(";") if t.strip()],
        }
        mapped = mapping_services.mapping_set(whitelabel=whitelabel, fields=fields)
    except MappingRefused as exc:
        messages.error(request, f"Mapping not saved: {exc}")
        return target
    messages.success(request, f"Mapping saved: {mapped}. It applies to what is sent from now on.")
    return target
