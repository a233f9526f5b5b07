"""Site-wide views: logging out with a message, and the favicon browsers ask for at /favicon.ico."""

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.views.generic import RedirectView


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
