from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from . import second_factor
from .views import FaviconView, LogoutView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="accounting:settings_home", permanent=False)),
    path("favicon.ico", FaviconView.as_view()),
    path("accounts/logout/", LogoutView.as_view(), name="logout"),
    path("accounts/", include("django.contrib.auth.urls")),
    # Staff's second factor: set-up, QR code, backup codes (two_factor's URL names); the login is the admin's.
    path("admin/two-factor/", include((second_factor.urlpatterns, "two_factor"))),
    path("admin/", admin.site.urls),
    path("", include("accounting.urls")),
]
