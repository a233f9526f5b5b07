"""The second factor of staff in the support console (README, "The support console").

When STAFF_REQUIRE_2FA is on (the default without debug), staff and superusers use the admin only in a
session verified by a code from an authenticator app (a django-otp TOTP device) or a backup code. The pages
are django-two-factor-auth's, dressed as the admin: the admin's login (user name and password, then the
code), the set-up (QR code and key, then a code to confirm) that staff without a device are taken to, and
each staff member's own page with their backup codes. A lost device is removed by ops with
`manage.py two_factor_disable <user name>`; its owner sets a new one up at the next log-in.

Whitelabel admins keep the portal's login (/accounts/login/), with their password only.
"""

from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.decorators import user_passes_test
from django.core import checks
from django.http import HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django_otp.forms import OTPAuthenticationFormMixin
from two_factor import views as two_factor_views
from two_factor.forms import AuthenticationTokenForm, BackupTokenForm, MethodForm, TOTPDeviceForm
from two_factor.utils import default_device, get_otpauth_url, totp_digits

CODE_ERRORS = {
    **OTPAuthenticationFormMixin.otp_error_messages,
    "token_required": "Enter the 6-digit code your authenticator app shows.",
    "invalid_token": "That code is not right, or it has expired: enter the code your app shows now.",
}
BACKUP_CODE_ERRORS = {
    **CODE_ERRORS,
    "token_required": "Enter one of your backup codes.",
    "invalid_token": "That is not one of your backup codes, or it was used already.",
}


def second_factor_required(user) -> bool:
    """Whether this user may use the support console only in a session verified by a device."""
    return settings.STAFF_REQUIRE_2FA and (user.is_staff or user.is_superuser)


def must_set_up_device(user) -> bool:
    """Staff who need a device and have none: the set-up page is their way in."""
    return user.is_authenticated and second_factor_required(user) and default_device(user) is None


def set_up_url(next_url: str) -> str:
    return f"{reverse('two_factor:setup')}?{urlencode({'next': next_url})}"


class CodeInput(forms.TextInput):
    """A one-time code: digits on a phone's keyboard, filled in by password managers, described by the
    page's #code-help."""

    def __init__(self):
        super().__init__(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
                "autofocus": True,
                "size": 8,
                "aria-describedby": "code-help",
            }
        )


class StaffLoginView(two_factor_views.LoginView):
    """The admin's login: user name and password (refused, as Django's admin does, for people who are not
    staff), then the code of the user's device if they have one. Staff who must have a device and have
    none are taken to the set-up page once their password is right.

    django-axes throttles it as it does the portal's login: the password step calls authenticate()."""

    template_name = "admin/login_two_factor.html"
    form_list = (("auth", AdminAuthenticationForm), ("token", AuthenticationTokenForm), ("backup", BackupTokenForm))
    admin_site = None

    def dispatch(self, request, *args, **kwargs):
        if request.method == "GET" and request.user.is_authenticated and request.user.is_active:
            if self.admin_site.has_permission(request):
                return HttpResponseRedirect(reverse("admin:index", current_app=self.admin_site.name))
            if must_set_up_device(request.user):
                return HttpResponseRedirect(set_up_url(self.get_success_url()))
        request.current_app = self.admin_site.name
        return super().dispatch(request, *args, **kwargs)

    def get_success_url(self):
        return self.get_redirect_url() or reverse("admin:index", current_app=self.admin_site.name)

    def get_form(self, step=None, **kwargs):
        form = super().get_form(step, **kwargs)
        if isinstance(form, OTPAuthenticationFormMixin):
            if (step or self.steps.current) == self.BACKUP_STEP:  # letters and digits
                form.otp_error_messages = BACKUP_CODE_ERRORS
                form.fields["otp_token"].widget = forms.TextInput(
                    attrs={"autocomplete": "off", "autofocus": True, "size": 12, "aria-describedby": "code-help"}
                )
            else:
                form.otp_error_messages = CODE_ERRORS
                form.fields["otp_token"].widget = CodeInput()
        return form

    def get_context_data(self, form, **kwargs):
        context = super().get_context_data(form, **kwargs)
        return {
            **self.admin_site.each_context(self.request),
            "title": "Log in",
            "subtitle": None,
            "app_path": self.request.get_full_path(),
            "username": self.request.user.get_username(),
            "next": self.get_success_url(),
            **context,
        }

    def done(self, form_list, **kwargs):
        response = super().done(form_list, **kwargs)
        if must_set_up_device(self.request.user):
            return HttpResponseRedirect(set_up_url(self.get_success_url()))
        return response


