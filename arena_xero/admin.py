"""The Django admin as Arena's support console: branded, with a front page that says what support can do,
read-only by default, and open to staff only after a second factor (arena_xero.second_factor). Each app's
admin.py registers its models on this site.

Every date and time it shows names its time zone (TIME_ZONE), as the app's own pages do; a list asked for
with a filter value it can't apply (a NUL byte, an unknown field, a value of the wrong type) answers 400 with
what was wrong, never a 500."""

import unicodedata

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import DataError, models
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.formats import date_format

from .second_factor import StaffLoginView, second_factor_required


def zoned(moment) -> str:
    """A moment as the console shows it: in the site's time zone, named, e.g. '2 Jan 2026, 2:04 p.m. AEDT'."""
    if moment is None:
        return "—"
    local = timezone.localtime(moment)
    return f"{date_format(local, 'DATETIME_FORMAT')} {local.tzname()}"


def unreadable_query(request) -> str | None:
    """What in the query string no filter can hold (a control character, half a surrogate pair), if anything."""
    for key, values in request.GET.lists():
        for text in (key, *values):
            if any(unicodedata.category(char) in ("Cc", "Cs") for char in text):
                return f"The filter {key!r} has a control character in it."
    return None


class ArenaAdminSite(admin.AdminSite):
    site_header = "Arena support"
    site_title = "Arena support"
    index_title = "Support console"
    index_template = "admin/arena_index.html"
    # The portal's pages are for whitelabel admins: "View site" would send support staff to a 403.
    site_url = None
    # The side bar of every model takes the width the sync records' columns need.
    enable_nav_sidebar = False

    def has_permission(self, request):
        """Active staff, and (when STAFF_REQUIRE_2FA is on) in a session verified by a device's code."""
        if not super().has_permission(request):
            return False
        return not second_factor_required(request.user) or request.user.is_verified()

    def login(self, request, extra_context=None):
        """User name and password, then the code (arena_xero.second_factor.StaffLoginView)."""
        return StaffLoginView.as_view(admin_site=self)(request)

    def admin_view(self, view, cacheable=False):
        checked = super().admin_view(view, cacheable)

        def inner(request, *args, **kwargs):
            # A NUL byte would reach PostgreSQL as an error (a 500): no page of the console reads one.
            problem = unreadable_query(request)
            if problem:
                return bad_request(request, self, problem)
            return checked(request, *args, **kwargs)

        inner.__dict__.update(checked.__dict__)
        return inner


def bad_request(request, site: admin.AdminSite, problem: str, opts=None) -> TemplateResponse:
    """400, in the console's own page: what in the address can't be used, and the way back."""
    context = {**site.each_context(request), "title": "Bad request", "opts": opts, "problem": problem[:300]}
    return TemplateResponse(request, "admin/arena_bad_request.html", context, status=400)


class ZonedTimes:
    """Date and time fields are shown through `zoned` (their time zone named): in lists and on pages."""

    def _zoned(self, name):
        if not isinstance(name, str):
            return name
        try:
            field = self.model._meta.get_field(name)
        except FieldDoesNotExist:
            return name
        if not isinstance(field, models.DateTimeField):
            return name
        shown = f"{name}_zoned"
        if not hasattr(self, shown):

            def show(obj, name=name):
                return zoned(getattr(obj, name))

            show.short_description = field.verbose_name
            show.admin_order_field = name
            setattr(self, shown, show)
        return shown

    def _all_zoned(self) -> list[str]:
        return [
            self._zoned(f.name) for f in self.model._meta.get_fields() if isinstance(f, models.DateTimeField)
        ]

    def get_list_display(self, request):
        return [self._zoned(name) for name in super().get_list_display(request)]

    def get_fieldsets(self, request, obj=None):
        fieldsets = []
        for title, options in super().get_fieldsets(request, obj):
            fields = list(dict.fromkeys(self._zoned(name) for name in options.get("fields", ())))
            fieldsets.append((title, {**options, "fields": fields}))
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        return list(dict.fromkeys([*map(self._zoned, super().get_readonly_fields(request, obj)), *self._all_zoned()]))


class ReadOnlyAdmin(ZonedTimes, admin.ModelAdmin):
    """A model shown, never changed here (for superusers too): billing changes only through
    payments.services, settings on the settings page, connections through the connect flow."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_changelist_instance(self, request):
        """Django sends a filter it can't apply to a "database error" page; support gets a 400 saying so."""
        try:
            return super().get_changelist_instance(request)
        except (IncorrectLookupParameters, ValidationError, ValueError, ArithmeticError, DataError) as exc:
            raise _BadFilter(str(exc) or type(exc).__name__) from None

    def changelist_view(self, request, extra_context=None):
        try:
            return super().changelist_view(request, extra_context)
        except _BadFilter as exc:
            return bad_request(request, self.admin_site, exc.args[0], opts=self.model._meta)


class _BadFilter(Exception):
    """A list's filter or search can't be applied; the message says why."""


class ReadOnlyInline(ZonedTimes, admin.TabularInline):
    extra = 0
    classes = ["arena-readonly"]
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
