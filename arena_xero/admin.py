"""The Django admin as Arena's support console: branded, with a front page that says what support can do,
read-only by default, and open to staff only after a second factor (arena_xero.second_factor). Each app's
admin.py registers its models on this site."""

from django.contrib import admin

from .second_factor import StaffLoginView, second_factor_required


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


class ReadOnlyAdmin(admin.ModelAdmin):
    """A model shown, never changed here (for superusers too): billing changes only through
    payments.services, settings on the settings page, connections through the connect flow."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(admin.TabularInline):
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