staff_only = user_passes_test(lambda user: user.is_active and user.is_staff, login_url="admin:login")


class AdminPage:
    """Renders a two_factor page inside the support console's frame (its header and, once the session
    may use the console, its user links)."""

    title = ""

    def get_context_data(self, *args, **kwargs):
        context = super().get_context_data(*args, **kwargs)
        return {**admin.site.each_context(self.request), "title": self.title, **context}


@method_decorator(staff_only, name="dispatch")
class StaffSetupView(AdminPage, two_factor_views.SetupView):
    """Set-up of an authenticator app in one step: the QR code and the key, then a code to confirm.

    Only for staff without a device: two_factor's own view would let a session that has not passed the
    existing device's code (a password alone) add a second device, and so verify itself."""

    title = "Set up two-factor authentication"
    form_list = (("method", MethodForm),)  # no welcome step; with one method, two_factor skips the choice
    success_url = "admin:index"

    def dispatch(self, request, *args, **kwargs):
        if default_device(request.user):
            return redirect("two_factor:profile")
        return super().dispatch(request, *args, **kwargs)

    def get_form(self, step=None, **kwargs):
        form = super().get_form(step, **kwargs)
        if isinstance(form, TOTPDeviceForm):
            form.error_messages = {"invalid_token": CODE_ERRORS["invalid_token"]}
            form.fields["token"].widget = CodeInput()
        return form

    def get_context_data(self, form, **kwargs):
        context = super().get_context_data(form, **kwargs)
        if "secret_key" in context:
            user = self.request.user.get_username()
            context["issuer"] = settings.OTP_TOTP_ISSUER
            context["otpauth_url"] = get_otpauth_url(user, context["secret_key"], settings.OTP_TOTP_ISSUER)
            # Groups of four, as authenticator apps show keys typed in by hand.
            key = context["secret_key"]
            context["secret_key_groups"] = " ".join(key[i : i + 4] for i in range(0, len(key), 4))
        context["totp_digits"] = totp_digits()
        return context

    def done(self, form_list, **kwargs):
        response = super().done(form_list, **kwargs)
        messages.success(
            self.request,
            "Two-factor authentication is set up: from now on you log in with your password and a code from "
            "your authenticator app. Make backup codes in case you lose your phone: Two-factor authentication, "
            "at the top of the page.",
        )
        return response


@method_decorator(staff_only, name="dispatch")
class StaffQRCodeView(two_factor_views.QRGeneratorView):
    def get_issuer(self):
        return settings.OTP_TOTP_ISSUER


@method_decorator(staff_only, name="dispatch")
class StaffProfileView(AdminPage, two_factor_views.ProfileView):
    title = "Two-factor authentication"
    template_name = "two_factor/profile/profile.html"

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "required": second_factor_required(self.request.user)}


@method_decorator(staff_only, name="dispatch")
class StaffBackupCodesView(AdminPage, two_factor_views.BackupTokensView):
    """Ten single-use codes for a log-in without the phone; making new ones voids the old."""

    title = "Backup codes"


urlpatterns = [
    path("", StaffProfileView.as_view(), name="profile"),
    path("set-up/", StaffSetupView.as_view(), name="setup"),
    path("set-up/qr-code/", StaffQRCodeView.as_view(), name="qr"),
    path("backup-codes/", StaffBackupCodesView.as_view(), name="backup_tokens"),
]


@checks.register(checks.Tags.security, deploy=True)
def check_staff_second_factor(app_configs, **kwargs):
    if settings.DEBUG or settings.STAFF_REQUIRE_2FA:
        return []
    return [
        checks.Warning(
            "STAFF_REQUIRE_2FA is off: staff and superusers use the support console with a password only.",
            hint="Unset STAFF_REQUIRE_2FA (it is on by default without debug).",
            id="arena_xero.W001",
        )
    ]
