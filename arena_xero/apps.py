from django.contrib.admin.apps import AdminConfig


class ArenaAdminConfig(AdminConfig):
    """Django's admin, with Arena's support console as the default site (arena_xero.admin)."""

    default_site = "arena_xero.admin.ArenaAdminSite"
