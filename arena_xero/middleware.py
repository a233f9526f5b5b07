"""Site-wide middleware: the content security policy (Django 5.2's SecurityMiddleware sets none), error
pages for people also when DEBUG is on, and sessions whose idle expiry only the user's own requests move on.

`make run` sets DJANGO_DEBUG=1, and with DEBUG Django answers a missing page or a crash with its debug
page: settings, code and the request for whoever opens it. ErrorPagesMiddleware gives users the same
404, 400 and 500 pages as in production instead; the traceback of a crash still goes to the log, once.
Without DEBUG it does nothing (Django's own handlers render the same templates).
"""

import logging
from functools import wraps

from django.conf import settings
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import Resolver404, resolve
from django.utils.cache import patch_vary_headers

logger = logging.getLogger("django.request")


class ErrorPagesMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if settings.DEBUG:
            try:
                resolve(request.path_info, getattr(request, "urlconf", None))
            except Resolver404:
                return render(request, "404.html", status=404)
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not settings.DEBUG or isinstance(exception, PermissionDenied):
            return None  # Django's own handling: the 403 page (no debug page) or, without DEBUG, all of it
        if isinstance(exception, Http404):
            return render(request, "404.html", status=404)
        if isinstance(exception, (BadRequest, SuspiciousOperation)):
            logger.warning(
                "Bad request: %s: %s", request.path, exception, extra={"status_code": 400, "request": request}
            )
            return _logged(render(request, "400.html", status=400))
        logger.error(
            "Internal Server Error: %s",
            request.path,
            exc_info=exception,
            extra={"status_code": 500, "request": request},
        )
        return _logged(render(request, "500.html", status=500))


def _logged(response: HttpResponse) -> HttpResponse:
    response._has_been_logged = True  # Django's handler would log it again, without the reason
    return response


class ContentSecurityPolicyMiddleware:
    """Adds settings.CONTENT_SECURITY_POLICY to every response that has none (empty: no header)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if settings.CONTENT_SECURITY_POLICY:
            response.headers.setdefault("Content-Security-Policy", settings.CONTENT_SECURITY_POLICY)
        return response


class SessionMiddleware(DjangoSessionMiddleware):
    """Django's, except for requests the page makes by itself (views marked `refreshes_by_itself`, the sync
    card's): they leave an unchanged session as it is. SESSION_SAVE_EVERY_REQUEST moves the idle expiry
    (SESSION_IDLE_MINUTES) on at every request, so otherwise a page left open would never log out."""

    def process_response(self, request, response):
        if getattr(request, "refreshes_by_itself", False) and not request.session.modified:
            if request.session.accessed:
                patch_vary_headers(response, ("Cookie",))
            return response
        return super().process_response(request, response)


def refreshes_by_itself(view):
    """Mark a view the page calls on its own (not the user's activity): it does not keep the session alive."""

    @wraps(view)
    def marked(request, *args, **kwargs):
        request.refreshes_by_itself = True
        return view(request, *args, **kwargs)

    return marked
