from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from . import second_factor, views

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="accounting:settings_home", permanent=False)),
    path("favicon.ico", views.FaviconView.as_view()),
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", views.LogoutView.as_view(), name="logout"),
    # Password reset: only with EMAIL_URL, and throttled (arena_xero.views); the rest is Django's.
    path("accounts/password_reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path("accounts/password_reset/done/", views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "accounts/reset/<uidb64>/<token>/",
        views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("accounts/reset/done/", views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("accounts/", include("django.contrib.auth.urls")),
    # Staff's second factor: set-up, QR code, backup codes (two_factor's URL names); the login is the admin's.
    path("admin/two-factor/", include((second_factor.urlpatterns, "two_factor"))),
    path("admin/", admin.site.urls),
    path("", include("accounting.urls")),
]
