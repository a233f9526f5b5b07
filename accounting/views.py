"""The Accounting System Settings page (Your Account > Settings > Components)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from payments.models import Membership, PaymentGatewaySettings, Whitelabel
from payments.selectors import user_role, user_whitelabels

from .forms import AccountingSettingsForm, PaymentGatewayForm
from .models import AccountingSettings


def admin_whitelabel(request: HttpRequest, slug: str) -> Whitelabel:
    """The whitelabel `slug` if the user administers it: 404 to outsiders, 403 to its support staff."""
    whitelabel = get_object_or_404(Whitelabel, slug=slug)
    role = user_role(request.user, whitelabel)
    if role is None:
        raise Http404("No such whitelabel.")
    if role != Membership.Role.ADMIN:
        raise PermissionDenied("Only whitelabel admins can change accounting settings.")
    return whitelabel


@login_required
def settings_home(request: HttpRequest) -> HttpResponse:
    whitelabel = user_whitelabels(request.user, role=Membership.Role.ADMIN).first()
    if whitelabel is None:
        raise PermissionDenied("Only whitelabel admins can change accounting settings.")
    return redirect("accounting:settings", whitelabel=whitelabel.slug)


@login_required
@require_http_methods(["GET", "POST"])
def accounting_settings(request: HttpRequest, whitelabel: str) -> HttpResponse:
    whitelabel = admin_whitelabel(request, whitelabel)
    accounting, _ = AccountingSettings.objects.get_or_create(whitelabel=whitelabel)
    gateway = PaymentGatewaySettings.objects.filter(whitelabel=whitelabel).first() or PaymentGatewaySettings(
        whitelabel=whitelabel, currency=whitelabel.default_currency
    )
    if request.method == "POST" and request.POST.get("action") == "cancel":
        messages.info(request, "Changes discarded.")
        return redirect("accounting:settings", whitelabel=whitelabel.slug)

    data = request.POST if request.method == "POST" else None
    accounting_form = AccountingSettingsForm(data, instance=accounting, prefix="accounting")
    gateway_form = PaymentGatewayForm(data, instance=gateway, prefix="gateway")
    if request.method == "POST":
        if accounting_form.is_valid() and gateway_form.is_valid():
            with transaction.atomic():
                saved = accounting_form.save(commit=False)
                saved.updated_by = request.user
                saved.save()
                gateway_form.save()
            messages.success(request, "Accounting system settings saved.")
            return redirect("accounting:settings", whitelabel=whitelabel.slug)
        messages.error(request, "Nothing was saved: please correct the fields marked below.")
    return render(
        request,
        "accounting/settings.html",
        {"whitelabel": whitelabel, "accounting_form": accounting_form, "gateway_form": gateway_form},
        status=400 if request.method == "POST" else 200,
    )
