"""Site-wide pages that belong to no app: the lock-out page, logging out with a message, password reset
(offered only when email is configured, and throttled), and the favicon browsers ask for at /favicon.ico."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.views.generic import RedirectView
from django_ratelimit.core import is_ratelimited


def locked_out(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """django-axes' answer to a login from a locked-out user name and address (AXES_LOCKOUT_CALLABLE)."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return render(
        request,
        "registration/locked_out.html",
        {"minutes": minutes, "failure_limit": settings.AXES_FAILURE_LIMIT},
        status=429,
    )


class LoginView(auth_views.LoginView):
    """Django's login; below the form, the reset link when email is configured, else whom to ask."""

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            password_reset_offered=bool(settings.EMAIL_URL), password_help=settings.PASSWORD_HELP, **kwargs
        )


class LogoutView(auth_views.LogoutView):
    """Django's logout (POST only), then says so on the login page."""

    def post(self, request, *args, **kwargs):
        response = super().post(request, *args, **kwargs)
        messages.info(request, "You have logged out.")
        return response


class FaviconView(RedirectView):
    permanent = True

    def get_redirect_url(self, *args, **kwargs):
        return static("favicon.svg")


class EmailRequiredMixin:
    """Password reset works by email: without EMAIL_URL its pages are not there (the login page says whom
    to ask instead)."""

    def dispatch(self, request, *args, **kwargs):
        if not settings.EMAIL_URL:
            raise Http404("Password reset needs email, which is not configured.")
        return super().dispatch(request, *args, **kwargs)


class PasswordResetView(EmailRequiredMixin, auth_views.PasswordResetView):
    """Django's reset request, throttled like the logins: LOGIN_FAILURE_LIMIT requests per address, and per
    email address asked for, every LOGIN_LOCKOUT_MINUTES; beyond that a 429 page and no email."""

    def post(self, request, *args, **kwargs):
        limited = [
            is_ratelimited(
                request, group="password-reset", key=key, rate=settings.PASSWORD_RESET_RATE, increment=True
            )
            for key in ("ip", _requested_email)
        ]
        if any(limited):
            minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
            return render(request, "registration/password_reset_throttled.html", {"minutes": minutes}, status=429)
        return super().post(request, *args, **kwargs)


def _requested_email(group: str, request: HttpRequest) -> str:
    return (request.POST.get("email") or "").strip().lower()


class PasswordResetDoneView(EmailRequiredMixin, auth_views.PasswordResetDoneView):
    pass


class PasswordResetConfirmView(EmailRequiredMixin, auth_views.PasswordResetConfirmView):
    pass


class PasswordResetCompleteView(EmailRequiredMixin, auth_views.PasswordResetCompleteView):
    pass
